//! The render design and the split, without rendering anything.

use std::collections::BTreeMap;

use kindred_trainer::data::labels::{Family, Mood};
use kindred_trainer::data::pieces::Piece;
use kindred_trainer::data::plan::{
    BaseRotation, Split, Variation, assign_splits, plan_piece, positions, renders_per_piece,
};

fn piece(i: usize, key: &str) -> Piece {
    Piece {
        id: format!("p{i:03}"),
        midi: String::new(),
        corpus_path: String::new(),
        number: None,
        title: String::new(),
        composer: String::new(),
        genre: ["reel", "jig", "chorale"][i % 3].into(),
        genre_source: String::new(),
        era: "traditional".into(),
        year: None,
        era_source: String::new(),
        key: key.into(),
        key_source: String::new(),
        key_signature: None,
        beat_quarters: 1.0,
        licence: String::new(),
    }
}

#[test]
fn base_renders_are_balanced_and_plans_reproducible() {
    let rotation = BaseRotation::new(3);
    let mut families = BTreeMap::new();
    let mut moods = BTreeMap::new();
    let mut keys = BTreeMap::new();
    let pieces: Vec<Piece> = (0..96)
        .map(|i| piece(i, if i % 2 == 0 { "D minor" } else { "Eb major" }))
        .collect();
    let refs: Vec<&Piece> = pieces.iter().collect();
    let at = positions(&refs).unwrap();
    for (i, p) in pieces.iter().enumerate() {
        let specs = plan_piece(p, at[i], &rotation, 3, 2).unwrap();
        assert_eq!(specs.len() as u32, renders_per_piece(2));
        assert_eq!(specs, plan_piece(p, at[i], &rotation, 3, 2).unwrap());
        let other = plan_piece(p, at[i], &BaseRotation::new(4), 4, 2).unwrap();
        assert_ne!(specs, other);
        let base = &specs[0];
        assert_eq!(base.variation, Variation::Base);
        *families.entry(base.family).or_insert(0) += 1;
        *moods.entry(base.mood).or_insert(0) += 1;
        *keys.entry(base.key.clone()).or_insert(0) += 1;
        for s in &specs {
            assert!((60.0..=180.0).contains(&s.bpm));
            assert!((-6..=5).contains(&s.transpose));
            // The mode is kept.
            assert_eq!(s.key.ends_with("minor"), i % 2 == 0, "{}", s.key);
            if s.variation == Variation::Tempo {
                assert!((s.bpm - base.bpm).abs() >= 20.0);
            }
        }
    }
    assert!(
        families.values().all(|&n| n == 96 / Family::ALL.len()),
        "{families:?}"
    );
    assert!(
        moods.values().all(|&n| n == 96 / Mood::ALL.len()),
        "{moods:?}"
    );
    // 12 transpositions of a minor and a major piece: all 24 keys, 4 times each.
    assert_eq!(keys.len(), 24, "{keys:?}");
    assert!(keys.values().all(|&n| n == 4), "{keys:?}");
}

#[test]
fn splits_follow_the_fractions_per_genre() {
    let items: Vec<(String, String)> = (0..120)
        .map(|i| (format!("p{i}"), ["a", "b", "c", "d"][i % 4].to_string()))
        .collect();
    let splits = assign_splits(&items, [0.7, 0.15, 0.15], 1);
    assert_eq!(splits, assign_splits(&items, [0.7, 0.15, 0.15], 1));
    assert_ne!(splits, assign_splits(&items, [0.7, 0.15, 0.15], 2));
    let count = |s: Split, g: Option<&str>| {
        items
            .iter()
            .zip(&splits)
            .filter(|((_, genre), split)| **split == s && g.is_none_or(|g| g == genre))
            .count()
    };
    assert_eq!(
        [
            count(Split::Train, None),
            count(Split::Validation, None),
            count(Split::Test, None)
        ],
        [84, 18, 18]
    );
    for g in ["a", "b", "c", "d"] {
        let train = count(Split::Train, Some(g));
        assert!(
            (19..=23).contains(&train),
            "genre {g}: {train} of 30 in train"
        );
        assert!(count(Split::Validation, Some(g)) >= 3 && count(Split::Test, Some(g)) >= 3);
    }
}
