//! Short-time Fourier transform power, mirroring
//! `np.abs(librosa.stft(y, n_fft, hop_length, window="hann", center=True, pad_mode="constant"))**2`.

use std::sync::Arc;

use ndarray::{Array2, ArrayView2};
use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use crate::{Error, Result};

/// A planned STFT: owns its FFT plan, analysis window and scratch buffers, so computing the
/// power spectrogram of a window allocates nothing.
pub struct Stft {
    n_fft: usize,
    hop: usize,
    fft: Arc<dyn RealToComplex<f32>>,
    /// Periodic Hann window (`scipy.signal.get_window("hann", n_fft, fftbins=True)`).
    window: Vec<f32>,
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// The power of every frame, frame-major `[frames, 1 + n_fft/2]`.
    power: Vec<f32>,
}

impl Stft {
    /// Plans an STFT of size `n_fft` with hop `hop` for signals of up to `frames` frames.
    pub fn new(n_fft: usize, hop: usize, frames: usize) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
        let window = periodic_hann(n_fft);
        Self {
            n_fft,
            hop,
            frame: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            power: vec![0.0; frames * (n_fft / 2 + 1)],
            fft,
            window,
        }
    }

    /// Number of frames `center=True` framing gives for `n` samples.
    pub fn frames(&self, n: usize) -> usize {
        1 + n / self.hop
    }

    /// Writes the power spectrogram of `x` into `out` (`[1 + n_fft/2, frames]`). The signal is
    /// centred by `n_fft/2` zeros on both sides, as librosa's `center=True` with
    /// `pad_mode="constant"`.
    pub fn power_into(&mut self, x: &[f32], out: &mut Array2<f32>) -> Result<()> {
        let frames = self.frames(x.len());
        let bins = self.n_fft / 2 + 1;
        if frames * bins > self.power.len() {
            return Err(Error::Invalid(format!(
                "{} samples make {frames} STFT frames; this STFT was planned for at most {}",
                x.len(),
                self.power.len() / bins
            )));
        }
        if out.dim() != (bins, frames) {
            return Err(Error::Invalid(format!(
                "STFT output is {:?}, expected {:?}",
                out.dim(),
                (bins, frames)
            )));
        }
        let pad = self.n_fft / 2;
        for t in 0..frames {
            // Sample range (in the unpadded signal) the frame covers, clipped to the signal;
            // the rest of the frame is the zero padding.
            let start = (t * self.hop) as isize - pad as isize;
            let lo = start.max(0) as usize;
            let hi = ((start + self.n_fft as isize) as usize).min(x.len());
            let offset = (lo as isize - start) as usize;
            self.frame.fill(0.0);
            for ((f, &s), &w) in self.frame[offset..offset + (hi - lo)]
                .iter_mut()
                .zip(&x[lo..hi])
                .zip(&self.window[offset..])
            {
                *f = s * w;
            }
            self.fft
                .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
                .map_err(|e| Error::Invalid(format!("FFT failed: {e}")))?;
            for (o, c) in self.power[t * bins..(t + 1) * bins]
                .iter_mut()
                .zip(&self.spectrum)
            {
                *o = c.norm_sqr();
            }
        }
        // Computed frame by frame; the spectrogram is bin-major.
        let power = ArrayView2::from_shape((frames, bins), &self.power[..frames * bins])
            .expect("`power` holds `frames` spectra");
        out.assign(&power.t());
        Ok(())
    }
}

/// Periodic Hann window of length `n`, `0.5 − 0.5·cos(2πk/n)` (scipy `fftbins=True`).
pub fn periodic_hann(n: usize) -> Vec<f32> {
    (0..n)
        .map(|k| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * k as f64 / n as f64).cos()) as f32)
        .collect()
}
