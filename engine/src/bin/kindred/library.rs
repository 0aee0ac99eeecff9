//! `kindred library`: inspect and edit a reference library.

use std::path::PathBuf;
use std::process::ExitCode;

use kindred_engine::library::Library;
use serde_json::json;

use crate::model::{clock, key_name, shown};

/// Inspect or edit a library file.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Summary: model, tracks, hours, failures, file health.
    Info {
        library: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Every track with duration, tempo, key and windows.
    List {
        library: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Remove tracks (by path) from the library.
    Remove {
        library: PathBuf,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Rewrite the file without superseded records.
    Compact { library: PathBuf },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Info { library, json } => {
            let lib = Library::open(&library)?;
            let info = lib.info();
            let failures: Vec<_> = lib
                .failures()
                .map(|f| json!({"path": f.path, "error": f.message}))
                .collect();
            if json {
                let out = json!({
                    "path": info.path,
                    "format_version": info.format_version,
                    "model": info.model_id,
                    "dimensions": info.layout.dimensions,
                    "tracks": info.tracks,
                    "windows": info.windows,
                    "duration_s": info.duration_s,
                    "records": info.records,
                    "dead_records": info.dead_records,
                    "file_bytes": info.file_bytes,
                    "recovered_torn_record_at": info.recovered.map(|r| r.offset),
                    "failures": failures,
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("library   {}", info.path.display());
                println!("format    version {}", info.format_version);
                println!(
                    "model     {} ({})",
                    info.model_id,
                    info.layout.dimensions.join(", ")
                );
                println!(
                    "tracks    {} ({:.2} h, {} windows of {} s)",
                    info.tracks,
                    info.duration_s / 3600.0,
                    info.windows,
                    info.window_seconds
                );
                println!(
                    "file      {} bytes, {} records ({} superseded)",
                    info.file_bytes, info.records, info.dead_records
                );
                if let Some(r) = info.recovered {
                    println!(
                        "recovered an interrupted write: {} bytes at offset {} are dropped on the next write",
                        r.dropped_bytes, r.offset
                    );
                }
                println!("failures  {}", info.failures);
                for f in lib.failures() {
                    println!("  {}", f.message);
                }
            }
        }
        Command::List { library, json } => {
            let lib = Library::open(&library)?;
            let mut tracks: Vec<_> = lib.tracks().iter().collect();
            tracks.sort_by(|a, b| a.info.path.cmp(&b.info.path));
            if json {
                let rows: Vec<_> = tracks
                    .iter()
                    .map(|t| json!({"path": t.info.path, "duration_s": t.info.duration_s, "bpm": t.info.tempo.bpm, "key": t.key().map(|k| k.to_string()), "windows": t.n_windows()}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:>6} {:>6} {:<9} {:>7}  track",
                    "dur", "BPM", "key", "windows"
                );
                for t in tracks {
                    println!(
                        "{:>6} {:>6.1} {:<9} {:>7}  {}",
                        clock(t.info.duration_s),
                        t.info.tempo.bpm,
                        key_name(t.key()),
                        t.n_windows(),
                        shown(&t.info.path)
                    );
                }
            }
        }
        Command::Remove { library, paths } => {
            let mut lib = Library::open(&library)?;
            let mut missing = 0;
            for path in paths {
                let absolute = std::fs::canonicalize(&path).unwrap_or(path.clone());
                match lib.remove(&absolute)? {
                    Some(_) => println!("removed {}", absolute.display()),
                    None => {
                        eprintln!("error: {}: not in {}", path.display(), library.display());
                        missing += 1;
                    }
                }
            }
            if missing > 0 {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Compact { library } => {
            let mut lib = Library::open(&library)?;
            let before = lib.info().file_bytes;
            lib.compact()?;
            println!(
                "{}: {} → {} bytes",
                library.display(),
                before,
                lib.info().file_bytes
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
