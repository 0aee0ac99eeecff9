//! Onset strength envelope, mirroring
//! `librosa.onset.onset_strength(S=librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80),
//! lag=1, n_fft=512, hop_length=256)`: positive spectral flux of the dB mel spectrogram,
//! averaged over bands, shifted right by `lag + n_fft / (2·hop)` frames to undo the framing
//! delay of `center=True`.

use ndarray::{Array1, Array2};
use wide::f32x8;

use super::simd;

const AMIN: f32 = 1e-10;
const TOP_DB: f32 = 80.0;

/// Onset-strength extractor: owns the dB mel scratch buffer.
pub struct Onset {
    /// Leading zero frames: lag (1) plus the centring shift `n_fft / (2·hop)`.
    shift: usize,
    db: Array2<f32>,
}

impl Onset {
    /// Prepares onset strength for `[n_mels, frames]` mel spectrograms of an `n_fft`/`hop` STFT.
    pub fn new(n_mels: usize, frames: usize, n_fft: usize, hop: usize) -> Self {
        Self {
            shift: 1 + n_fft / (2 * hop),
            db: Array2::zeros((n_mels, frames)),
        }
    }

    /// Writes the onset envelope of the mel *power* spectrogram `mel` into `onset` (`[frames]`).
    pub fn apply(&mut self, mel: &Array2<f32>, onset: &mut Array1<f32>) {
        // librosa.power_to_db with ref 1.0: 10·log10(max(amin, S)), floored at max − top_db.
        self.db.assign(mel);
        let db = self.db.as_slice_mut().expect("dB mel is contiguous");
        simd::map_in_place(db, |s| {
            simd::log10(s.max(f32x8::splat(AMIN))) * f32x8::splat(10.0)
        });
        let floor = self.db.fold(f32::NEG_INFINITY, |m, &v| m.max(v)) - TOP_DB;
        self.db.iter_mut().for_each(|d| *d = d.max(floor));

        let frames = onset.len();
        onset.fill(0.0);
        let onset = onset.as_slice_mut().expect("onset is contiguous");
        for band in self.db.rows() {
            let band = band.to_slice().expect("dB mel rows are contiguous");
            // Flux between frames t−shift and t−shift+1 lands on frame t.
            for (o, pair) in onset[self.shift..].iter_mut().zip(band.windows(2)) {
                *o += (pair[1] - pair[0]).max(0.0);
            }
        }
        let bands = self.db.nrows() as f32;
        onset[self.shift..frames]
            .iter_mut()
            .for_each(|o| *o /= bands);
    }
}
