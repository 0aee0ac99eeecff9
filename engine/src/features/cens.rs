//! Chroma Energy Normalised Statistics, mirroring the post-processing inside
//! `librosa.feature.chroma_cens` applied to our chroma: L1 norm per frame, quantisation at
//! 0.4 / 0.2 / 0.1 / 0.05, Hann smoothing over time, L2 norm per frame.

use ndarray::Array2;

use super::chroma::normalize_columns;

/// Quantisation thresholds; each one exceeded adds 0.25 (librosa `QUANT_STEPS`/`QUANT_WEIGHTS`).
const QUANT_STEPS: [f32; 4] = [0.4, 0.2, 0.1, 0.05];

/// CENS post-processor: owns the smoothing window and a scratch copy of the quantised chroma.
pub struct Cens {
    /// Symmetric Hann window of `win_len_smooth + 2` points, summing to 1.
    smooth: Vec<f32>,
    quantised: Array2<f32>,
}

impl Cens {
    /// Prepares CENS for `frames` frames with a smoothing window of `win_len_smooth` frames.
    pub fn new(win_len_smooth: usize, frames: usize) -> Self {
        let m = win_len_smooth + 2;
        // scipy.signal.get_window("hann", m, fftbins=False): 0.5 − 0.5·cos(2πk/(m−1)).
        let window: Vec<f64> = (0..m)
            .map(|k| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * k as f64 / (m - 1) as f64).cos())
            .collect();
        let sum: f64 = window.iter().sum();
        Self {
            smooth: window.iter().map(|w| (w / sum) as f32).collect(),
            quantised: Array2::zeros((12, frames)),
        }
    }

    /// Writes the CENS of `chroma` (`[12, frames]`) into `cens` (same shape).
    pub fn apply(&mut self, chroma: &Array2<f32>, cens: &mut Array2<f32>) {
        self.quantised.assign(chroma);
        normalize_columns(&mut self.quantised, |c| c.iter().map(|v| v.abs()).sum());
        self.quantised.iter_mut().for_each(|v| {
            *v = QUANT_STEPS.iter().filter(|&&step| *v > step).count() as f32 * 0.25;
        });
        // Centred convolution along time with zeros outside (scipy.ndimage.convolve,
        // mode="constant"); the window is symmetric, so flipping it changes nothing.
        let half = self.smooth.len() / 2;
        for (out, q) in cens.rows_mut().into_iter().zip(self.quantised.rows()) {
            let out = out.into_slice().expect("CENS rows are contiguous");
            let q = q.to_slice().expect("quantised rows are contiguous");
            let frames = q.len();
            out.fill(0.0);
            for (j, &w) in self.smooth.iter().enumerate() {
                // out[t] += w · q[t + j − half] wherever that index exists.
                let (out_lo, q_lo) = if j < half {
                    (half - j, 0)
                } else {
                    (0, j - half)
                };
                let n = frames.saturating_sub(out_lo.max(q_lo));
                out[out_lo..out_lo + n]
                    .iter_mut()
                    .zip(&q[q_lo..q_lo + n])
                    .for_each(|(o, &v)| *o += w * v);
            }
        }
        normalize_columns(cens, |c| c.iter().map(|v| v * v).sum::<f32>().sqrt());
    }
}
