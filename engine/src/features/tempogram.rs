//! Autocorrelation tempogram, mirroring
//! `librosa.feature.tempogram(onset_envelope=onset, win_length, center=True, window="hann",
//! norm=inf)`: the onset envelope is padded by `win_length/2` on each side with a linear ramp
//! to zero, cut into `win_length`-frame windows at every frame, Hann-windowed,
//! autocorrelated (via FFT, as `librosa.autocorrelate`) and max-normalised per frame.

use std::sync::Arc;

use ndarray::{Array1, Array2};
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::stft::periodic_hann;
use crate::{Error, Result};

/// Tempogram extractor: owns both FFT plans, the window, the padded envelope and scratch.
pub struct Tempogram {
    win_length: usize,
    window: Vec<f32>,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    padded: Vec<f32>,
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    lags: Vec<f32>,
    scratch_forward: Vec<Complex<f32>>,
    scratch_inverse: Vec<Complex<f32>>,
}

impl Tempogram {
    /// Prepares a tempogram of `win_length` lags over an envelope of `frames` frames.
    pub fn new(win_length: usize, frames: usize) -> Self {
        // Zero-padding to ≥ 2·win_length − 1 makes the circular autocorrelation linear.
        let n_pad = 2 * win_length;
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(n_pad);
        let inverse = planner.plan_fft_inverse(n_pad);
        Self {
            win_length,
            window: periodic_hann(win_length),
            padded: vec![0.0; frames + 2 * (win_length / 2)],
            frame: forward.make_input_vec(),
            spectrum: forward.make_output_vec(),
            lags: inverse.make_output_vec(),
            scratch_forward: forward.make_scratch_vec(),
            scratch_inverse: inverse.make_scratch_vec(),
            forward,
            inverse,
        }
    }

    /// Writes the tempogram of `onset` (`[frames]`) into `out` (`[win_length, frames]`).
    pub fn apply(&mut self, onset: &Array1<f32>, out: &mut Array2<f32>) -> Result<()> {
        let frames = onset.len();
        let half = self.win_length / 2;
        // numpy.pad(mode="linear_ramp", end_values=0): ramps from 0 up to the edge values.
        let (first, last) = (onset[0] as f64, onset[frames - 1] as f64);
        for i in 0..half {
            self.padded[i] = (first * i as f64 / half as f64) as f32;
            self.padded[half + frames + i] = (last * (half - 1 - i) as f64 / half as f64) as f32;
        }
        for (p, &o) in self.padded[half..half + frames].iter_mut().zip(onset) {
            *p = o;
        }
        let n_pad = self.frame.len() as f32;
        for t in 0..frames {
            let segment = &self.padded[t..t + self.win_length];
            for ((f, &x), &w) in self.frame.iter_mut().zip(segment).zip(&self.window) {
                *f = x * w;
            }
            self.frame[self.win_length..].fill(0.0);
            self.forward
                .process_with_scratch(
                    &mut self.frame,
                    &mut self.spectrum,
                    &mut self.scratch_forward,
                )
                .map_err(|e| Error::Invalid(format!("FFT failed: {e}")))?;
            for c in self.spectrum.iter_mut() {
                *c = Complex::new(c.norm_sqr(), 0.0);
            }
            self.inverse
                .process_with_scratch(
                    &mut self.spectrum,
                    &mut self.lags,
                    &mut self.scratch_inverse,
                )
                .map_err(|e| Error::Invalid(format!("inverse FFT failed: {e}")))?;
            // Max-normalised here, while the frame's lags are contiguous: normalising the
            // finished tempogram column by column reads it across rows, at 5 % of indexing time.
            let lags = &mut self.lags[..self.win_length];
            let mut length = 0.0f32;
            for l in lags.iter_mut() {
                *l /= n_pad;
                length = length.max(l.abs());
            }
            // As librosa's `util.normalize`: a column whose norm is not a positive normal float
            // (silence) is left as it is.
            let scale = if length >= f32::MIN_POSITIVE {
                length
            } else {
                1.0
            };
            for (o, &l) in out.column_mut(t).iter_mut().zip(lags.iter()) {
                *o = l / scale;
            }
        }
        Ok(())
    }
}
