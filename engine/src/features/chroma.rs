//! Chromagram from the STFT power, mirroring
//! `librosa.feature.chroma_stft(S=power, sr, n_fft, tuning=0.0)` with its default
//! `librosa.filters.chroma` (ctroct 5, octwidth 2, L2-normalised columns, C first) and
//! max-normalisation per frame.
//!
//! Tuning is fixed at 0 (A4 = 440 Hz): librosa would estimate it per call, which at
//! n_fft 512 is noise (SPEC §1).

use ndarray::{Array2, Axis};

/// The 12 × (1 + n_fft/2) chroma filterbank.
pub struct ChromaFilterbank {
    weights: Array2<f32>,
}

impl ChromaFilterbank {
    /// Builds the filterbank of `librosa.filters.chroma(sr, n_fft, n_chroma=12, tuning=0)`.
    pub fn new(sample_rate: u32, n_fft: usize) -> Self {
        const N_CHROMA: usize = 12;
        const CTROCT: f64 = 5.0;
        const OCTWIDTH: f64 = 2.0;
        let n = N_CHROMA as f64;
        let sr = sample_rate as f64;
        // Fractional chroma bin of every FFT bin but DC (A440/16 is the reference, octave 0).
        let mut frqbins: Vec<f64> = (1..n_fft)
            .map(|k| n * (k as f64 * sr / n_fft as f64 / (440.0 / 16.0)).log2())
            .collect();
        // DC gets a made-up value 1.5 octaves below bin 1, as librosa does.
        frqbins.insert(0, frqbins[0] - 1.5 * n);
        let widths: Vec<f64> = frqbins
            .windows(2)
            .map(|w| (w[1] - w[0]).max(1.0))
            .chain(std::iter::once(1.0))
            .collect();
        let half = (n / 2.0).round();
        let bins = n_fft / 2 + 1;
        let mut full = Array2::<f64>::zeros((N_CHROMA, n_fft));
        for (k, (&fb, &width)) in frqbins.iter().zip(&widths).enumerate() {
            for c in 0..N_CHROMA {
                let d = (fb - c as f64 + half + 10.0 * n).rem_euclid(n) - half;
                full[[c, k]] = (-0.5 * (2.0 * d / width).powi(2)).exp();
            }
            let norm = full.column(k).iter().map(|v| v * v).sum::<f64>().sqrt();
            let octave_weight = (-0.5 * ((fb / n - CTROCT) / OCTWIDTH).powi(2)).exp();
            if norm > f64::MIN_POSITIVE {
                full.column_mut(k).mapv_inplace(|v| v / norm);
            }
            full.column_mut(k).mapv_inplace(|v| v * octave_weight);
        }
        // Start the rows at C instead of A (librosa `base_c=True`): roll by −3. The Gaussian
        // tails fall to denormal floats, which cost a hundred cycles each and contribute
        // nothing at f32 precision: weights below 1e-10 of the largest are dropped.
        let largest = full.fold(0.0f64, |m, &v| m.max(v));
        let weights = Array2::from_shape_fn((N_CHROMA, bins), |(c, k)| {
            let w = full[[(c + 3) % N_CHROMA, k]];
            if w < 1e-10 * largest { 0.0 } else { w as f32 }
        });
        Self { weights }
    }

    /// Writes the max-normalised chromagram of `power` into `chroma` (`[12, frames]`).
    pub fn apply(&self, power: &Array2<f32>, chroma: &mut Array2<f32>) {
        for (row, weights) in chroma.rows_mut().into_iter().zip(self.weights.rows()) {
            let row = row.into_slice().expect("chroma rows are contiguous");
            row.fill(0.0);
            for (&w, bin) in weights.iter().zip(power.rows()).filter(|(w, _)| **w != 0.0) {
                let bin = bin.to_slice().expect("power rows are contiguous");
                row.iter_mut().zip(bin).for_each(|(c, &p)| *c += w * p);
            }
        }
        normalize_columns(chroma, |c| c.fold(0.0f32, |m, v| m.max(v.abs())));
    }
}

/// Divides each column by its norm, leaving columns whose norm is below the smallest positive
/// float untouched — librosa `util.normalize` with its default `threshold`, so silent frames
/// stay zero instead of becoming NaN.
pub fn normalize_columns(x: &mut Array2<f32>, norm: impl Fn(ndarray::ArrayView1<f32>) -> f32) {
    for mut column in x.axis_iter_mut(Axis(1)) {
        let length = norm(column.view());
        if length >= f32::MIN_POSITIVE {
            column.iter_mut().for_each(|v| *v /= length);
        }
    }
}
