//! Query latency of [`FlatIndex`]: top-10 by combined similarity (uniform weights, no filter,
//! and one tempo + compatible-key filter) over 10 000, 100 000 and 1 000 000 synthetic tracks
//! of the 6 × 64 layout, on one thread, for the exact f32 scan and the int8 scan with exact
//! re-scoring. Before timing, each size prints the int8 path's recall@10 against the exact
//! scan for 1, 2, 5 and 10 candidates per result.
//!
//! Embeddings are uniform in [−1, 1] per value from a seeded SplitMix64 (their direction is
//! all that matters after slice normalisation). The 1 M index holds 1.5 GB of f32 plus 384 MB
//! of int8. In criterion's test mode (`cargo bench -- --test`, `cargo test --all-targets`)
//! only 10 000 tracks are built and each benchmark runs once.

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use kindred_engine::contract::EmbeddingLayout;
use kindred_engine::key::Key;
use kindred_engine::search::{Filter, FlatIndex, KeyFilter, Scan, TempoFilter, TrackMeta};
use kindred_engine::similarity::Weights;
use ndarray::Array2;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn build(n: usize, layout: &EmbeddingLayout, rng: &mut ChaCha8Rng) -> FlatIndex {
    let d = layout.embedding_size();
    let data = Array2::from_shape_simple_fn((n, d), || rng.random_range(-1.0f32..1.0));
    let meta = (0..n)
        .map(|_| TrackMeta {
            bpm: 60.0 + 120.0 * (rng.random_range(-1.0f32..1.0) + 1.0) / 2.0,
            key: Some(Key::from_index((rng.next_u64() % 24) as usize)),
            duration_s: 200.0,
        })
        .collect();
    FlatIndex::new(layout, data.view(), meta).expect("valid input")
}

#[path = "../tests/support/recall.rs"]
mod support;

fn recall(index: &FlatIndex, queries: &[Vec<f32>], weights: &Weights, per_k: usize) -> f64 {
    let (found, total) = support::found_of_top10(index, queries, weights, per_k);
    found as f64 / total as f64
}

/// Nanoseconds this thread has spent on a CPU (Linux `schedstat`), to tell the scan's own
/// cost from time spent waiting for a core on a loaded machine. `None` elsewhere.
fn on_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Mean wall and on-CPU milliseconds per query over `queries` (each run `reps` times).
fn per_query_ms(reps: usize, mut run: impl FnMut(usize)) -> (f64, Option<f64>) {
    let cpu0 = on_cpu_ns();
    let t0 = std::time::Instant::now();
    for i in 0..reps {
        run(i);
    }
    let wall = t0.elapsed().as_secs_f64() * 1e3 / reps as f64;
    let cpu = on_cpu_ns()
        .zip(cpu0)
        .map(|(b, a)| (b - a) as f64 / 1e6 / reps as f64);
    (wall, cpu)
}

/// Criterion's own rule: benchmark under `cargo bench` (`--bench`) unless `--test` is given.
fn is_test_mode() -> bool {
    let has = |flag: &str| std::env::args().any(|a| a == flag);
    !has("--bench") || has("--test") || has("--list")
}

fn main() {
    let test_mode = is_test_mode();
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let layout = EmbeddingLayout::six();
    let d = layout.embedding_size();
    let weights = Weights::uniform(6);
    let filter = Filter {
        tempo: Some(TempoFilter {
            min_bpm: 115.0,
            max_bpm: 125.0,
            octave_tolerant: true,
        }),
        key: Some(KeyFilter {
            key: "A minor".parse().unwrap(),
            compatible: true,
        }),
        ..Filter::default()
    };
    let sizes: &[usize] = if test_mode {
        &[10_000]
    } else {
        &[10_000, 100_000, 1_000_000]
    };
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let queries: Vec<Vec<f32>> = (0..16)
        .map(|_| (0..d).map(|_| rng.random_range(-1.0f32..1.0)).collect())
        .collect();
    for &n in sizes {
        let index = build(n, &layout, &mut rng);
        if !test_mode {
            let r: Vec<String> = [1, 2, 5, 10]
                .iter()
                .map(|&per_k| format!("{per_k}: {:.4}", recall(&index, &queries, &weights, per_k)))
                .collect();
            println!(
                "{n} tracks ({} MB): int8 recall@10 by candidates per result — {}",
                index.memory_bytes() >> 20,
                r.join(", ")
            );
        }
        if !test_mode {
            for (name, scan, filt) in [
                ("exact", Scan::Exact, &Filter::default()),
                ("int8", Scan::default(), &Filter::default()),
                ("int8_filtered", Scan::default(), &filter),
            ] {
                let reps = if n >= 1_000_000 { 16 } else { 64 };
                let (wall, cpu) = per_query_ms(reps, |i| {
                    black_box(
                        index
                            .search_with(scan, &queries[i % queries.len()], &weights, 10, filt)
                            .unwrap(),
                    );
                });
                println!(
                    "{n} tracks, {name}: {wall:.3} ms/query wall, {} ms/query on CPU",
                    cpu.map_or("?".into(), |c| format!("{c:.3}"))
                );
            }
        }
        let mut group = c.benchmark_group(format!("search_top10/{n}"));
        if n >= 1_000_000 {
            group.sample_size(10);
        }
        for (name, scan, filt) in [
            ("exact", Scan::Exact, &Filter::default()),
            ("int8", Scan::default(), &Filter::default()),
            ("int8_filtered", Scan::default(), &filter),
        ] {
            let mut i = 0;
            group.bench_function(name, |b| {
                b.iter(|| {
                    i = (i + 1) % queries.len();
                    black_box(
                        index
                            .search_with(scan, &queries[i], &weights, 10, filt)
                            .unwrap(),
                    )
                })
            });
        }
        group.finish();
    }
    c.final_summary();
}
