//! `kindred compare`: how alike two files are, dimension by dimension, and where.

use std::path::PathBuf;
use std::process::ExitCode;

use kindred_engine::embedding::TrackEmbedder;
use kindred_engine::library::WINDOW_SECONDS;
use kindred_engine::similarity::{Weights, compare, match_segments};
use serde_json::json;

use crate::model::{ModelArgs, ScoreArgs, clock, embed_or_lookup, key_name, shown};

/// Per-dimension similarity (0–100 %) of two audio files, their combined score, and the best
/// matching 3 s segments.
#[derive(clap::Args)]
pub struct Args {
    a: PathBuf,
    b: PathBuf,
    /// Also list, for every 3 s window of A, the window of B that matches it best.
    #[arg(long)]
    segments: bool,
    #[command(flatten)]
    score: ScoreArgs,
    #[command(flatten)]
    model: ModelArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let embedder = args.model.load()?;
    let layout = embedder.contract().layout.clone();
    let weights = Weights::parse(&layout, &args.score.weights)?;
    let mut embedder = TrackEmbedder::new(embedder);
    let a = embed_or_lookup(&mut embedder, None, &args.a)?;
    let b = embed_or_lookup(&mut embedder, None, &args.b)?;
    let similarity = compare(&layout, &a.mean, &b.mean, &weights)?;
    let segments = match_segments(
        &layout,
        a.windows.view(),
        b.windows.view(),
        &weights,
        WINDOW_SECONDS,
    )?;
    if args.score.json {
        let per_dimension: serde_json::Map<String, serde_json::Value> = layout
            .dimensions
            .iter()
            .zip(&similarity.per_dimension)
            .map(|(n, v)| (n.clone(), json!(v)))
            .collect();
        let seg = |m: &kindred_engine::similarity::SegmentMatch| json!({"a_start_s": m.query_start_s, "b_start_s": m.candidate_start_s, "score": m.similarity.combined});
        let track = |q: &crate::model::Query| json!({"path": q.path, "duration_s": q.duration_s, "bpm": q.bpm, "key": q.key.map(|k| k.to_string())});
        let out = json!({
            "a": track(&a),
            "b": track(&b),
            "per_dimension": per_dimension,
            "combined": similarity.combined,
            "best_segment": seg(&segments.best),
            "segments": if args.segments { segments.per_query_window.iter().map(seg).collect::<Vec<_>>() } else { Vec::new() },
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    for (label, q) in [("A", &a), ("B", &b)] {
        println!(
            "{label}: {} ({}, {:.1} BPM, {})",
            shown(&q.path),
            clock(q.duration_s),
            q.bpm,
            key_name(q.key)
        );
    }
    for (name, v) in layout.dimensions.iter().zip(&similarity.per_dimension) {
        println!(
            "{name:>12} {v:>5.1} % {}",
            "█".repeat((v / 5.0).round() as usize)
        );
    }
    println!(
        "{:>12} {:>5.1} %  (weights {weights})",
        "combined", similarity.combined
    );
    println!(
        "most alike: A {} ↔ B {} ({:.1} %)",
        clock(segments.best.query_start_s),
        clock(segments.best.candidate_start_s),
        segments.best.similarity.combined
    );
    if args.segments {
        for m in &segments.per_query_window {
            println!(
                "  A {} ↔ B {}  {:>5.1} %",
                clock(m.query_start_s),
                clock(m.candidate_start_s),
                m.similarity.combined
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
