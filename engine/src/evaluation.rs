//! SPEC §4's triplet prediction score: the fraction of triplets `(a, p, n)` for which the
//! anchor is closer to the positive than to the negative, `‖e_a − e_p‖₂ < ‖e_a − e_n‖₂`,
//! with distances taken over a chosen subset of the dimensions' slices (the paper's
//! "activating sub-spaces"; 2ⁿ − 1 non-empty subsets, 63 for six dimensions).
//!
//! **Ties count as failures**: the comparison is strict, so an embedding that maps everything
//! to one point scores 0, not 0.5, and a model cannot earn credit for not separating anything.
//!
//! Both the trainer's evaluation and `kindred evaluate` use this. [`TripletDistances`]
//! computes each triplet's squared distances per dimension once (in f64), so every subset
//! afterwards is a sum of a few numbers per triplet — all 63 subsets cost little more than
//! one. Comparing squared distances is the same as comparing distances.

use ndarray::ArrayView2;

use crate::contract::EmbeddingLayout;
use crate::{Error, Result};

/// One labelled triplet: rows of the embedding matrix and the dimension that labelled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Triplet {
    pub anchor: usize,
    pub positive: usize,
    pub negative: usize,
    /// Index of the dimension (in the layout) under which `positive` is the closer one.
    pub dimension: usize,
}

/// A set of dimensions as a bitmask: bit `s` selects dimension `s`'s slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DimensionMask(pub u64);

impl DimensionMask {
    /// Only dimension `s`.
    pub fn single(s: usize) -> Self {
        Self(1 << s)
    }

    /// All `n` dimensions.
    pub fn all(n: usize) -> Self {
        Self(if n >= 64 { u64::MAX } else { (1 << n) - 1 })
    }

    /// Whether dimension `s` is in the set.
    pub fn contains(self, s: usize) -> bool {
        s < 64 && self.0 >> s & 1 == 1
    }

    /// Number of dimensions in the set.
    pub fn count(self) -> u32 {
        self.0.count_ones()
    }

    /// The dimension names in the set, joined with `+` (e.g. `genre+mood`).
    pub fn names(self, layout: &EmbeddingLayout) -> String {
        layout
            .dimensions
            .iter()
            .enumerate()
            .filter(|(s, _)| self.contains(*s))
            .map(|(_, n)| n.as_str())
            .collect::<Vec<_>>()
            .join("+")
    }
}

/// Correct and total triplets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Score {
    pub correct: usize,
    pub total: usize,
}

impl Score {
    /// `correct / total`, `None` without triplets.
    pub fn fraction(self) -> Option<f64> {
        (self.total > 0).then(|| self.correct as f64 / self.total as f64)
    }
}

/// The score of one subset of dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct SubsetScore {
    pub mask: DimensionMask,
    /// `genre+mood`-style names of the subset.
    pub names: String,
    pub score: Score,
}

/// Per-triplet, per-dimension squared distances anchor–positive and anchor–negative.
#[derive(Debug, Clone)]
pub struct TripletDistances {
    dimensions: usize,
    /// Triplet labels, in input order.
    labels: Vec<usize>,
    /// `[triplet][dimension]`, row-major.
    ap: Vec<f64>,
    an: Vec<f64>,
}

impl TripletDistances {
    /// Computes the distances of `triplets` over `embeddings` (`[tracks, D]`, one row per
    /// track; SPEC §4's track embedding is the mean of its windows). Errors on an index out
    /// of range, a dimension the layout lacks, or a width that does not match the layout.
    pub fn new(
        layout: &EmbeddingLayout,
        embeddings: ArrayView2<f32>,
        triplets: &[Triplet],
    ) -> Result<Self> {
        let dims = layout.dimensions.len();
        if embeddings.ncols() != layout.embedding_size() {
            return Err(Error::Invalid(format!(
                "embeddings have {} values, the layout has {}",
                embeddings.ncols(),
                layout.embedding_size()
            )));
        }
        if dims > 64 {
            return Err(Error::Invalid(format!(
                "{dims} dimensions; at most 64 fit a mask"
            )));
        }
        let n = embeddings.nrows();
        let mut ap = Vec::with_capacity(triplets.len() * dims);
        let mut an = Vec::with_capacity(triplets.len() * dims);
        for (i, t) in triplets.iter().enumerate() {
            if t.anchor >= n || t.positive >= n || t.negative >= n {
                return Err(Error::Invalid(format!(
                    "triplet {i} ({}, {}, {}) refers to a track beyond the {n} embeddings",
                    t.anchor, t.positive, t.negative
                )));
            }
            if t.dimension >= dims {
                return Err(Error::Invalid(format!(
                    "triplet {i} has dimension {} but the layout has {dims} ({})",
                    t.dimension,
                    layout.dimensions.join(", ")
                )));
            }
            let (a, p, q) = (
                embeddings.row(t.anchor),
                embeddings.row(t.positive),
                embeddings.row(t.negative),
            );
            for s in 0..dims {
                let (mut dp, mut dn) = (0.0f64, 0.0f64);
                for j in layout.slice(s) {
                    let x = a[j] as f64;
                    dp += (x - p[j] as f64).powi(2);
                    dn += (x - q[j] as f64).powi(2);
                }
                ap.push(dp);
                an.push(dn);
            }
        }
        Ok(Self {
            dimensions: dims,
            labels: triplets.iter().map(|t| t.dimension).collect(),
            ap,
            an,
        })
    }

    /// Number of triplets.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True without triplets.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Whether triplet `i` is predicted correctly on the slices of `mask` (strictly closer
    /// to the positive; ties fail).
    fn correct(&self, i: usize, mask: DimensionMask) -> bool {
        let row = i * self.dimensions..(i + 1) * self.dimensions;
        let (mut dp, mut dn) = (0.0, 0.0);
        for (s, (p, n)) in self.ap[row.clone()].iter().zip(&self.an[row]).enumerate() {
            if mask.contains(s) {
                dp += p;
                dn += n;
            }
        }
        dp < dn
    }

    /// Score of every triplet on the slices of `mask`.
    pub fn score(&self, mask: DimensionMask) -> Score {
        self.score_where(mask, |_| true)
    }

    /// Score of the triplets whose label passes `keep`, on the slices of `mask`.
    pub fn score_where(&self, mask: DimensionMask, keep: impl Fn(usize) -> bool) -> Score {
        let mut score = Score::default();
        for (i, &label) in self.labels.iter().enumerate() {
            if keep(label) {
                score.total += 1;
                score.correct += self.correct(i, mask) as usize;
            }
        }
        score
    }

    /// Every triplet on the full embedding.
    pub fn score_full(&self) -> Score {
        self.score(DimensionMask::all(self.dimensions))
    }

    /// Every triplet on its own dimension's slice (the conditional similarity it was made
    /// for).
    pub fn score_own_dimension(&self) -> Score {
        let mut score = Score::default();
        for (i, &label) in self.labels.iter().enumerate() {
            score.total += 1;
            score.correct += self.correct(i, DimensionMask::single(label)) as usize;
        }
        score
    }

    /// Per dimension `s`: the triplets labelled `s`, on slice `s` (the Kiviat chart's
    /// single-dimension scores).
    pub fn score_per_dimension(&self) -> Vec<Score> {
        (0..self.dimensions)
            .map(|s| self.score_where(DimensionMask::single(s), |l| l == s))
            .collect()
    }

    /// Every non-empty subset of dimensions (2ⁿ − 1, in mask order), each scoring every
    /// triplet on the subset's slices (SPEC §4's activating sub-spaces).
    pub fn score_subsets(&self, layout: &EmbeddingLayout) -> Vec<SubsetScore> {
        let all = DimensionMask::all(self.dimensions).0;
        (1..=all)
            .map(|m| {
                let mask = DimensionMask(m);
                SubsetScore {
                    mask,
                    names: mask.names(layout),
                    score: self.score(mask),
                }
            })
            .collect()
    }
}

/// Score of `triplets` on the slices of `mask` (convenience for one-off use).
pub fn triplet_score(
    layout: &EmbeddingLayout,
    embeddings: ArrayView2<f32>,
    triplets: &[Triplet],
    mask: DimensionMask,
) -> Result<Score> {
    Ok(TripletDistances::new(layout, embeddings, triplets)?.score(mask))
}
