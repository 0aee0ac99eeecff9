//! Triplet prediction scores on hand-made embeddings.

use kindred_engine::contract::EmbeddingLayout;
use kindred_engine::evaluation::{DimensionMask, Score, Triplet, TripletDistances, triplet_score};
use ndarray::{Array2, array};

fn layout() -> EmbeddingLayout {
    EmbeddingLayout::new(&["genre", "mood", "tempo"], 2)
}

/// Tracks: 0 anchor at the origin; 1 close in genre, far in mood; 2 far in genre, close in
/// mood; tempo slice: 1 at distance 1, 2 at distance 2; 3 equals 0 in every slice.
fn embeddings() -> Array2<f32> {
    array![
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0, 5.0, 1.0, 0.0],
        [0.0, 4.0, 1.0, 0.0, 0.0, 2.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    ]
}

fn t(anchor: usize, positive: usize, negative: usize, dimension: usize) -> Triplet {
    Triplet {
        anchor,
        positive,
        negative,
        dimension,
    }
}

#[test]
fn scores_on_slices_subsets_and_the_full_embedding() {
    let l = layout();
    let e = embeddings();
    // Distances² from 0: to 1 = (1, 25, 1) = 27 total; to 2 = (16, 1, 4) = 21 total.
    let triplets = [
        t(0, 1, 2, 0), // genre: 1 < 16 ✓ ; full: 27 > 21 ✗
        t(0, 2, 1, 1), // mood: 1 < 25 ✓ ; full ✓
        t(0, 2, 1, 2), // tempo: 4 > 1 ✗ ; full ✓
        t(0, 1, 2, 2), // tempo: 1 < 4 ✓ ; full ✗
    ];
    let dist = TripletDistances::new(&l, e.view(), &triplets).unwrap();
    assert_eq!(dist.len(), 4);
    assert_eq!(
        dist.score_own_dimension(),
        Score {
            correct: 3,
            total: 4
        }
    );
    assert_eq!(
        dist.score_full(),
        Score {
            correct: 2,
            total: 4
        }
    );
    assert_eq!(
        dist.score_per_dimension(),
        vec![
            Score {
                correct: 1,
                total: 1
            },
            Score {
                correct: 1,
                total: 1
            },
            Score {
                correct: 1,
                total: 2
            },
        ]
    );
    assert_eq!(dist.score_full().fraction(), Some(0.5));
    let subsets = dist.score_subsets(&l);
    assert_eq!(subsets.len(), 7);
    let by_names = |n: &str| subsets.iter().find(|s| s.names == n).unwrap().score.correct;
    // genre: 1<16 ✓, 16>1 ✗, 16>1 ✗, 1<16 ✓ → 2.
    assert_eq!(by_names("genre"), 2);
    // mood: 25>1 ✗, 1<25 ✓, 1<25 ✓, 25>1 ✗ → 2.
    assert_eq!(by_names("mood"), 2);
    // tempo: 1<4 ✓, 4>1 ✗, 4>1 ✗, 1<4 ✓ → 2.
    assert_eq!(by_names("tempo"), 2);
    // genre+mood: 26 vs 17 → ✗, ✓, ✓, ✗ → 2.
    assert_eq!(by_names("genre+mood"), 2);
    // genre+tempo: 2 vs 20 → ✓, ✗, ✗, ✓ → 2.
    assert_eq!(by_names("genre+tempo"), 2);
    // mood+tempo: 26 vs 5 → ✗, ✓, ✓, ✗ → 2.
    assert_eq!(by_names("mood+tempo"), 2);
    assert_eq!(by_names("genre+mood+tempo"), 2);
    assert_eq!(subsets[6].mask, DimensionMask::all(3));
    assert_eq!(
        triplet_score(&l, e.view(), &triplets, DimensionMask(0b101)).unwrap(),
        Score {
            correct: 2,
            total: 4
        }
    );
}

#[test]
fn six_dimensions_have_63_subsets() {
    let l = EmbeddingLayout::six();
    let e = Array2::from_shape_fn((3, 384), |(i, j)| ((i * 384 + j) as f32 * 0.01).sin());
    let dist = TripletDistances::new(&l, e.view(), &[t(0, 1, 2, 5)]).unwrap();
    let subsets = dist.score_subsets(&l);
    assert_eq!(subsets.len(), 63);
    assert_eq!(subsets[0].names, "genre");
    assert_eq!(subsets[62].names, "genre+mood+instrument+era+tempo+key");
}

#[test]
fn ties_fail_and_bad_input_is_refused() {
    let l = layout();
    let e = embeddings();
    // Track 3 equals the anchor, so positive = negative = the same distance 0: a tie.
    let ties = [t(0, 3, 3, 0), t(0, 1, 1, 1)];
    let dist = TripletDistances::new(&l, e.view(), &ties).unwrap();
    assert_eq!(
        dist.score_full(),
        Score {
            correct: 0,
            total: 2
        }
    );
    assert_eq!(dist.score_own_dimension().correct, 0);
    // Positive identical to the anchor beats anything else.
    assert_eq!(
        triplet_score(&l, e.view(), &[t(0, 3, 1, 0)], DimensionMask::all(3))
            .unwrap()
            .correct,
        1
    );
    assert!(TripletDistances::new(&l, e.view(), &[t(0, 9, 1, 0)]).is_err());
    assert!(TripletDistances::new(&l, e.view(), &[t(0, 1, 2, 3)]).is_err());
    assert!(TripletDistances::new(&EmbeddingLayout::six(), e.view(), &[]).is_err());
    let empty = TripletDistances::new(&l, e.view(), &[]).unwrap();
    assert_eq!(empty.score_full().fraction(), None);
}
