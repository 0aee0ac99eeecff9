//! The per-window feature front end of SPEC §1: one STFT feeds the mel spectrogram, the
//! chroma/CENS and the onset envelope, and the onset envelope feeds the tempogram.
//!
//! A [`FrontEnd`] is built once from a [`FrontEndConfig`] and owns every FFT plan, filterbank
//! and scratch buffer; [`FrontEnd::compute`] writes into a caller-owned [`Features`], so the
//! per-window loop allocates nothing.

pub mod cens;
pub mod chroma;
pub mod mel;
pub mod onset;
pub(crate) mod simd;
pub mod stft;
pub mod tempogram;

use ndarray::{Array1, Array2};

use crate::{Error, FrontEndConfig, Result};

/// All features of one 3 s window. Shapes are `[rows, frames]` with 259 frames by default.
#[derive(Clone)]
pub struct Features {
    /// STFT power, `[1 + n_fft/2, frames]`.
    pub power: Array2<f32>,
    /// Mel power spectrogram before compression, `[n_mels, frames]`.
    pub mel_power: Array2<f32>,
    /// Log-compressed mel `log10(1 + 10·S)`, `[n_mels, frames]` (not standardised).
    pub mel: Array2<f32>,
    /// Max-normalised chroma, row 0 = C, `[12, frames]`.
    pub chroma: Array2<f32>,
    /// CENS, `[12, frames]` (the model input pads it to 16 rows).
    pub cens: Array2<f32>,
    /// Onset strength, `[frames]`.
    pub onset: Array1<f32>,
    /// Autocorrelation tempogram, row = lag in frames, `[tempogram_win, frames]`.
    pub tempogram: Array2<f32>,
}

impl Features {
    /// Zeroed features shaped for `cfg`.
    pub fn new(cfg: &FrontEndConfig) -> Self {
        let frames = cfg.frames();
        Self {
            power: Array2::zeros((cfg.bins(), frames)),
            mel_power: Array2::zeros((cfg.n_mels, frames)),
            mel: Array2::zeros((cfg.n_mels, frames)),
            chroma: Array2::zeros((12, frames)),
            cens: Array2::zeros((12, frames)),
            onset: Array1::zeros(frames),
            tempogram: Array2::zeros((cfg.tempogram_win, frames)),
        }
    }
}

/// The feature extractor for one configuration.
pub struct FrontEnd {
    config: FrontEndConfig,
    stft: stft::Stft,
    mel: mel::MelFilterbank,
    chroma: chroma::ChromaFilterbank,
    cens: cens::Cens,
    onset: onset::Onset,
    tempogram: tempogram::Tempogram,
}

impl FrontEnd {
    /// Plans every transform and builds every filterbank for `config`.
    pub fn new(config: FrontEndConfig) -> Self {
        let frames = config.frames();
        Self {
            stft: stft::Stft::new(config.n_fft, config.hop, frames),
            mel: mel::MelFilterbank::new(config.sample_rate, config.n_fft, config.n_mels),
            chroma: chroma::ChromaFilterbank::new(config.sample_rate, config.n_fft),
            cens: cens::Cens::new(config.cens_smooth, frames),
            onset: onset::Onset::new(config.n_mels, frames, config.n_fft, config.hop),
            tempogram: tempogram::Tempogram::new(config.tempogram_win, frames),
            config,
        }
    }

    /// The configuration this front end computes.
    pub fn config(&self) -> &FrontEndConfig {
        &self.config
    }

    /// Computes all features of one window of exactly `window_samples` samples at the
    /// configured sample rate.
    pub fn compute(&mut self, window: &[f32], out: &mut Features) -> Result<()> {
        if window.len() != self.config.window_samples {
            return Err(Error::Invalid(format!(
                "a feature window has {} samples, expected {}",
                window.len(),
                self.config.window_samples
            )));
        }
        self.stft.power_into(window, &mut out.power)?;
        self.mel.apply(&out.power, &mut out.mel_power);
        out.mel.assign(&out.mel_power);
        mel::compress(&mut out.mel);
        self.chroma.apply(&out.power, &mut out.chroma);
        self.cens.apply(&out.chroma, &mut out.cens);
        self.onset.apply(&out.mel_power, &mut out.onset);
        self.tempogram.apply(&out.onset, &mut out.tempogram);
        Ok(())
    }
}
