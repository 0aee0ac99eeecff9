//! The trainer's error type. Variants that concern a file name it.

use std::path::PathBuf;

/// Errors raised by the dataset builder.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A JSON or CSV file does not have the expected content.
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    /// A MIDI file cannot be rendered.
    #[error("{path}: MIDI: {reason}")]
    Midi { path: PathBuf, reason: String },
    /// The SoundFont cannot be found or loaded.
    #[error("SoundFont: {0}")]
    SoundFont(String),
    /// A feature cache file is not one this version reads.
    #[error("{path}: feature cache: {reason}")]
    Cache { path: PathBuf, reason: String },
    /// A training checkpoint or saved model cannot be read or written.
    #[error("{path}: checkpoint: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    /// ONNX export failed.
    #[error("ONNX export: {0}")]
    Export(String),
    /// A Debian package of the real-music corpus is missing, has another version than the
    /// pinned one, or cannot be unpacked.
    #[error("package {package}: {reason}")]
    Package { package: String, reason: String },
    /// An external tool (apt-get, dpkg-deb, unzip, openmpt123, rubberband) is missing or failed.
    #[error("{tool}: {reason}")]
    Tool { tool: String, reason: String },
    /// An argument or label value is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The engine failed (decoding, features).
    #[error(transparent)]
    Engine(#[from] kindred_engine::Error),
}

/// Result alias of the trainer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
