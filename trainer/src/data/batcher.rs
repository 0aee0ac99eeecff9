//! Batches of windows for training: the tracks of one split with their labels and feature
//! caches, a label-balanced sampler, and the assembly of `[B, 1, rows, 259]` input tensors.
//!
//! The sampler builds a batch from anchor/positive pairs: pair *k* serves dimension
//! `k mod dims`; for a categorical dimension it draws a class uniformly (among classes with two
//! or more tracks), then a track of that class; for tempo and key it draws a track with a known
//! label and at least one positive. The positive is a random other track that is a positive of
//! the anchor in that dimension; each track contributes a random window. So every dimension has
//! positives in every batch (given a batch of at least two pairs per dimension), classes are
//! balanced, and the other pairs provide the negatives.
//!
//! Mixed data: when the split holds both synthetic and real tracks, each pair of a dimension
//! that both kinds are labelled in (genre; tempo and key, relative for real tracks) draws its
//! anchor from the real tracks with probability `real_fraction` (a training config value),
//! else from the synthetic ones; its positive follows the dimension's rule, so a real tempo or
//! key anchor gets a copy of its own passage. Relative labels compare only inside a passage
//! group, and a random batch almost never holds a third copy of the same passage, so such a
//! pair brings one of its group's negatives along (a triplet): without it, real tempo and key
//! pairs would have no negative and teach nothing. Real tracks have no mood, instrument or era:
//! they are never drawn for those dimensions, and mining skips them there (masked).

use std::path::Path;

use burn::prelude::*;
use rand::Rng;

use super::cache::FeatureCache;
use super::dataset::{DatasetFile, Source};
use super::plan::Split;
use super::triplets::{Label, Labels, Vocabulary, negative, positive};
use crate::model::{CENS_ROWS, FRAMES, MEL_ROWS, TEMPOGRAM_ROWS};
use crate::{Error, Result};

/// Default probability of drawing a pair from real recordings (see the module doc).
pub const DEFAULT_REAL_FRACTION: f64 = 0.5;

/// One track of a split.
pub struct Track {
    pub id: String,
    pub labels: Labels,
    pub cache: FeatureCache,
}

/// The tracks of one split, with the positives of each track per dimension.
pub struct TrackSet {
    pub tracks: Vec<Track>,
    /// `positives[d][i]`: tracks that are positives of track `i` in dimension `d`.
    positives: Vec<Vec<Vec<usize>>>,
    /// `group_negatives[d][i]`: for a track with a relative label in dimension `d`, the
    /// negatives of its passage group (empty otherwise: any other batch item may be one).
    group_negatives: Vec<Vec<Vec<usize>>>,
    /// `classes[d]`: for categorical dimensions, the tracks of each class with ≥ 2 tracks.
    classes: Vec<Vec<Vec<usize>>>,
    /// Tracks with at least one positive, per dimension.
    anchors: Vec<Vec<usize>>,
    /// Whether each track is a real recording.
    real: Vec<bool>,
    /// Probability that a pair of a dimension labelled in both kinds is drawn from real tracks.
    real_fraction: f64,
    dims: usize,
}

/// An item of a batch: track index and window index.
pub type WindowRef = (usize, usize);

/// The model inputs of a batch, on the training device.
pub struct Batch {
    /// `[B, 1, 128, 259]` compressed mel.
    pub mel: Tensor<4>,
    /// `[B, 1, 16, 259]` CENS, zero-padded (multi-input only).
    pub cens: Option<Tensor<4>>,
    /// `[B, 1, 384, 259]` tempogram (multi-input only).
    pub tempogram: Option<Tensor<4>>,
}

impl TrackSet {
    /// The tracks of `split` in the dataset at `dir` (tracks without windows are left out);
    /// `vocab` interns categorical labels (share it between splits); `dims` = 6 or 4.
    pub fn load(
        dir: &Path,
        file: &DatasetFile,
        split: Split,
        vocab: &mut Vocabulary,
        dims: usize,
    ) -> Result<Self> {
        let mut tracks = Vec::new();
        let mut real = Vec::new();
        for r in file.records.iter().filter(|r| r.split == split) {
            if r.windows == 0 {
                continue;
            }
            let cache = FeatureCache::open(&dir.join(&r.cache))?;
            let s = cache.shape();
            if (s.mel_rows, s.cens_rows, s.tempogram_rows, s.frames)
                != (MEL_ROWS, 12, TEMPOGRAM_ROWS, FRAMES)
            {
                return Err(Error::Cache {
                    path: cache.path().to_path_buf(),
                    reason: format!("feature shapes {s:?} are not the model's"),
                });
            }
            real.push(r.source == Source::Real);
            tracks.push(Track {
                id: r.id.clone(),
                labels: vocab.labels(r),
                cache,
            });
        }
        if tracks.is_empty() {
            return Err(Error::Invalid(format!(
                "the dataset in {} has no {} tracks with windows",
                dir.display(),
                split.name()
            )));
        }
        let n = tracks.len();
        let mut positives = vec![vec![Vec::new(); n]; dims];
        let mut group_negatives = vec![vec![Vec::new(); n]; dims];
        for d in 0..dims {
            for i in 0..n {
                let Some(li) = tracks[i].labels[d] else {
                    continue;
                };
                positives[d][i] = (0..n)
                    .filter(|&j| j != i && tracks[j].labels[d].is_some_and(|lj| positive(li, lj)))
                    .collect();
                if matches!(li, Label::Relative { .. }) {
                    group_negatives[d][i] = (0..n)
                        .filter(|&j| tracks[j].labels[d].is_some_and(|lj| negative(li, lj)))
                        .collect();
                }
            }
        }
        let mut classes = vec![Vec::new(); dims];
        for (d, cl) in classes.iter_mut().enumerate().take(dims.min(4)) {
            let mut by_class: Vec<Vec<usize>> = Vec::new();
            for (i, t) in tracks.iter().enumerate() {
                if let Some(Label::Class(c)) = t.labels[d] {
                    let c = c as usize;
                    if by_class.len() <= c {
                        by_class.resize(c + 1, Vec::new());
                    }
                    by_class[c].push(i);
                }
            }
            *cl = by_class.into_iter().filter(|v| v.len() >= 2).collect();
        }
        let anchors = positives
            .iter()
            .map(|pos| (0..n).filter(|&i| !pos[i].is_empty()).collect())
            .collect();
        Ok(Self {
            tracks,
            positives,
            group_negatives,
            classes,
            anchors,
            real,
            real_fraction: DEFAULT_REAL_FRACTION,
            dims,
        })
    }

    /// Sets the probability that a pair is drawn from real tracks (clamped to 0..=1) in the
    /// dimensions where both kinds have labels.
    pub fn set_real_fraction(&mut self, fraction: f64) {
        self.real_fraction = fraction.clamp(0.0, 1.0);
    }

    /// Whether track `i` is a real recording.
    pub fn is_real(&self, i: usize) -> bool {
        self.real[i]
    }

    /// For dimension `d`: `Some(true)` to draw the pair from real tracks, `Some(false)` from
    /// synthetic ones, `None` when only one kind can anchor it (no draw, so a synthetic-only
    /// set samples exactly as before).
    fn pick_real(&self, d: usize, rng: &mut impl Rng) -> Option<bool> {
        let kinds = |real: bool| {
            if d < 4 && !self.classes[d].is_empty() {
                self.classes[d].iter().any(|c| self.real[c[0]] == real)
            } else {
                self.anchors[d].iter().any(|&i| self.real[i] == real)
            }
        };
        (kinds(true) && kinds(false)).then(|| rng.random_bool(self.real_fraction))
    }

    /// Total windows.
    pub fn windows(&self) -> usize {
        self.tracks.iter().map(|t| t.cache.windows()).sum()
    }

    /// Number of dimensions sampled.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// A balanced batch of `size` windows (see the module doc).
    pub fn sample(&self, size: usize, rng: &mut impl Rng) -> Vec<WindowRef> {
        let mut items = Vec::with_capacity(size);
        let window = |t: usize, rng: &mut _| -> WindowRef {
            (
                t,
                rand::Rng::random_range(rng, 0..self.tracks[t].cache.windows()),
            )
        };
        let mut k = 0;
        while items.len() < size {
            let d = k % self.dims;
            k += 1;
            let kind = self.pick_real(d, rng);
            let anchor = if d < 4 && !self.classes[d].is_empty() {
                let classes: Vec<&Vec<usize>> = self.classes[d]
                    .iter()
                    .filter(|c| kind.is_none_or(|real| self.real[c[0]] == real))
                    .collect();
                let class = classes[rng.random_range(0..classes.len())];
                class[rng.random_range(0..class.len())]
            } else if !self.anchors[d].is_empty() {
                let anchors: Vec<usize> = self.anchors[d]
                    .iter()
                    .copied()
                    .filter(|&i| kind.is_none_or(|real| self.real[i] == real))
                    .collect();
                anchors[rng.random_range(0..anchors.len())]
            } else {
                rng.random_range(0..self.tracks.len())
            };
            items.push(window(anchor, rng));
            if items.len() < size {
                let pos = &self.positives[d][anchor];
                let other = if pos.is_empty() {
                    rng.random_range(0..self.tracks.len())
                } else {
                    pos[rng.random_range(0..pos.len())]
                };
                items.push(window(other, rng));
            }
            let group = &self.group_negatives[d][anchor];
            if !group.is_empty() && items.len() < size {
                items.push(window(group[rng.random_range(0..group.len())], rng));
            }
        }
        items
    }

    /// The input tensors of `items` on `device`.
    pub fn batch(&self, items: &[WindowRef], multi_input: bool, device: &Device) -> Batch {
        let b = items.len();
        let plane = FRAMES;
        let mut mel = Vec::with_capacity(b * MEL_ROWS * plane);
        let mut cens = Vec::with_capacity(if multi_input {
            b * CENS_ROWS * plane
        } else {
            0
        });
        let mut tgram = Vec::with_capacity(if multi_input {
            b * TEMPOGRAM_ROWS * plane
        } else {
            0
        });
        for &(t, w) in items {
            let view = self.tracks[t].cache.window(w);
            mel.extend(view.mel.iter());
            if multi_input {
                cens.extend(view.cens.iter());
                cens.resize(cens.len() + (CENS_ROWS - view.cens.nrows()) * plane, 0.0);
                tgram.extend(view.tempogram.iter());
            }
        }
        let tensor = |data: Vec<f32>, rows: usize| {
            Tensor::<4>::from_data(TensorData::new(data, [b, 1, rows, plane]), device)
        };
        Batch {
            mel: tensor(mel, MEL_ROWS),
            cens: multi_input.then(|| tensor(cens, CENS_ROWS)),
            tempogram: multi_input.then(|| tensor(tgram, TEMPOGRAM_ROWS)),
        }
    }

    /// Per-band mean and standard deviation of the compressed mel over every window (f64
    /// accumulation); a band with zero variance gets std 1.
    pub fn mel_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let mut sum = vec![0f64; MEL_ROWS];
        let mut sq = vec![0f64; MEL_ROWS];
        let mut count = 0f64;
        for t in &self.tracks {
            for w in 0..t.cache.windows() {
                let view = t.cache.window(w);
                for (band, row) in view.mel.outer_iter().enumerate() {
                    for &v in row {
                        sum[band] += f64::from(v);
                        sq[band] += f64::from(v) * f64::from(v);
                    }
                }
                count += FRAMES as f64;
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(s, m)| {
                let sd = (s / count - m * m).max(0.0).sqrt();
                if sd > 1e-6 { sd as f32 } else { 1.0 }
            })
            .collect();
        (mean.into_iter().map(|m| m as f32).collect(), std)
    }
}
