//! Streaming decoding of an audio file to mono `f32` at the file's own sample rate.
//!
//! This is the first step of the front end (SPEC §1): it mirrors what
//! `librosa.load(path, sr=None, mono=True)` returns, one chunk at a time, so a ten-hour file
//! is processed in bounded memory. Resampling to the analysis rate is a separate step
//! ([`crate::resample`]); [`crate::window`] composes the two.
//!
//! [`Decoder`] is the contract (mono `f32`, native rate, chunks); [`open`] picks the backend.
//! [`SymphoniaDecoder`] reads WAV, AIFF, FLAC, MP3 and Ogg Vorbis with any channel count and
//! rate, and identifies every file; an MP3 stream is then decoded by [`Mp3Decoder`] (nanomp3),
//! which gives the same samples (within 2e-6) in 0.55–0.6× symphonia's time — MP3 decoding was
//! half the cost of analysing an MP3 file.
//!
//! Policy on bad input — nothing panics, every error names the file:
//! - a file that cannot be opened or read → [`Error::Io`];
//! - an empty file, a non-audio file, an unknown container → [`Error::Format`];
//! - a known container holding a codec we cannot decode (Opus in Ogg, ADPCM in WAV, …) →
//!   [`Error::Codec`] naming the codec;
//! - a stream that ends before yielding one sample → [`Error::Empty`] (or [`Error::Decode`] if
//!   packets were there but none decoded);
//! - a truncated file yields the audio that is there and then ends; the container's final
//!   incomplete packet is lost (for WAV/AIFF at most 1 152 frames). Packets the codec rejects as
//!   malformed are skipped and counted ([`Decoder::skipped_packets`]; nanomp3 resynchronises
//!   past malformed MP3 data without counting it);
//! - NaN and ±Inf samples become `0.0` and are counted ([`Decoder::non_finite_samples`]), so
//!   the caller can warn instead of propagating NaN into every feature.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use symphonia::core::audio::Channels;
use symphonia::core::codecs::audio::well_known::{
    CODEC_ID_ADPCM_G722, CODEC_ID_ADPCM_G726, CODEC_ID_ADPCM_G726LE, CODEC_ID_ADPCM_IMA_QT,
    CODEC_ID_ADPCM_IMA_WAV, CODEC_ID_ADPCM_MS, CODEC_ID_MP1, CODEC_ID_MP2, CODEC_ID_OPUS,
    CODEC_ID_SPEEX,
};
use symphonia::core::codecs::audio::{
    AudioCodecId, AudioDecoder, AudioDecoderOptions, CODEC_ID_NULL_AUDIO,
};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::well_known::FORMAT_ID_MP3;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use crate::error::{Error, Result};

/// What the container says about a file, plus what decoding established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioInfo {
    /// The file this describes (used in every error message).
    pub path: PathBuf,
    /// Native sample rate in Hz, from the first decoded packet.
    pub sample_rate: u32,
    /// Channel count of the first decoded packet (before the downmix to mono).
    pub channels: usize,
    /// Frames per channel as declared by the container, if it declares them (a truncated file
    /// declares more than it holds; a VBR MP3 without a Xing header declares none).
    pub frames: Option<u64>,
    /// Codec short name as symphonia reports it (`pcm_s16le`, `flac`, `mp3`, `vorbis`, …).
    pub codec: String,
}

/// A source of mono `f32` audio at its native rate, delivered in chunks.
///
/// The contract every backend keeps (as bliss-rs's `Decoder` trait does): samples are the mean
/// of the channels (librosa `to_mono`), finite, and at [`AudioInfo::sample_rate`]; chunks have
/// any length ≥ 1; `Ok(None)` marks the end.
pub trait Decoder {
    /// The file's description.
    fn info(&self) -> &AudioInfo;
    /// The next chunk of mono samples, or `None` at the end of the stream. The slice borrows
    /// the decoder's own buffer, which is reused for the next chunk.
    fn next_chunk(&mut self) -> Result<Option<&[f32]>>;
    /// How many input samples (per channel, before the downmix) were NaN or ±Inf and were
    /// replaced by `0.0` so far.
    fn non_finite_samples(&self) -> u64;
    /// How many packets were skipped because the codec rejected them as malformed.
    fn skipped_packets(&self) -> u64;
}

/// Opens `path` with the backend for its format: symphonia probes it by content and rejects
/// what is not decodable audio (see [`SymphoniaDecoder::open`] for the errors); a native MP3
/// stream is handed to [`Mp3Decoder`], anything else stays with symphonia.
pub fn open(path: &Path) -> Result<Box<dyn Decoder>> {
    let probed = SymphoniaDecoder::open(path)?;
    if probed.format.format_info().format == FORMAT_ID_MP3 {
        Ok(Box::new(Mp3Decoder::open(path, probed.info)?))
    } else {
        Ok(Box::new(probed))
    }
}

/// [`Decoder`] backed by symphonia: probes the container by content (with the extension as a
/// hint), decodes the first audio track and downmixes each packet to mono.
///
/// Buffers (the interleaved packet and the mono chunk) are reused; after the first packets no
/// allocation happens on our side. (symphonia itself allocates each packet's payload.)
pub struct SymphoniaDecoder {
    info: AudioInfo,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    /// The current packet's samples, converted to `f32` and interleaved.
    interleaved: Vec<f32>,
    /// The current mono chunk.
    mono: Vec<f32>,
    /// `open` decodes the first chunk to learn the real rate/channels and to reject empty
    /// streams early; it is handed out by the first `next_chunk`.
    primed: bool,
    done: bool,
    frames_decoded: u64,
    non_finite: u64,
    skipped: u64,
    last_skip_reason: Option<&'static str>,
}

impl SymphoniaDecoder {
    /// Opens `path`, finds its first audio track and decodes up to the first audio, so that a
    /// file without audio fails here rather than later.
    pub fn open(path: &Path) -> Result<Self> {
        let io_err = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        if meta.is_dir() {
            return Err(io_err(std::io::ErrorKind::IsADirectory.into()));
        }
        if meta.len() == 0 {
            return Err(format_err(path, "the file is empty (0 bytes)".into()));
        }
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let format = symphonia::default::get_probe()
            .probe(
                &hint,
                mss,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| probe_error(path, e))?;

        let track = format
            .default_track(TrackType::Audio)
            .or_else(|| format.first_track(TrackType::Audio))
            .ok_or_else(|| format_err(path, "no audio track".into()))?;
        let (track_id, frames) = (track.id, track.num_frames);
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| format_err(path, "audio track without codec parameters".into()))?;
        let codecs = symphonia::default::get_codecs();
        let codec = codecs
            .get_audio_decoder(params.codec)
            .ok_or_else(|| Error::Codec {
                path: path.to_path_buf(),
                codec: codec_name(params.codec),
            })?
            .codec
            .info
            .short_name;
        let decoder = codecs
            .make_audio_decoder(params, &AudioDecoderOptions::default())
            .map_err(|e| Error::Codec {
                path: path.to_path_buf(),
                codec: format!("{codec} ({e})"),
            })?;
        let info = AudioInfo {
            path: path.to_path_buf(),
            sample_rate: params.sample_rate.unwrap_or(0),
            channels: params.channels.as_ref().map_or(0, Channels::count),
            frames,
            codec: codec.to_string(),
        };

        let mut this = Self {
            info,
            format,
            decoder,
            track_id,
            interleaved: Vec::new(),
            mono: Vec::new(),
            primed: false,
            done: false,
            frames_decoded: 0,
            non_finite: 0,
            skipped: 0,
            last_skip_reason: None,
        };
        this.primed = this.decode_next()?;
        if !this.primed {
            return Err(this.no_audio_error());
        }
        Ok(this)
    }

    /// Decodes packets until one yields samples; fills `self.mono` and returns `true`, or
    /// returns `false` at the end of the stream.
    fn decode_next(&mut self) -> Result<bool> {
        while !self.done {
            let packet = match self.format.next_packet() {
                Ok(Some(packet)) => packet,
                // ResetRequired: a chained Ogg stream starts a new logical stream; we analyse
                // the first one only. Any other container error after the header (truncated
                // or corrupt tail) ends the stream with the audio read so far.
                Ok(None) | Err(SymError::ResetRequired) => break,
                Err(SymError::IoError(e)) if e.kind() != std::io::ErrorKind::UnexpectedEof => {
                    return Err(Error::Io {
                        path: self.info.path.clone(),
                        source: e,
                    });
                }
                Err(_) => break,
            };
            if packet.track_id != self.track_id {
                continue;
            }
            let buf = match self.decoder.decode(&packet) {
                Ok(buf) => buf,
                Err(SymError::DecodeError(reason)) => {
                    self.skipped += 1;
                    self.last_skip_reason = Some(reason);
                    continue;
                }
                Err(SymError::IoError(_)) => {
                    self.skipped += 1;
                    self.last_skip_reason = Some("packet ended early");
                    continue;
                }
                Err(e) => return Err(decode_err(&self.info.path, e.to_string())),
            };
            if buf.frames() == 0 {
                continue;
            }
            let rate = buf.spec().rate();
            if self.frames_decoded == 0 {
                self.info.sample_rate = rate;
                self.info.channels = buf.spec().channels().count();
            } else if rate != self.info.sample_rate {
                let reason = format!(
                    "the sample rate changes mid-stream ({} Hz → {rate} Hz)",
                    self.info.sample_rate
                );
                return Err(decode_err(&self.info.path, reason));
            }
            let channels = buf.num_planes();
            if channels == 0 {
                continue;
            }
            buf.copy_to_vec_interleaved::<f32>(&mut self.interleaved);
            self.non_finite += downmix(&self.interleaved, channels, &mut self.mono);
            self.frames_decoded += self.mono.len() as u64;
            return Ok(true);
        }
        self.done = true;
        Ok(false)
    }

    /// The error for a stream that ended before any sample: `Empty`, unless packets were there
    /// and all failed to decode.
    fn no_audio_error(&self) -> Error {
        match self.last_skip_reason {
            Some(reason) => decode_err(
                &self.info.path,
                format!(
                    "none of {} packets could be decoded ({reason})",
                    self.skipped
                ),
            ),
            None => Error::Empty {
                path: self.info.path.clone(),
            },
        }
    }
}

impl Decoder for SymphoniaDecoder {
    fn info(&self) -> &AudioInfo {
        &self.info
    }

    fn next_chunk(&mut self) -> Result<Option<&[f32]>> {
        let ready = std::mem::take(&mut self.primed) || self.decode_next()?;
        Ok(ready.then_some(self.mono.as_slice()))
    }

    fn non_finite_samples(&self) -> u64 {
        self.non_finite
    }

    fn skipped_packets(&self) -> u64 {
        self.skipped
    }
}

/// [`Decoder`] for native MP3 streams, backed by nanomp3 (a Rust port of minimp3): the same
/// samples as symphonia's MP3 decoder within 2e-6, encoder delay and padding trimmed alike
/// (LAME/Xing tag), in 0.55–0.6× the time (`engine/benches/analysis.rs`, breakdown line).
///
/// Built by [`open`] after symphonia has identified the file. A change of sample rate or channel
/// count mid-stream — also what the torn last frame of a truncated file looks like — ends the
/// stream with the audio decoded so far, as symphonia does for a chained Ogg stream.
pub struct Mp3Decoder {
    info: AudioInfo,
    reader: nanomp3::Reader<BufReader<File>, f32>,
    /// The current mono chunk (one MP3 frame, 1 152 samples).
    mono: Vec<f32>,
    non_finite: u64,
}

impl Mp3Decoder {
    /// Opens `path`, described by `info` (from symphonia's probe), for decoding from its start.
    pub fn open(path: &Path, info: AudioInfo) -> Result<Self> {
        let file = File::open(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // No scan for the length: one pass over the file, reading as it decodes.
        let options = nanomp3::Options::default().skip_scan(true);
        let reader = nanomp3::Reader::with_options(BufReader::new(file), options)
            .map_err(|e| mp3_error(path, e))?;
        let channels = reader.channels().map_or(0, |c| c.num() as usize);
        if (channels, reader.sample_rate()) != (info.channels, info.sample_rate) {
            let reason = format!(
                "the MP3 decoders disagree on the stream: {channels} channels at {} Hz \
                 (nanomp3) vs {} channels at {} Hz (symphonia)",
                reader.sample_rate(),
                info.channels,
                info.sample_rate
            );
            return Err(decode_err(path, reason));
        }
        Ok(Self {
            info,
            reader,
            mono: Vec::with_capacity(nanomp3::MAX_SAMPLES_PER_FRAME),
            non_finite: 0,
        })
    }
}

impl Decoder for Mp3Decoder {
    fn info(&self) -> &AudioInfo {
        &self.info
    }

    fn next_chunk(&mut self) -> Result<Option<&[f32]>> {
        // Rate and channel count cannot change: nanomp3 reports that as `FormatChanged`.
        loop {
            match self.reader.read_frame() {
                Ok(Some([])) => continue,
                Ok(Some(frame)) => {
                    self.non_finite += downmix(frame, self.info.channels, &mut self.mono);
                    return Ok(Some(&self.mono));
                }
                Ok(None) | Err(nanomp3::Error::FormatChanged) => return Ok(None),
                Err(e) => return Err(mp3_error(&self.info.path, e)),
            }
        }
    }

    fn non_finite_samples(&self) -> u64 {
        self.non_finite
    }

    fn skipped_packets(&self) -> u64 {
        0
    }
}

/// Mean of the channels of `interleaved` (frames of `channels` samples) into `mono` (resized
/// to the frame count), replacing non-finite input samples by `0.0`; returns how many were
/// replaced.
///
/// Mirrors librosa `to_mono` (`np.mean(y, axis=0)` on `float32`): the channels are summed in
/// order in `f32`, then divided by the channel count, so a mono file passes through bit-exact
/// and a stereo one gives exactly `(l + r) / 2`.
fn downmix(interleaved: &[f32], channels: usize, mono: &mut Vec<f32>) -> u64 {
    mono.clear();
    let n = channels as f32;
    match channels {
        1 => mono.extend_from_slice(interleaved),
        2 => mono.extend(interleaved.chunks_exact(2).map(|f| (f[0] + f[1]) / n)),
        _ => mono.extend(
            interleaved
                .chunks_exact(channels)
                .map(|f| f.iter().fold(0.0, |sum, &x| sum + x) / n),
        ),
    }
    // A non-finite input makes its frame's mean non-finite, so one scan finds the rare frames
    // to redo with those inputs as 0.0 (and finite inputs near f32::MAX whose sum overflowed:
    // kept finite as 0.0).
    if mono.iter().all(|m| m.is_finite()) {
        return 0;
    }
    let mut non_finite = 0;
    for (m, frame) in mono.iter_mut().zip(interleaved.chunks_exact(channels)) {
        if !m.is_finite() {
            non_finite += frame.iter().filter(|x| !x.is_finite()).count() as u64;
            let sum = frame
                .iter()
                .filter(|x| x.is_finite())
                .fold(0.0f32, |sum, &x| sum + x);
            *m = if sum.is_finite() { sum / n } else { 0.0 };
        }
    }
    non_finite
}

/// Maps a probe failure: an unreadable file is `Io`; anything else (no known container, the
/// header runs past the end of the file, a malformed header) means "not audio we know".
fn probe_error(path: &Path, e: SymError) -> Error {
    match e {
        SymError::IoError(source) if source.kind() != std::io::ErrorKind::UnexpectedEof => {
            Error::Io {
                path: path.to_path_buf(),
                source,
            }
        }
        SymError::IoError(_) => format_err(
            path,
            "the file ends before its first audio (truncated?)".into(),
        ),
        SymError::Unsupported(what) => format_err(path, format!("unknown container ({what})")),
        other => format_err(path, other.to_string()),
    }
}

/// A readable name for a codec symphonia knows by id but cannot decode in this build.
fn codec_name(id: AudioCodecId) -> String {
    let name = match id {
        CODEC_ID_OPUS => "opus",
        CODEC_ID_SPEEX => "speex",
        CODEC_ID_MP1 => "mp1",
        CODEC_ID_MP2 => "mp2",
        CODEC_ID_ADPCM_MS => "adpcm_ms",
        CODEC_ID_ADPCM_IMA_WAV => "adpcm_ima_wav",
        CODEC_ID_ADPCM_IMA_QT => "adpcm_ima_qt",
        CODEC_ID_ADPCM_G722 | CODEC_ID_ADPCM_G726 | CODEC_ID_ADPCM_G726LE => "adpcm_g72x",
        CODEC_ID_NULL_AUDIO => "unknown",
        other => return format!("codec id {other}"),
    };
    name.to_string()
}

/// Maps a nanomp3 error: reading failed (`Io`), or anything else the decoder reports.
fn mp3_error(path: &Path, e: nanomp3::Error) -> Error {
    match e {
        nanomp3::Error::Io(source) => Error::Io {
            path: path.to_path_buf(),
            source,
        },
        other => decode_err(path, other.to_string()),
    }
}

fn format_err(path: &Path, reason: String) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        reason,
    }
}

fn decode_err(path: &Path, reason: String) -> Error {
    Error::Decode {
        path: path.to_path_buf(),
        reason,
    }
}
