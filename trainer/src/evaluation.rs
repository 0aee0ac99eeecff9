//! SPEC §4 on the dataset's held-out test split: conditional triplets drawn from test tracks,
//! track embeddings (the mean of the 3 s window embeddings, read from the feature cache), and
//! the triplet prediction score of each model — per dimension, on the full embedding and on
//! every subset of dimensions — computed by the engine's [`kindred_engine::evaluation`], the
//! same code `kindred evaluate` uses on a user's triplets.
//!
//! Triplets per dimension *s*: an anchor with a known label; a positive by the training rules
//! ([`triplets::positive`]: same label, tempo within ±5 BPM up to octaves, same or parallel
//! key) **from another piece** than the anchor, so no score can come from recognising the
//! notes of a piece; a negative whose label is not a positive of the anchor's (any piece — the
//! anchor's own piece at another tempo is exactly the hard case for the tempo dimension).
//!
//! Real recordings: "another piece" means another file (the package is one source-genre
//! class, so a genre positive comes from another track of the package or of a package with
//! the same source label); tempo and key labels are relative to a passage group, so their
//! positive and negative are copies of the anchor's own passage ([`triplets::relation`]). The
//! real test split is made of whole held-out packages. [`Records`] picks synthetic, real or
//! all test records, so each is reported on its own.
//!
//! Models are the exported ONNX files, run by the engine ([`kindred_engine::inference`]):
//! evaluation measures what users get. The handcrafted baseline is the per-track mean and
//! standard deviation over time of every mel, CENS and tempogram row (1 048 values),
//! z-scored with train-split statistics; it has no dimension slices, so each of its
//! per-dimension scores is the full-vector score on that dimension's triplets.

use std::path::{Path, PathBuf};

use kindred_engine::contract::EmbeddingLayout;
use kindred_engine::evaluation::{DimensionMask, Triplet, TripletDistances};
use kindred_engine::features::Features;
use kindred_engine::inference::{Device, Embedder, EmbedderOptions};
use ndarray::{Array2, Axis};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::cache::FeatureCache;
use crate::data::dataset::{DatasetFile, Record, Source};
use crate::data::plan::Split;
use crate::data::triplets::{self, DIMENSIONS, Labels, Vocabulary};
use crate::{Error, Result};

/// Which records of a split take part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Records {
    /// Every record.
    #[default]
    All,
    /// Rendered scores and manifest files.
    Synthetic,
    /// Real recordings.
    Real,
}

impl Records {
    /// Whether `r` takes part.
    pub fn admits(self, r: &Record) -> bool {
        match self {
            Records::All => true,
            Records::Synthetic => r.source != Source::Real,
            Records::Real => r.source == Source::Real,
        }
    }
}

/// The unit a positive must not share with its anchor: the piece, or for a real recording
/// its file.
fn unit(r: &Record) -> &str {
    match &r.real {
        Some(_) => &r.audio_source,
        None => &r.piece,
    }
}

/// The held-out tracks of a dataset and their labels.
pub struct HeldOut {
    pub dir: PathBuf,
    pub records: Vec<Record>,
    pub labels: Vec<Labels>,
}

impl HeldOut {
    /// The tracks of `split` in the dataset at `dir` (tracks without windows left out).
    pub fn load(dir: &Path, split: Split) -> Result<Self> {
        Self::load_records(dir, split, Records::All)
    }

    /// The tracks of `split` that `records` admits.
    pub fn load_records(dir: &Path, split: Split, records: Records) -> Result<Self> {
        let file = DatasetFile::load(dir)?;
        let mut vocab = Vocabulary::default();
        let records: Vec<Record> = file
            .records
            .into_iter()
            .filter(|r| r.split == split && r.windows > 0 && records.admits(r))
            .collect();
        let labels = records.iter().map(|r| vocab.labels(r)).collect();
        Ok(Self {
            dir: dir.to_path_buf(),
            records,
            labels,
        })
    }

    /// Up to `per_dimension` triplets per dimension (see the module doc), reproducible from
    /// `seed`; duplicates are not drawn twice.
    pub fn triplets(&self, per_dimension: usize, seed: u64) -> Vec<Triplet> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::new();
        for d in 0..DIMENSIONS.len() {
            let anchors: Vec<usize> = (0..self.records.len())
                .filter(|&a| self.labels[a][d].is_some())
                .collect();
            let mut seen = std::collections::HashSet::new();
            let mut attempts = 0;
            while seen.len() < per_dimension && attempts < 50 * per_dimension && !anchors.is_empty()
            {
                attempts += 1;
                let a = *anchors.choose(&mut rng).expect("not empty");
                let la = self.labels[a][d].expect("anchors have labels");
                let is_pos =
                    |i: usize| self.labels[i][d].is_some_and(|l| triplets::positive(la, l));
                let relative = matches!(la, triplets::Label::Relative { .. });
                let positives: Vec<usize> = (0..self.records.len())
                    .filter(|&p| {
                        p != a
                            && (relative || unit(&self.records[p]) != unit(&self.records[a]))
                            && is_pos(p)
                    })
                    .collect();
                let negatives: Vec<usize> = (0..self.records.len())
                    .filter(|&n| {
                        n != a && self.labels[n][d].is_some_and(|l| triplets::negative(la, l))
                    })
                    .collect();
                if positives.is_empty() || negatives.is_empty() {
                    continue;
                }
                let p = positives[rng.random_range(0..positives.len())];
                let n = negatives[rng.random_range(0..negatives.len())];
                if seen.insert((a, p, n)) {
                    out.push(Triplet {
                        anchor: a,
                        positive: p,
                        negative: n,
                        dimension: d,
                    });
                }
            }
        }
        out
    }

    fn cache(&self, i: usize) -> Result<FeatureCache> {
        FeatureCache::open(&self.dir.join(&self.records[i].cache))
    }

    /// Track embeddings `[tracks, D]` of the exported model at `model`, and its layout.
    pub fn model_embeddings(&self, model: &Path) -> Result<(EmbeddingLayout, Array2<f32>)> {
        let options = EmbedderOptions {
            device: Device::Cpu,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let mut embedder = Embedder::load(model, &options)?;
        let config = embedder.contract().front_end.clone();
        let layout = embedder.contract().layout.clone();
        let mut out = Array2::zeros((self.records.len(), layout.embedding_size()));
        let mut batch: Vec<Features> = Vec::new();
        for i in 0..self.records.len() {
            let cache = self.cache(i)?;
            batch.resize_with(cache.windows(), || Features::new(&config));
            for (w, f) in batch.iter_mut().enumerate() {
                let view = cache.window(w);
                f.mel.assign(&view.mel);
                f.cens.assign(&view.cens);
                f.tempogram.assign(&view.tempogram);
            }
            let refs: Vec<&Features> = batch.iter().collect();
            let windows = embedder.embed(&refs)?;
            out.row_mut(i)
                .assign(&windows.mean_axis(Axis(0)).expect("at least one window"));
        }
        Ok((layout, out))
    }

    /// The handcrafted baseline's vectors `[tracks, 1048]`, z-scored with `reference`'s
    /// statistics (the train split), and a one-dimension layout over all of it.
    pub fn handcrafted(&self, reference: &HeldOut) -> Result<(EmbeddingLayout, Array2<f32>)> {
        let raw = |set: &HeldOut| -> Result<Array2<f32>> {
            let mut rows = Vec::new();
            for i in 0..set.records.len() {
                rows.push(handcrafted_vector(&set.cache(i)?));
            }
            let width = rows[0].len();
            Array2::from_shape_vec((rows.len(), width), rows.concat())
                .map_err(|e| Error::Invalid(e.to_string()))
        };
        let train = raw(reference)?;
        let mean = train.mean_axis(Axis(0)).expect("train tracks");
        let std = train
            .std_axis(Axis(0), 0.0)
            .mapv(|s| if s > 1e-8 { s } else { 1.0 });
        let mut test = raw(self)?;
        test -= &mean;
        test /= &std;
        let width = test.ncols();
        Ok((EmbeddingLayout::new(&["all"], width), test))
    }
}

/// Mean and standard deviation over all frames of the track of every mel, CENS and tempogram
/// row: 2 × (128 + 12 + 384) values.
fn handcrafted_vector(cache: &FeatureCache) -> Vec<f32> {
    let s = cache.shape();
    let rows = s.mel_rows + s.cens_rows + s.tempogram_rows;
    let (mut sum, mut sq) = (vec![0f64; rows], vec![0f64; rows]);
    for w in 0..cache.windows() {
        let v = cache.window(w);
        let all = v
            .mel
            .rows()
            .into_iter()
            .chain(v.cens.rows())
            .chain(v.tempogram.rows());
        for (r, row) in all.enumerate() {
            for &x in row {
                sum[r] += x as f64;
                sq[r] += (x as f64) * (x as f64);
            }
        }
    }
    let n = (cache.windows() * s.frames) as f64;
    let mean: Vec<f32> = sum.iter().map(|&v| (v / n) as f32).collect();
    let std: Vec<f32> = sq
        .iter()
        .zip(&sum)
        .map(|(&q, &s)| ((q / n - (s / n).powi(2)).max(0.0)).sqrt() as f32)
        .collect();
    mean.into_iter().chain(std).collect()
}

/// One model's scores on the held-out triplets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelScores {
    pub name: String,
    /// The model's own dimensions (`["all"]` for the handcrafted baseline).
    pub dimensions: Vec<String>,
    /// Per dimension of [`DIMENSIONS`]: the score of that dimension's triplets on the model's
    /// slice for it (on the full vector when the model has no such slice), `None` without
    /// triplets.
    pub per_dimension: Vec<Option<f64>>,
    /// Whether `per_dimension[s]` used a dedicated slice.
    pub sliced: Vec<bool>,
    /// Every triplet on the full embedding.
    pub full: f64,
    /// Every triplet on its own dimension's slice (models with all six slices only).
    pub own_slice: Option<f64>,
    /// Every non-empty subset of the model's dimensions: names and score.
    pub subsets: Vec<(String, f64)>,
    pub triplets: usize,
}

/// Scores `embeddings` (rows = held-out tracks) under `layout` on `triplets` (labelled with
/// indices into [`DIMENSIONS`]).
pub fn score(
    name: &str,
    layout: &EmbeddingLayout,
    embeddings: &Array2<f32>,
    triplets: &[Triplet],
) -> Result<ModelScores> {
    // Map each triplet's dimension to the model's slice for it, if it has one.
    let slot: Vec<Option<usize>> = DIMENSIONS.iter().map(|d| layout.index_of(d)).collect();
    let own: Vec<Triplet> = triplets
        .iter()
        .filter_map(|t| slot[t.dimension].map(|s| Triplet { dimension: s, ..*t }))
        .collect();
    let all_mask = DimensionMask::all(layout.dimensions.len());
    // Full-embedding distances for every triplet (label kept as the model's dimension 0 when
    // it has no slice for it; only full-mask scores are read from these).
    let relabelled: Vec<Triplet> = triplets
        .iter()
        .map(|t| Triplet { dimension: 0, ..*t })
        .collect();
    let full = TripletDistances::new(layout, embeddings.view(), &relabelled)?;
    let sliced_d = TripletDistances::new(layout, embeddings.view(), &own)?;
    let mut per_dimension = Vec::new();
    let mut sliced = Vec::new();
    for (d, s) in slot.iter().enumerate() {
        let value = match s {
            Some(s) => sliced_d
                .score_where(DimensionMask::single(*s), |l| l == *s)
                .fraction(),
            None => {
                let these: Vec<Triplet> = relabelled
                    .iter()
                    .zip(triplets)
                    .filter(|(_, t)| t.dimension == d)
                    .map(|(r, _)| *r)
                    .collect();
                TripletDistances::new(layout, embeddings.view(), &these)?
                    .score(all_mask)
                    .fraction()
            }
        };
        per_dimension.push(value);
        sliced.push(s.is_some());
    }
    let full_score = full.score(all_mask).fraction().unwrap_or(0.0);
    let own_slice = (own.len() == triplets.len() && layout.dimensions.len() > 1)
        .then(|| sliced_d.score_own_dimension().fraction())
        .flatten();
    let subsets = if layout.dimensions.len() > 1 {
        full.score_subsets(layout)
            .into_iter()
            .map(|s| (s.names, s.score.fraction().unwrap_or(0.0)))
            .collect()
    } else {
        Vec::new()
    };
    Ok(ModelScores {
        name: name.to_string(),
        dimensions: layout.dimensions.clone(),
        per_dimension,
        sliced,
        full: full_score,
        own_slice,
        subsets,
        triplets: triplets.len(),
    })
}

/// Everything `kindred-train report` needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evaluation {
    pub dataset: PathBuf,
    pub split: String,
    pub seed: u64,
    pub tracks: usize,
    /// Triplets per dimension of [`DIMENSIONS`].
    pub triplets_per_dimension: Vec<usize>,
    pub models: Vec<ModelScores>,
}

/// Evaluates each `(name, model.onnx)` and the handcrafted baseline on the held-out split.
pub fn evaluate(
    dataset: &Path,
    models: &[(String, PathBuf)],
    per_dimension: usize,
    seed: u64,
) -> Result<Evaluation> {
    evaluate_records(dataset, models, per_dimension, seed, Records::All)
}

/// [`evaluate`] on the test records that `records` admits (the baseline's statistics come from
/// the same kind of train records).
pub fn evaluate_records(
    dataset: &Path,
    models: &[(String, PathBuf)],
    per_dimension: usize,
    seed: u64,
    records: Records,
) -> Result<Evaluation> {
    let test = HeldOut::load_records(dataset, Split::Test, records)?;
    if test.records.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: the test split has no {records:?} tracks",
            dataset.display()
        )));
    }
    let triplets = test.triplets(per_dimension, seed);
    let mut scores = Vec::new();
    for (name, path) in models {
        let (layout, embeddings) = test.model_embeddings(path)?;
        scores.push(score(name, &layout, &embeddings, &triplets)?);
    }
    let train = HeldOut::load_records(dataset, Split::Train, records)?;
    if train.records.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: the train split has no {records:?} tracks to standardise the handcrafted baseline",
            dataset.display()
        )));
    }
    let (layout, embeddings) = test.handcrafted(&train)?;
    scores.push(score(
        "handcrafted (feature mean+std)",
        &layout,
        &embeddings,
        &triplets,
    )?);
    Ok(Evaluation {
        dataset: dataset.to_path_buf(),
        split: match records {
            Records::All => Split::Test.name().into(),
            Records::Synthetic => format!(
                "{} (rendered scores and manifest files)",
                Split::Test.name()
            ),
            Records::Real => format!("{} (real recordings)", Split::Test.name()),
        },
        seed,
        tracks: test.records.len(),
        triplets_per_dimension: (0..DIMENSIONS.len())
            .map(|d| triplets.iter().filter(|t| t.dimension == d).count())
            .collect(),
        models: scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_follow_the_slices() {
        // Two tracks per label along "genre" only; the rest noise-free zeros.
        let layout = EmbeddingLayout::six();
        let mut e = Array2::<f32>::zeros((3, 384));
        e[[0, 0]] = 1.0;
        e[[1, 0]] = 0.9;
        e[[2, 0]] = -1.0;
        // Along "tempo" the negative is the closer one.
        e[[0, 256]] = 1.0;
        e[[1, 256]] = -1.0;
        e[[2, 256]] = 1.0;
        let t = |d| Triplet {
            anchor: 0,
            positive: 1,
            negative: 2,
            dimension: d,
        };
        let s = score("m", &layout, &e, &[t(0), t(4)]).unwrap();
        assert_eq!(s.per_dimension[0], Some(1.0));
        assert_eq!(s.per_dimension[4], Some(0.0));
        assert_eq!(s.per_dimension[1], None);
        assert_eq!(s.own_slice, Some(0.5));
        assert_eq!(s.subsets.len(), 63);
    }
}
