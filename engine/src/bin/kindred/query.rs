//! `kindred query`: the library tracks most similar to an audio file, dimension by dimension.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use kindred_engine::embedding::TrackEmbedder;
use kindred_engine::indexing;
use kindred_engine::key::Key;
use kindred_engine::library::Library;
use kindred_engine::search::{Filter, FlatIndex, KeyFilter, SearchIndex, TempoFilter};
use kindred_engine::similarity::{Weights, match_segments};
use serde_json::json;

use crate::model::{ModelArgs, ScoreArgs, clock, embed_or_lookup, key_name, shown};

/// Find the library tracks most similar to AUDIO: per-dimension similarity (0–100 %) and the
/// weighted combined score, optionally filtered by tempo, key and duration.
#[derive(clap::Args)]
pub struct Args {
    /// The query audio file.
    audio: PathBuf,
    /// The library to search (made by `kindred index`).
    #[arg(long, value_name = "LIB")]
    library: PathBuf,
    /// Number of matches.
    #[arg(long, default_value_t = 10, value_name = "K")]
    top: usize,
    /// Only tracks with a tempo in this range, e.g. `118-124`.
    #[arg(long, value_name = "LO-HI")]
    bpm: Option<String>,
    /// With --bpm, also accept half, double (and ¼, 4×) tempo.
    #[arg(long, requires = "bpm")]
    tempo_octaves: bool,
    /// Only tracks in this key, e.g. `A minor`, `F#m`, `8A`.
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
    /// With --key, also accept compatible keys (relative, parallel, fifth neighbours).
    #[arg(long, requires = "key")]
    compatible_keys: bool,
    /// Only tracks whose duration in seconds is in this range, e.g. `60-300`.
    #[arg(long, value_name = "LO-HI")]
    duration: Option<String>,
    /// For each match, where the two tracks are most alike (best pair of 3 s windows).
    #[arg(long)]
    segments: bool,
    #[command(flatten)]
    score: ScoreArgs,
    #[command(flatten)]
    model: ModelArgs,
}

/// `LO-HI` as two numbers.
fn range(text: &str, what: &str) -> anyhow::Result<(f32, f32)> {
    let (lo, hi) = text
        .split_once('-')
        .with_context(|| format!("{what} `{text}` is not of the form LO-HI"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<f32>()
            .with_context(|| format!("{what} `{text}`: `{v}` is not a number"))
    };
    Ok((parse(lo)?, parse(hi)?))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let embedder = args.model.load()?;
    let model_id = indexing::model_id(&embedder)?;
    let layout = embedder.contract().layout.clone();
    let library = Library::open_for(&args.library, &model_id, &layout)?;
    if library.is_empty() {
        bail!(
            "{}: the library has no tracks; add some with `kindred index`",
            args.library.display()
        );
    }
    let weights = Weights::parse(&layout, &args.score.weights)?;
    let mut filter = Filter::default();
    if let Some(bpm) = &args.bpm {
        let (min_bpm, max_bpm) = range(bpm, "--bpm")?;
        filter.tempo = Some(TempoFilter {
            min_bpm,
            max_bpm,
            octave_tolerant: args.tempo_octaves,
        });
    }
    if let Some(key) = &args.key {
        filter.key = Some(KeyFilter {
            key: key.parse::<Key>()?,
            compatible: args.compatible_keys,
        });
    }
    if let Some(duration) = &args.duration {
        filter.duration_s = Some(range(duration, "--duration")?);
    }

    let mut embedder = TrackEmbedder::new(embedder);
    let query = embed_or_lookup(&mut embedder, Some(&library), &args.audio)?;
    let index = FlatIndex::from_library(&library)?;
    let hits = index.search(&query.mean, &weights, args.top, &filter)?;

    let mut rows = Vec::new();
    for (rank, hit) in hits.iter().enumerate() {
        let track = &library.tracks()[hit.id];
        let segment = if args.segments {
            let m = match_segments(
                &layout,
                query.windows.view(),
                library.windows(hit.id)?.view(),
                &weights,
                library.window_seconds(),
            )?;
            Some(json!({
                "query_start_s": m.best.query_start_s,
                "candidate_start_s": m.best.candidate_start_s,
                "score": m.best.similarity.combined,
            }))
        } else {
            None
        };
        let per_dimension: serde_json::Map<String, serde_json::Value> = layout
            .dimensions
            .iter()
            .zip(&hit.per_dimension)
            .map(|(n, v)| (n.clone(), json!(v)))
            .collect();
        rows.push(json!({
            "rank": rank + 1,
            "path": track.info.path,
            "score": hit.score,
            "per_dimension": per_dimension,
            "bpm": track.info.tempo.bpm,
            "key": track.key().map(|k| k.to_string()),
            "duration_s": track.info.duration_s,
            "segment": segment,
        }));
    }
    if args.score.json {
        let out = json!({
            "query": {
                "path": query.path,
                "duration_s": query.duration_s,
                "bpm": query.bpm,
                "key": query.key.map(|k| k.to_string()),
            },
            "library": args.library,
            "weights": layout.dimensions.iter().zip(weights.as_slice()).map(|(n, w)| (n.clone(), json!(w))).collect::<serde_json::Map<_, _>>(),
            "matches": rows,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "query: {} ({}, {:.1} BPM, {}); weights {weights}",
        shown(&query.path),
        clock(query.duration_s),
        query.bpm,
        key_name(query.key)
    );
    if rows.is_empty() {
        println!("no track of {} passes the filters", library.len());
        return Ok(ExitCode::SUCCESS);
    }
    let short: Vec<String> = layout
        .dimensions
        .iter()
        .map(|d| d.chars().take(5).collect())
        .collect();
    print!("{:>3} {:>6} ", "#", "all");
    short.iter().for_each(|d| print!(" {d:>5}"));
    println!("  {:>6} {:<9} {:>5}  track", "BPM", "key", "dur");
    for (rank, (row, hit)) in rows.iter().zip(&hits).enumerate() {
        print!("{:>3} {:>5.1}% ", rank + 1, hit.score);
        hit.per_dimension.iter().for_each(|v| print!(" {v:>5.1}"));
        let track = &library.tracks()[hit.id];
        println!(
            "  {:>6.1} {:<9} {:>5}  {}",
            track.info.tempo.bpm,
            key_name(track.key()),
            clock(track.info.duration_s),
            shown(&track.info.path)
        );
        if let Some(seg) = row["segment"].as_object() {
            println!(
                "{:>11} most alike: query {} ↔ match {} ({:.1} %)",
                "",
                clock(seg["query_start_s"].as_f64().unwrap_or(0.0)),
                clock(seg["candidate_start_s"].as_f64().unwrap_or(0.0)),
                seg["score"].as_f64().unwrap_or(0.0)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
