//! The engine's one error type. Every variant that concerns a file names it, so a message
//! printed by the CLI or shown in the plugin always says which file and what went wrong.

use std::path::PathBuf;

/// Errors raised by the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened or read.
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not audio in a container the decoder knows (or is empty/truncated).
    #[error("{path}: not a supported audio file: {reason}")]
    Format { path: PathBuf, reason: String },
    /// The container is fine but its codec cannot be decoded (e.g. Opus).
    #[error("{path}: audio codec {codec} is not supported (supported: PCM, FLAC, MP3, Vorbis)")]
    Codec { path: PathBuf, codec: String },
    /// The file holds no audio samples at all.
    #[error("{path}: contains no audio samples")]
    Empty { path: PathBuf },
    /// Decoding failed part-way through the stream.
    #[error("{path}: decoding failed: {reason}")]
    Decode { path: PathBuf, reason: String },
    /// A caller passed a buffer or parameter of the wrong size or value.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// ONNX Runtime is missing, the wrong version, or cannot run what was asked.
    #[error("{0}")]
    Runtime(String),
    /// A model file that cannot be used, and why.
    #[error("{path}: {reason}")]
    Model { path: PathBuf, reason: String },
    /// Writing an output file failed.
    #[error("{path}: cannot write: {reason}")]
    Write { path: PathBuf, reason: String },
    /// A reference library file is damaged (bad header, or a checksum or length that fails
    /// before the last record). The file is left exactly as it was.
    #[error(
        "{path}: the library file is damaged at byte {offset}: {reason}; the file was left unchanged"
    )]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    /// A reference library that this engine cannot use as it is: another model, another
    /// format version, or not a library at all.
    #[error("{path}: {reason}")]
    Library { path: PathBuf, reason: String },
}

/// Result alias used throughout the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;
