//! Recall of the int8 scan against the exact one, shared by `tests/search.rs` and
//! `benches/search.rs`.

use kindred_engine::search::{Filter, FlatIndex, Scan};
use kindred_engine::similarity::Weights;

/// Of the exact top-10 of every query, how many the int8 scan re-scoring `per_k` candidates
/// per result also returns, and how many there were: `(found, total)`.
pub fn found_of_top10(
    index: &FlatIndex,
    queries: &[Vec<f32>],
    weights: &Weights,
    per_k: usize,
) -> (usize, usize) {
    let (mut found, mut total) = (0, 0);
    for q in queries {
        let exact = index
            .search_with(Scan::Exact, q, weights, 10, &Filter::default())
            .unwrap();
        let approx = index
            .search_with(
                Scan::Quantized {
                    candidates_per_k: per_k,
                },
                q,
                weights,
                10,
                &Filter::default(),
            )
            .unwrap();
        total += exact.len();
        found += exact
            .iter()
            .filter(|e| approx.iter().any(|a| a.id == e.id))
            .count();
    }
    (found, total)
}
