//! The signal front end's parameters (SPEC §1). They travel with a model's contract, so the
//! engine computes exactly the features a model was trained on.

use serde::{Deserialize, Serialize};

/// Parameters of the feature front end. [`FrontEndConfig::default`] is SPEC §1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontEndConfig {
    /// Analysis sample rate in Hz (librosa `sr`).
    pub sample_rate: u32,
    /// FFT size of the STFT (librosa `n_fft`).
    pub n_fft: usize,
    /// Hop between STFT frames in samples (librosa `hop_length`).
    pub hop: usize,
    /// Number of Slaney mel bands.
    pub n_mels: usize,
    /// Samples in one analysis window (3 s).
    pub window_samples: usize,
    /// Autocorrelation window of the tempogram in frames (librosa `win_length`).
    pub tempogram_win: usize,
    /// Length of the Hann smoothing window of CENS in frames (librosa `win_len_smooth`).
    pub cens_smooth: usize,
}

impl Default for FrontEndConfig {
    fn default() -> Self {
        Self {
            sample_rate: 22_050,
            n_fft: 512,
            hop: 256,
            n_mels: 128,
            window_samples: 66_150,
            tempogram_win: 384,
            cens_smooth: 41,
        }
    }
}

impl FrontEndConfig {
    /// STFT frames per window with `center=True`: `1 + window_samples / hop` (259 by default).
    pub fn frames(&self) -> usize {
        1 + self.window_samples / self.hop
    }

    /// Frequency bins of the one-sided spectrum: `1 + n_fft / 2`.
    pub fn bins(&self) -> usize {
        1 + self.n_fft / 2
    }

    /// Window length in seconds.
    pub fn window_seconds(&self) -> f64 {
        self.window_samples as f64 / self.sample_rate as f64
    }
}
