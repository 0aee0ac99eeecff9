//! Similarity as shown to users (SPEC §5): per dimension, the cosine similarity of the two
//! embeddings' slices of that dimension mapped to 0–100 %; combined, the weighted mean of the
//! per-dimension percentages under the user's weights (all 1 by default).
//!
//! # The mapping
//!
//! `percent = (1 + cos) / 2 · 100`: identical directions are 100 %, opposite ones 0 %,
//! orthogonal (unrelated) ones 50 %. It is affine, so the weighted mean of percentages equals
//! the percentage of the weighted mean cosine — which is what lets [`crate::search`] rank by
//! one dot product. A slice of zero length (all zeros; a layer-normalised network practically
//! never produces one) has no direction: its cosine is taken as 0, i.e. 50 %, "no evidence
//! either way". Cosines are computed in f64 and clamped to [−1, 1].
//!
//! # Segments
//!
//! [`match_segments`] compares every window of a query with every window of a candidate under
//! the same weights: for each query window the candidate window that matches it best, and the
//! best pair overall, with window indices, start times and per-dimension scores. Ties go to the
//! earlier candidate window.

use std::fmt;

use ndarray::ArrayView2;

use crate::contract::EmbeddingLayout;
use crate::{Error, Result};

/// Per-dimension weights for the combined similarity: finite, ≥ 0, not all zero.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    values: Vec<f32>,
}

impl Weights {
    /// Weight 1 for each of `dimensions` dimensions (SPEC §5's default).
    pub fn uniform(dimensions: usize) -> Self {
        Self {
            values: vec![1.0; dimensions],
        }
    }

    /// Weights in dimension order. Errors on a negative or non-finite weight, or all zeros.
    pub fn new(values: Vec<f32>) -> Result<Self> {
        if let Some(v) = values.iter().find(|v| !v.is_finite() || **v < 0.0) {
            return Err(Error::Invalid(format!(
                "weight {v} is not allowed: weights must be finite numbers ≥ 0"
            )));
        }
        if values.iter().all(|&v| v == 0.0) {
            return Err(Error::Invalid(
                "all weights are zero: at least one dimension must count".into(),
            ));
        }
        Ok(Self { values })
    }

    /// Parses `genre=1,mood=0.5,...` against `layout`'s dimension names. Dimensions not named
    /// keep the default weight 1 (so `key=0` means "everything but key"); an empty string is
    /// the default. Unknown or repeated names, bad numbers and invalid weights are errors that
    /// list the valid names.
    pub fn parse(layout: &EmbeddingLayout, text: &str) -> Result<Self> {
        let names = layout.dimensions.join(", ");
        let mut values = vec![1.0; layout.dimensions.len()];
        let mut seen = vec![false; values.len()];
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, value)) = part.split_once('=') else {
                return Err(Error::Invalid(format!(
                    "weight `{part}` is not of the form name=value (dimensions: {names})"
                )));
            };
            let name = name.trim();
            let Some(i) = layout.index_of(name) else {
                return Err(Error::Invalid(format!(
                    "unknown dimension `{name}` in weights (dimensions: {names})"
                )));
            };
            if std::mem::replace(&mut seen[i], true) {
                return Err(Error::Invalid(format!(
                    "dimension `{name}` is given twice in weights"
                )));
            }
            values[i] = value.trim().parse::<f32>().map_err(|_| {
                Error::Invalid(format!(
                    "weight `{}` for `{name}` is not a number",
                    value.trim()
                ))
            })?;
        }
        Self::new(values)
    }

    /// The weights, in dimension order.
    pub fn as_slice(&self) -> &[f32] {
        &self.values
    }

    /// Number of dimensions.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Never true for valid weights; present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The weights scaled to sum to 1.
    pub fn normalized(&self) -> Vec<f32> {
        let sum: f64 = self.values.iter().map(|&v| v as f64).sum();
        self.values
            .iter()
            .map(|&v| (v as f64 / sum) as f32)
            .collect()
    }

    /// Errors unless there is one weight per dimension of `layout`.
    pub fn check(&self, layout: &EmbeddingLayout) -> Result<()> {
        if self.values.len() != layout.dimensions.len() {
            return Err(Error::Invalid(format!(
                "{} weights for {} dimensions ({})",
                self.values.len(),
                layout.dimensions.len(),
                layout.dimensions.join(", ")
            )));
        }
        Ok(())
    }
}

impl fmt::Display for Weights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.values.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

/// Cosine similarity of `a` and `b` in [−1, 1]; 0 when either has zero length.
///
/// # Panics
/// If the lengths differ.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "cosine of slices of different lengths");
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 || !(aa * bb).is_finite() {
        return 0.0;
    }
    (ab / (aa.sqrt() * bb.sqrt())).clamp(-1.0, 1.0) as f32
}

/// Maps a cosine to the percentage shown to users: `(1 + cos) / 2 · 100`, clamped to
/// [0, 100].
pub fn to_percent(cos: f32) -> f32 {
    ((1.0 + cos) * 50.0).clamp(0.0, 100.0)
}

/// The weighted mean of per-dimension percentages.
///
/// # Panics
/// If the lengths differ.
pub fn combine(per_dimension: &[f32], weights: &Weights) -> f32 {
    assert_eq!(
        per_dimension.len(),
        weights.len(),
        "one weight per dimension"
    );
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (&p, &w) in per_dimension.iter().zip(weights.as_slice()) {
        num += p as f64 * w as f64;
        den += w as f64;
    }
    (num / den) as f32
}

/// Scales each dimension's slice of `v` to unit length in place (a zero slice stays zero).
/// After this, the cosine of two slices is their dot product.
pub fn normalize_slices(layout: &EmbeddingLayout, v: &mut [f32]) {
    for chunk in v.chunks_exact_mut(layout.slice_width) {
        let norm = chunk
            .iter()
            .map(|&x| x as f64 * x as f64)
            .sum::<f64>()
            .sqrt();
        if norm > 0.0 && norm.is_finite() {
            let inv = 1.0 / norm;
            chunk.iter_mut().for_each(|x| *x = (*x as f64 * inv) as f32);
        } else {
            chunk.fill(0.0);
        }
    }
}

/// Per-dimension and combined similarity of two embeddings.
#[derive(Debug, Clone, PartialEq)]
pub struct Similarity {
    /// Percent (0–100) per dimension, in layout order.
    pub per_dimension: Vec<f32>,
    /// Weighted mean of `per_dimension`, in percent.
    pub combined: f32,
}

fn check_len(layout: &EmbeddingLayout, what: &str, len: usize) -> Result<()> {
    if len != layout.embedding_size() {
        return Err(Error::Invalid(format!(
            "{what} has {len} values, the layout has {}",
            layout.embedding_size()
        )));
    }
    Ok(())
}

/// Similarity of embeddings `a` and `b` under `weights` (SPEC §5).
pub fn compare(
    layout: &EmbeddingLayout,
    a: &[f32],
    b: &[f32],
    weights: &Weights,
) -> Result<Similarity> {
    check_len(layout, "the first embedding", a.len())?;
    check_len(layout, "the second embedding", b.len())?;
    weights.check(layout)?;
    let per_dimension: Vec<f32> = (0..layout.dimensions.len())
        .map(|s| to_percent(cosine(&a[layout.slice(s)], &b[layout.slice(s)])))
        .collect();
    let combined = combine(&per_dimension, weights);
    Ok(Similarity {
        per_dimension,
        combined,
    })
}

/// One query window and the candidate window that matches it best.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentMatch {
    /// Index of the query window.
    pub query_window: usize,
    /// Index of the best-matching candidate window.
    pub candidate_window: usize,
    /// Start of the query window in seconds (`query_window · window_seconds`).
    pub query_start_s: f64,
    /// Start of the candidate window in seconds.
    pub candidate_start_s: f64,
    /// Their similarity.
    pub similarity: Similarity,
}

/// The result of [`match_segments`].
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentMatches {
    /// For each query window, in order, its best candidate window.
    pub per_query_window: Vec<SegmentMatch>,
    /// The best pair overall (the first of equals).
    pub best: SegmentMatch,
}

/// Rows of `windows` with every slice normalised, as one row-major buffer.
fn normalized_rows(layout: &EmbeddingLayout, windows: ArrayView2<f32>) -> Vec<f32> {
    let mut out = Vec::with_capacity(windows.len());
    for row in windows.rows() {
        let start = out.len();
        out.extend(row.iter());
        normalize_slices(layout, &mut out[start..]);
    }
    out
}

/// For each window of `query` (`[n_q, D]`), the window of `candidate` (`[n_c, D]`) with the
/// highest combined similarity under `weights`, and the best pair overall. Windows are
/// `window_seconds` long and do not overlap, so window `i` starts at `i · window_seconds`.
/// Costs `n_q · n_c · D` multiply-adds.
pub fn match_segments(
    layout: &EmbeddingLayout,
    query: ArrayView2<f32>,
    candidate: ArrayView2<f32>,
    weights: &Weights,
    window_seconds: f64,
) -> Result<SegmentMatches> {
    check_len(layout, "a query window", query.ncols())?;
    check_len(layout, "a candidate window", candidate.ncols())?;
    weights.check(layout)?;
    if query.nrows() == 0 || candidate.nrows() == 0 {
        return Err(Error::Invalid(
            "segment matching needs at least one window on each side".into(),
        ));
    }
    let d = layout.embedding_size();
    let dims = layout.dimensions.len();
    let w = weights.normalized();
    let q = normalized_rows(layout, query);
    let c = normalized_rows(layout, candidate);
    let mut cos = vec![0.0f32; dims];
    let mut per_query_window = Vec::with_capacity(query.nrows());
    for (qi, qrow) in q.chunks_exact(d).enumerate() {
        let mut best = (f32::NEG_INFINITY, 0usize);
        for (ci, crow) in c.chunks_exact(d).enumerate() {
            // Combined cosine of unit slices: Σ_s w̃_s · (q_s · c_s).
            let score: f32 = (0..dims)
                .map(|s| {
                    let r = layout.slice(s);
                    w[s] * dot(&qrow[r.clone()], &crow[r])
                })
                .sum();
            if score > best.0 {
                best = (score, ci);
            }
        }
        let crow = &c[best.1 * d..(best.1 + 1) * d];
        for (s, v) in cos.iter_mut().enumerate() {
            let r = layout.slice(s);
            *v = dot(&qrow[r.clone()], &crow[r]).clamp(-1.0, 1.0);
        }
        let per_dimension: Vec<f32> = cos.iter().map(|&x| to_percent(x)).collect();
        let combined = combine(&per_dimension, weights);
        per_query_window.push(SegmentMatch {
            query_window: qi,
            candidate_window: best.1,
            query_start_s: qi as f64 * window_seconds,
            candidate_start_s: best.1 as f64 * window_seconds,
            similarity: Similarity {
                per_dimension,
                combined,
            },
        });
    }
    let best = per_query_window
        .iter()
        .fold(None::<&SegmentMatch>, |acc, m| match acc {
            Some(a) if a.similarity.combined >= m.similarity.combined => Some(a),
            _ => Some(m),
        })
        .expect("at least one query window")
        .clone();
    Ok(SegmentMatches {
        per_query_window,
        best,
    })
}

/// Plain f32 dot product over eight independent lanes (so it vectorises).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ac, ar) = a.split_at(a.len() / 8 * 8);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(8).zip(bc.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        sum += x * y;
    }
    sum
}
