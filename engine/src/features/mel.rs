//! Slaney mel filterbank and the paper's log compression, mirroring
//! `librosa.feature.melspectrogram(S=power, n_mels, htk=False, norm="slaney")` and
//! `log10(1 + 10·S)` (paper §3.1).

use ndarray::Array2;
use wide::f32x8;

use super::simd;

/// A sparse Slaney-normalised mel filterbank (`librosa.filters.mel(htk=False, norm="slaney")`).
/// Each band is stored as its first non-zero FFT bin and its weights, since a triangle covers
/// only a few bins: applying it costs a few hundred multiply-adds per frame instead of 33 000.
pub struct MelFilterbank {
    bands: Vec<(usize, Vec<f32>)>,
}

impl MelFilterbank {
    /// Builds `n_mels` bands between 0 Hz and Nyquist for an `n_fft`-point FFT at `sample_rate`.
    pub fn new(sample_rate: u32, n_fft: usize, n_mels: usize) -> Self {
        let sr = sample_rate as f64;
        let bins = n_fft / 2 + 1;
        let fft_freqs: Vec<f64> = (0..bins).map(|k| k as f64 * sr / n_fft as f64).collect();
        let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(sr / 2.0));
        let mel_f: Vec<f64> = (0..n_mels + 2)
            .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
            .collect();
        let bands = (0..n_mels)
            .map(|m| {
                let (left, centre, right) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
                let enorm = 2.0 / (right - left);
                // librosa stores the triangle in float32, then scales it by the float64 norm.
                let weights: Vec<f32> = fft_freqs
                    .iter()
                    .map(|&f| {
                        let lower = (f - left) / (centre - left);
                        let upper = (right - f) / (right - centre);
                        let tri = lower.min(upper).max(0.0) as f32;
                        (tri as f64 * enorm) as f32
                    })
                    .collect();
                let first = weights.iter().position(|&w| w != 0.0).unwrap_or(0);
                let last = weights
                    .iter()
                    .rposition(|&w| w != 0.0)
                    .map_or(first, |l| l + 1);
                (first, weights[first..last].to_vec())
            })
            .collect();
        Self { bands }
    }

    /// Writes the mel power spectrogram `weights · power` into `mel` (`[n_mels, frames]`).
    pub fn apply(&self, power: &Array2<f32>, mel: &mut Array2<f32>) {
        for (row, (first, weights)) in mel.rows_mut().into_iter().zip(&self.bands) {
            let row = row.into_slice().expect("mel rows are contiguous");
            row.fill(0.0);
            for (k, &w) in weights.iter().enumerate() {
                let bin = power.row(first + k);
                let bin = bin.as_slice().expect("power rows are contiguous");
                row.iter_mut().zip(bin).for_each(|(m, &p)| *m += w * p);
            }
        }
    }
}

/// `log10(1 + 10·S)`, the paper's mel compression, applied in place.
pub fn compress(mel: &mut Array2<f32>) {
    let data = mel.as_slice_mut().expect("mel is contiguous");
    simd::map_in_place(data, |v| {
        simd::log10(v * f32x8::splat(10.0) + f32x8::splat(1.0))
    });
}

/// Slaney's mel scale (librosa `htk=False`): linear below 1 kHz with 3 bands per 200 Hz,
/// logarithmic above with 27 bands per factor 6.4.
const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

/// Slaney's hz→mel (librosa `hz_to_mel(htk=False)`).
fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ {
        MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step()
    } else {
        hz / F_SP
    }
}

/// Inverse of [`hz_to_mel`] (librosa `mel_to_hz(htk=False)`).
fn mel_to_hz(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL {
        MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp()
    } else {
        F_SP * mel
    }
}
