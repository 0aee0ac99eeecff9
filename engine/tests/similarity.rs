//! Similarity percentages, weights and segment matching on hand-made vectors.

use kindred_engine::contract::EmbeddingLayout;
use kindred_engine::similarity::{Weights, compare, cosine, match_segments, to_percent};
use ndarray::Array2;

fn layout() -> EmbeddingLayout {
    EmbeddingLayout::new(&["genre", "mood", "tempo"], 2)
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-4
}

#[test]
fn identical_opposite_orthogonal_and_zero() {
    let l = layout();
    let w = Weights::uniform(3);
    let a = [1.0, 2.0, -3.0, 0.5, 0.0, 4.0];
    let s = compare(&l, &a, &a, &w).unwrap();
    assert!(s.per_dimension.iter().all(|&p| close(p, 100.0)), "{s:?}");
    assert!(close(s.combined, 100.0));
    // Scaling does not matter.
    let scaled: Vec<f32> = a.iter().map(|v| v * 7.0).collect();
    assert!(close(compare(&l, &a, &scaled, &w).unwrap().combined, 100.0));
    let neg: Vec<f32> = a.iter().map(|v| -v).collect();
    let s = compare(&l, &a, &neg, &w).unwrap();
    assert!(s.per_dimension.iter().all(|&p| close(p, 0.0)), "{s:?}");
    // Orthogonal in every slice.
    let b = [-2.0, 1.0, 0.5, 3.0, 4.0, 0.0];
    let s = compare(&l, &a, &b, &w).unwrap();
    assert!(s.per_dimension.iter().all(|&p| close(p, 50.0)), "{s:?}");
    // A zero slice gives 50 %.
    let z = [1.0, 2.0, 0.0, 0.0, 0.0, 4.0];
    let s = compare(&l, &a, &z, &w).unwrap();
    assert!(close(s.per_dimension[0], 100.0));
    assert!(close(s.per_dimension[1], 50.0));
    assert!(close(s.per_dimension[2], 100.0));
    assert_eq!(cosine(&[0.0, 0.0], &[0.0, 0.0]), 0.0);
    // 60° → cos 0.5 → 75 %.
    assert!(close(
        to_percent(cosine(&[1.0, 0.0], &[0.5, 0.75f32.sqrt()])),
        75.0
    ));
}

#[test]
fn combined_is_the_weighted_mean() {
    let l = layout();
    // genre identical (100), mood opposite (0), tempo orthogonal (50).
    let a = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
    let b = [1.0, 0.0, -1.0, 0.0, 0.0, 1.0];
    let s = compare(&l, &a, &b, &Weights::uniform(3)).unwrap();
    assert!(close(s.combined, 50.0), "{s:?}");
    let s = compare(&l, &a, &b, &Weights::new(vec![2.0, 1.0, 1.0]).unwrap()).unwrap();
    assert!(close(s.combined, (200.0 + 0.0 + 50.0) / 4.0), "{s:?}");
    let s = compare(&l, &a, &b, &Weights::new(vec![0.0, 1.0, 0.0]).unwrap()).unwrap();
    assert!(close(s.combined, 0.0), "{s:?}");
    assert_eq!(s.per_dimension.len(), 3);
    assert!(compare(&l, &a, &b[..5], &Weights::uniform(3)).is_err());
    assert!(compare(&l, &a, &b, &Weights::uniform(2)).is_err());
}

#[test]
fn weights_parse_and_validate() {
    let l = EmbeddingLayout::six();
    let w = Weights::parse(&l, "genre=1, mood=0.5,key=0").unwrap();
    assert_eq!(w.as_slice(), &[1.0, 0.5, 1.0, 1.0, 1.0, 0.0]);
    assert_eq!(Weights::parse(&l, "").unwrap(), Weights::uniform(6));
    let err = Weights::parse(&l, "genre=1,colour=2")
        .unwrap_err()
        .to_string();
    assert!(err.contains("colour"), "{err}");
    assert!(
        err.contains("genre, mood, instrument, era, tempo, key"),
        "{err}"
    );
    assert!(Weights::parse(&l, "genre=x").is_err());
    assert!(Weights::parse(&l, "genre").is_err());
    assert!(Weights::parse(&l, "genre=1,genre=2").is_err());
    assert!(
        Weights::parse(&l, "mood=-1")
            .unwrap_err()
            .to_string()
            .contains("≥ 0")
    );
    assert!(
        Weights::parse(&l, "genre=0,mood=0,instrument=0,era=0,tempo=0,key=0")
            .unwrap_err()
            .to_string()
            .contains("all weights are zero")
    );
    assert!(Weights::new(vec![1.0, f32::NAN]).is_err());
    assert!(Weights::new(vec![f32::INFINITY]).is_err());
    assert_eq!(
        Weights::new(vec![1.0, 3.0]).unwrap().normalized(),
        vec![0.25, 0.75]
    );
}

#[test]
fn segments_find_the_matching_windows() {
    let l = layout();
    let w = Weights::uniform(3);
    // Candidate windows: 0 = e1-ish, 1 = the query's window 1, 2 = the query's window 0
    // scaled, 3 = noise.
    let q = Array2::from_shape_vec(
        (2, 6),
        vec![
            1.0, 0.0, 0.0, 1.0, 1.0, 1.0, //
            0.0, 1.0, 1.0, 0.0, -1.0, 1.0,
        ],
    )
    .unwrap();
    let c = Array2::from_shape_vec(
        (4, 6),
        vec![
            1.0, 0.0, 1.0, 0.0, 0.0, 1.0, //
            0.0, 1.0, 1.0, 0.0, -1.0, 1.0, //
            3.0, 0.0, 0.0, 3.0, 3.0, 3.0, //
            -1.0, 0.2, 0.3, -0.5, 0.1, -1.0,
        ],
    )
    .unwrap();
    let m = match_segments(&l, q.view(), c.view(), &w, 3.0).unwrap();
    assert_eq!(m.per_query_window.len(), 2);
    let m0 = &m.per_query_window[0];
    assert_eq!((m0.query_window, m0.candidate_window), (0, 2));
    assert_eq!((m0.query_start_s, m0.candidate_start_s), (0.0, 6.0));
    assert!(close(m0.similarity.combined, 100.0));
    let m1 = &m.per_query_window[1];
    assert_eq!((m1.query_window, m1.candidate_window), (1, 1));
    assert_eq!((m1.query_start_s, m1.candidate_start_s), (3.0, 3.0));
    // Both are perfect matches: the best pair is the first of equals.
    assert_eq!(m.best, *m0);
    // The per-dimension scores are those of `compare`.
    let direct = compare(
        &l,
        q.row(1).as_slice().unwrap(),
        c.row(3).as_slice().unwrap(),
        &w,
    )
    .unwrap();
    let only = match_segments(
        &l,
        q.slice(ndarray::s![1..2, ..]),
        c.slice(ndarray::s![3..4, ..]),
        &w,
        3.0,
    )
    .unwrap();
    for (a, b) in only
        .best
        .similarity
        .per_dimension
        .iter()
        .zip(&direct.per_dimension)
    {
        assert!(close(*a, *b));
    }
    assert!(close(only.best.similarity.combined, direct.combined));
    // Weights change which window wins: only tempo counts, and candidate 0's tempo slice is
    // the closest to query window 1's after window 1 itself is removed.
    let tempo_only = Weights::new(vec![0.0, 0.0, 1.0]).unwrap();
    let m = match_segments(
        &l,
        q.slice(ndarray::s![1..2, ..]),
        c.slice(ndarray::s![2..4, ..]),
        &tempo_only,
        3.0,
    )
    .unwrap();
    assert_eq!(m.best.candidate_window, 0, "{m:?}");
    let m = match_segments(
        &l,
        q.slice(ndarray::s![1..2, ..]),
        c.slice(ndarray::s![2..4, ..]),
        &Weights::new(vec![1.0, 0.0, 0.0]).unwrap(),
        3.0,
    )
    .unwrap();
    assert_eq!(m.best.candidate_window, 1, "{m:?}");
    assert!(match_segments(&l, q.slice(ndarray::s![0..0, ..]), c.view(), &w, 3.0).is_err());
}
