//! Onset strength envelope, mirroring
//! `librosa.onset.onset_strength(S=librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80),
//! lag=1, n_fft=512, hop_length=256)`: positive spectral flux of the dB mel spectrogram,
//! averaged over bands, shifted right by `lag + n_fft / (2·hop)` frames to undo the framing
//! delay of `center=True`.

use ndarray::{Array1, Array2, Zip};

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
        Zip::from(&mut self.db)
            .and(mel)
            .for_each(|d, &s| *d = 10.0 * s.max(AMIN).log10());
        let floor = self.db.fold(f32::NEG_INFINITY, |m, &v| m.max(v)) - TOP_DB;
        self.db.iter_mut().for_each(|d| *d = d.max(floor));

        let frames = onset.len();
        let bands = self.db.nrows() as f32;
        onset.fill(0.0);
        for t in self.shift..frames {
            // Flux between frames t−shift and t−shift+1 lands on frame t.
            let (prev, next) = (t - self.shift, t - self.shift + 1);
            let flux: f32 = self
                .db
                .column(next)
                .iter()
                .zip(self.db.column(prev))
                .map(|(&b, &a)| (b - a).max(0.0))
                .sum();
            onset[t] = flux / bands;
        }
    }
}
