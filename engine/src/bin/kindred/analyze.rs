//! `kindred analyze`: duration, format, tempo and key of many files, in parallel; a file that
//! fails is reported and skipped.

use std::path::PathBuf;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use kindred_engine::FrontEndConfig;
use kindred_engine::analysis::{Analyzer, TrackAnalysis};
use rayon::prelude::*;
use serde_json::json;

/// Print duration, sample rate, channels, windows, tempo and key of each AUDIO file.
#[derive(clap::Args)]
pub struct Args {
    /// Audio files (wav, flac, mp3, ogg/vorbis, aiff).
    #[arg(required = true)]
    audio: Vec<PathBuf>,
    /// Print one JSON array instead of a table.
    #[arg(long)]
    json: bool,
    /// Files analysed at once (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()?;
    let progress = ProgressBar::new(args.audio.len() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files, {per_sec}, ETA {eta} {msg}")?,
    );
    if args.audio.len() < 2 {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let results: Vec<_> = pool.install(|| {
        args.audio
            .par_iter()
            .map_init(
                || Analyzer::new(FrontEndConfig::default()),
                |analyzer, path| {
                    let result = analyzer.analyze(path);
                    progress.inc(1);
                    result
                },
            )
            .collect()
    });
    progress.finish_and_clear();

    let mut failed = 0;
    let mut rows = Vec::new();
    for (path, result) in args.audio.iter().zip(results) {
        match result {
            Ok(analysis) => {
                super::warn_repairs(&analysis);
                rows.push(to_json(&analysis));
            }
            Err(err) => {
                failed += 1;
                eprintln!("error: {err}");
                rows.push(json!({ "path": path, "error": err.to_string() }));
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print_table(&rows);
    }
    if failed > 0 {
        eprintln!(
            "{failed} of {} files could not be analysed",
            args.audio.len()
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

fn to_json(a: &TrackAnalysis) -> serde_json::Value {
    json!({
        "path": a.info.path,
        "duration_s": a.duration,
        "sample_rate": a.info.sample_rate,
        "channels": a.info.channels,
        "codec": a.info.codec,
        "windows": a.windows,
        "tempo_bpm": a.tempo.bpm,
        "tempo_confidence": a.tempo.confidence,
        "key": a.key.key.to_string(),
        "key_confidence": a.key.confidence,
        "non_finite_samples": a.non_finite_samples,
    })
}

fn print_table(rows: &[serde_json::Value]) {
    println!(
        "{:>9} {:>7} {:>3} {:>7} {:>7} {:>5} {:<9} {:>5}  file",
        "duration", "rate", "ch", "windows", "BPM", "conf", "key", "conf"
    );
    for row in rows.iter().filter(|r| r.get("error").is_none()) {
        println!(
            "{:>8.1}s {:>7} {:>3} {:>7} {:>7.1} {:>5.2} {:<9} {:>5.2}  {}",
            row["duration_s"].as_f64().unwrap_or(0.0),
            row["sample_rate"].as_u64().unwrap_or(0),
            row["channels"].as_u64().unwrap_or(0),
            row["windows"].as_u64().unwrap_or(0),
            row["tempo_bpm"].as_f64().unwrap_or(0.0),
            row["tempo_confidence"].as_f64().unwrap_or(0.0),
            row["key"].as_str().unwrap_or(""),
            row["key_confidence"].as_f64().unwrap_or(0.0),
            row["path"].as_str().unwrap_or(""),
        );
    }
}
