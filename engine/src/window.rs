//! The analysis windows of a file: decode → resample → non-overlapping windows.
//!
//! SPEC §1: windows of `cfg.window_samples` (3 s = 66 150 samples) at `cfg.sample_rate`
//! (22 050 Hz), back to back from sample 0, each analysed independently. The last partial
//! window is dropped; a file shorter than one window (but with at least one sample) is
//! zero-padded to exactly one window, so every decodable file yields at least one window.
//!
//! Memory stays bounded by one window plus one decoded packet, whatever the file's length.

use std::path::Path;

use crate::config::FrontEndConfig;
use crate::decode::{self, AudioInfo, Decoder};
use crate::error::{Error, Result};
use crate::resample::StreamResampler;

/// Reads a file as a sequence of analysis windows at the analysis rate.
pub struct WindowReader {
    decoder: Box<dyn Decoder>,
    resampler: StreamResampler,
    /// Resampled samples not yet handed out are `buf[pos..]`.
    buf: Vec<f32>,
    pos: usize,
    window: usize,
    windows_out: u64,
    samples_read: u64,
    /// The decoder is exhausted and the resampler flushed.
    ended: bool,
}

impl WindowReader {
    /// Opens `path` with the backend for its format (see [`decode::open`] for the errors).
    pub fn open(path: &Path, cfg: &FrontEndConfig) -> Result<Self> {
        Self::new(decode::open(path)?, cfg)
    }

    /// Windows from any [`Decoder`] backend.
    pub fn new(decoder: Box<dyn Decoder>, cfg: &FrontEndConfig) -> Result<Self> {
        if cfg.window_samples == 0 {
            return Err(Error::Invalid("window_samples must be > 0".into()));
        }
        let info = decoder.info();
        let resampler =
            StreamResampler::new(info.sample_rate, cfg.sample_rate).map_err(|e| Error::Format {
                path: info.path.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            decoder,
            resampler,
            buf: Vec::with_capacity(cfg.window_samples),
            pos: 0,
            window: cfg.window_samples,
            windows_out: 0,
            samples_read: 0,
            ended: false,
        })
    }

    /// The file's description (native rate, channels, codec, declared length).
    pub fn info(&self) -> &AudioInfo {
        self.decoder.info()
    }

    /// Fills `out` (exactly `window_samples` long) with the next window and returns `true`, or
    /// returns `false` when no window is left.
    pub fn next_window(&mut self, out: &mut [f32]) -> Result<bool> {
        if out.len() != self.window {
            return Err(Error::Invalid(format!(
                "window buffer holds {} samples, expected {}",
                out.len(),
                self.window
            )));
        }
        while self.buf.len() - self.pos < self.window && !self.ended {
            self.fill()?;
        }
        let available = &self.buf[self.pos..];
        if available.len() >= self.window {
            out.copy_from_slice(&available[..self.window]);
            self.pos += self.window;
        } else if self.windows_out == 0 && !available.is_empty() {
            out[..available.len()].copy_from_slice(available);
            out[available.len()..].fill(0.0);
            self.pos = self.buf.len();
        } else {
            return Ok(false);
        }
        self.windows_out += 1;
        Ok(true)
    }

    /// Input samples (per channel) that were NaN or ±Inf and were replaced by `0.0` so far.
    pub fn non_finite_samples(&self) -> u64 {
        self.decoder.non_finite_samples()
    }

    /// Packets skipped as malformed so far.
    pub fn skipped_packets(&self) -> u64 {
        self.decoder.skipped_packets()
    }

    /// Samples at the analysis rate produced so far, including those of a dropped partial
    /// last window and excluding zero padding; after the last window it is the file's length
    /// at the analysis rate (`samples_read / sample_rate` is its duration).
    pub fn samples_read(&self) -> u64 {
        self.samples_read
    }

    /// Decodes one chunk (or flushes at the end) into `buf`, first dropping what was handed out.
    fn fill(&mut self) -> Result<()> {
        self.buf.drain(..self.pos);
        self.pos = 0;
        let before = self.buf.len();
        let result = match self.decoder.next_chunk()? {
            Some(chunk) => self.resampler.process(chunk, &mut self.buf),
            None => {
                self.ended = true;
                self.resampler.finish(&mut self.buf)
            }
        };
        result.map_err(|e| Error::Decode {
            path: self.decoder.info().path.clone(),
            reason: e.to_string(),
        })?;
        self.samples_read += (self.buf.len() - before) as u64;
        Ok(())
    }
}
