//! Search against a brute-force reference built from `similarity::compare`, with and without
//! filters, and the recall of the int8 scan.

use kindred_engine::contract::EmbeddingLayout;
use kindred_engine::key::{Key, Mode};
use kindred_engine::search::{
    Filter, FlatIndex, KeyFilter, Scan, SearchIndex, TempoFilter, TrackMeta,
};
use kindred_engine::similarity::{Weights, compare};
use ndarray::Array2;
use rand::{Rng as _, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[path = "support/recall.rs"]
mod support;

type Rng = ChaCha8Rng;

/// Roughly normal (sum of four uniforms).
fn normal(rng: &mut Rng) -> f32 {
    (0..4).map(|_| rng.random::<f32>()).sum::<f32>() - 2.0
}

fn random_embeddings(rng: &mut Rng, n: usize, d: usize) -> Array2<f32> {
    Array2::from_shape_simple_fn((n, d), || normal(rng))
}

fn random_meta(rng: &mut Rng, n: usize) -> Vec<TrackMeta> {
    (0..n)
        .map(|_| TrackMeta {
            bpm: if rng.random::<f32>() < 0.05 {
                0.0
            } else {
                50.0 + 150.0 * rng.random::<f32>()
            },
            key: (rng.random::<f32>() > 0.1)
                .then(|| Key::from_index((rng.next_u64() % 24) as usize)),
            duration_s: 30.0 + 400.0 * rng.random::<f32>(),
        })
        .collect()
}

/// The filter rules of the search module's doc, written out independently.
fn reference_accepts(f: &Filter, id: usize, m: &TrackMeta) -> bool {
    if f.exclude == Some(id) {
        return false;
    }
    if let Some(t) = f.tempo {
        let factors: &[f32] = if t.octave_tolerant {
            &[0.25, 0.5, 1.0, 2.0, 4.0]
        } else {
            &[1.0]
        };
        if m.bpm <= 0.0
            || !factors
                .iter()
                .any(|x| (t.min_bpm..=t.max_bpm).contains(&(m.bpm * x)))
        {
            return false;
        }
    }
    if let Some(k) = f.key {
        let Some(key) = m.key else { return false };
        let allowed = if k.compatible {
            vec![
                k.key,
                k.key.relative(),
                k.key.parallel(),
                k.key.transpose(7),
                k.key.transpose(5),
            ]
        } else {
            vec![k.key]
        };
        if !allowed.contains(&key) {
            return false;
        }
    }
    if let Some((lo, hi)) = f.duration_s
        && !(lo..=hi).contains(&m.duration_s)
    {
        return false;
    }
    true
}

/// `(id, combined %)` of the best `k` by `compare`, ties to the lower id.
fn brute_force(
    layout: &EmbeddingLayout,
    data: &Array2<f32>,
    meta: &[TrackMeta],
    query: &[f32],
    weights: &Weights,
    k: usize,
    filter: &Filter,
) -> Vec<(usize, f32)> {
    let mut all: Vec<(usize, f32)> = data
        .rows()
        .into_iter()
        .enumerate()
        .filter(|(id, _)| reference_accepts(filter, *id, &meta[*id]))
        .map(|(id, row)| {
            let s = compare(layout, query, row.as_slice().unwrap(), weights).unwrap();
            (id, s.combined)
        })
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

fn filters() -> Vec<Filter> {
    vec![
        Filter::default(),
        Filter {
            tempo: Some(TempoFilter {
                min_bpm: 118.0,
                max_bpm: 126.0,
                octave_tolerant: false,
            }),
            ..Filter::default()
        },
        Filter {
            tempo: Some(TempoFilter {
                min_bpm: 118.0,
                max_bpm: 126.0,
                octave_tolerant: true,
            }),
            exclude: Some(3),
            ..Filter::default()
        },
        Filter {
            key: Some(KeyFilter {
                key: Key::new(9, Mode::Minor),
                compatible: false,
            }),
            ..Filter::default()
        },
        Filter {
            key: Some(KeyFilter {
                key: Key::new(0, Mode::Major),
                compatible: true,
            }),
            duration_s: Some((120.0, 300.0)),
            ..Filter::default()
        },
        Filter {
            tempo: Some(TempoFilter {
                min_bpm: 60.0,
                max_bpm: 90.0,
                octave_tolerant: true,
            }),
            key: Some(KeyFilter {
                key: Key::new(4, Mode::Minor),
                compatible: true,
            }),
            duration_s: Some((0.0, 200.0)),
            exclude: None,
        },
    ]
}

#[test]
fn both_scans_return_the_exact_top_k_with_filters() {
    let layout = EmbeddingLayout::six();
    let d = layout.embedding_size();
    let mut rng = Rng::seed_from_u64(7);
    let n = 3000;
    let data = random_embeddings(&mut rng, n, d);
    let meta = random_meta(&mut rng, n);
    let mut index = FlatIndex::new(&layout, data.view(), meta.clone()).unwrap();
    assert_eq!(index.len(), n);
    let weight_sets = [
        Weights::uniform(6),
        Weights::new(vec![3.0, 0.0, 1.0, 0.5, 2.0, 0.0]).unwrap(),
    ];
    for (fi, filter) in filters().iter().enumerate() {
        for weights in &weight_sets {
            for qi in 0..3 {
                let query: Vec<f32> = (0..d).map(|_| normal(&mut rng)).collect();
                for k in [1, 10, 25] {
                    let want = brute_force(&layout, &data, &meta, &query, weights, k, filter);
                    assert!(!want.is_empty(), "filter {fi} rejects everything");
                    for scan in [
                        Scan::Exact,
                        Scan::Quantized {
                            candidates_per_k: 10,
                        },
                    ] {
                        index.set_scan(scan);
                        let got = index.search(&query, weights, k, filter).unwrap();
                        let ids: Vec<usize> = got.iter().map(|h| h.id).collect();
                        let want_ids: Vec<usize> = want.iter().map(|w| w.0).collect();
                        assert_eq!(ids, want_ids, "{scan:?} filter {fi} query {qi} k {k}");
                        for (h, w) in got.iter().zip(&want) {
                            assert!((h.score - w.1).abs() < 1e-3, "{h:?} vs {w:?}");
                            let s = compare(
                                &layout,
                                &query,
                                data.row(h.id).as_slice().unwrap(),
                                weights,
                            )
                            .unwrap();
                            for (a, b) in h.per_dimension.iter().zip(&s.per_dimension) {
                                assert!((a - b).abs() < 1e-3);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn a_track_finds_itself_and_exclusion_and_small_k_work() {
    let layout = EmbeddingLayout::new(&["a", "b"], 8);
    let mut rng = Rng::seed_from_u64(11);
    let data = random_embeddings(&mut rng, 50, 16);
    let meta = random_meta(&mut rng, 50);
    let index = FlatIndex::new(&layout, data.view(), meta).unwrap();
    let w = Weights::uniform(2);
    let q = data.row(17).to_vec();
    let hits = index.search(&q, &w, 3, &Filter::default()).unwrap();
    assert_eq!(hits[0].id, 17);
    assert!((hits[0].score - 100.0).abs() < 1e-3);
    let hits = index
        .search(
            &q,
            &w,
            3,
            &Filter {
                exclude: Some(17),
                ..Filter::default()
            },
        )
        .unwrap();
    assert!(hits.iter().all(|h| h.id != 17) && hits.len() == 3);
    assert!(
        index
            .search(&q, &w, 0, &Filter::default())
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        index.search(&q, &w, 500, &Filter::default()).unwrap().len(),
        50
    );
    assert!(index.search(&q[..5], &w, 3, &Filter::default()).is_err());
    assert!(
        index
            .search(&q, &Weights::uniform(3), 3, &Filter::default())
            .is_err()
    );
    let bad = Filter {
        duration_s: Some((10.0, 1.0)),
        ..Filter::default()
    };
    assert!(index.search(&q, &w, 3, &bad).is_err());
}

#[test]
fn quantized_recall_at_10_is_at_least_0_99() {
    let layout = EmbeddingLayout::six();
    let d = layout.embedding_size();
    let mut rng = Rng::seed_from_u64(1234);
    let n = 20_000;
    let data = random_embeddings(&mut rng, n, d);
    let meta = random_meta(&mut rng, n);
    let index = FlatIndex::new(&layout, data.view(), meta).unwrap();
    let weight_sets = [
        Weights::uniform(6),
        Weights::new(vec![1.0, 0.2, 0.0, 0.0, 3.0, 1.0]).unwrap(),
    ];
    let (mut found, mut total) = (0usize, 0usize);
    for weights in &weight_sets {
        // Half random directions (the hardest case), half near an indexed track.
        let queries: Vec<Vec<f32>> = (0..100)
            .map(|qi| {
                if qi % 2 == 0 {
                    (0..d).map(|_| normal(&mut rng)).collect()
                } else {
                    let row = data.row((rng.next_u64() % n as u64) as usize);
                    row.iter().map(|v| v + 0.8 * normal(&mut rng)).collect()
                }
            })
            .collect();
        let (f, t) = support::found_of_top10(&index, &queries, weights, 10);
        found += f;
        total += t;
    }
    let recall = found as f64 / total as f64;
    eprintln!("int8 recall@10 over {total} results: {recall:.4}");
    assert!(recall >= 0.99, "recall {recall}");
}

#[test]
fn an_index_over_a_library_uses_its_tracks_in_order() {
    use kindred_engine::key::KeyEstimate;
    use kindred_engine::library::{FileStamp, IndexedTrack, Library, TrackInfo};
    use kindred_engine::tempo::TempoEstimate;
    let dir = tempfile::TempDir::new().unwrap();
    let layout = EmbeddingLayout::new(&["a", "b"], 4);
    let mut lib = Library::create(&dir.path().join("l.kindred"), "m", &layout).unwrap();
    let mut rng = Rng::seed_from_u64(5);
    for i in 0..20 {
        let windows = random_embeddings(&mut rng, 3, 8);
        lib.upsert(IndexedTrack {
            info: TrackInfo {
                path: format!("/m/{i}.wav").into(),
                stamp: FileStamp {
                    size: 1,
                    mtime_ns: 1,
                },
                hash: i,
                duration_s: 9.0 + i as f64,
                tempo: TempoEstimate {
                    bpm: 100.0 + i as f32,
                    confidence: 1.0,
                },
                key: KeyEstimate {
                    key: Key::new(2, Mode::Major),
                    correlation: 0.9,
                    confidence: if i % 2 == 0 { 0.5 } else { 0.0 },
                },
            },
            windows,
        })
        .unwrap();
    }
    lib.remove(std::path::Path::new("/m/4.wav")).unwrap();
    let index = FlatIndex::from_library(&lib).unwrap();
    assert_eq!(index.len(), 19);
    let target = lib.position(std::path::Path::new("/m/7.wav")).unwrap();
    let q = lib.tracks()[target].mean.clone();
    let hits = index
        .search(&q, &Weights::uniform(2), 1, &Filter::default())
        .unwrap();
    assert_eq!(hits[0].id, target);
    // Only even tracks have a key; the key filter sees that.
    let keyed = Filter {
        key: Some(KeyFilter {
            key: Key::new(2, Mode::Major),
            compatible: false,
        }),
        ..Filter::default()
    };
    let hits = index.search(&q, &Weights::uniform(2), 19, &keyed).unwrap();
    assert_eq!(hits.len(), 9);
    for h in hits {
        assert!(lib.tracks()[h.id].key().is_some());
    }
}
