//! `kindred index`: add folders of audio to a reference library, incrementally.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use kindred_engine::indexing::{self, AUDIO_EXTENSIONS, Event, IndexOptions};
use kindred_engine::inference::Embedder;
use kindred_engine::library::Library;

use crate::model::ModelArgs;

/// Index the audio files under FOLDER… into a library (new and changed files only; files
/// that are gone are removed). Safe to interrupt: re-running continues where it stopped.
#[derive(clap::Args)]
pub struct Args {
    /// Folders (searched recursively) or single audio files.
    #[arg(required = true, value_name = "FOLDER")]
    folders: Vec<PathBuf>,
    /// The library file (created if missing).
    #[arg(long, value_name = "LIB")]
    library: PathBuf,
    /// Files processed at once (default: one per core).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    #[command(flatten)]
    model: ModelArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let files = indexing::audio_files(&args.folders)?;
    if files.is_empty() {
        bail!(
            "no audio files under {} (looked for .{})",
            args.folders
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            AUDIO_EXTENSIONS.join(", .")
        );
    }
    let model = args.model.path()?;
    // One session up front: checks the model and names it in the library.
    let probe = args.model.load()?;
    let model_id = indexing::model_id(&probe)?;
    let layout = probe.contract().layout.clone();
    drop::<Embedder>(probe);
    let mut library = Library::open_or_create(&args.library, &model_id, &layout)?;
    if let Some(recovered) = library.info().recovered {
        eprintln!(
            "note: {}: dropped an unfinished record at byte {} (an interrupted run); everything before it is kept",
            args.library.display(),
            recovered.offset
        );
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let options = IndexOptions {
        jobs,
        embedder: args.model.options(),
    };
    let progress = ProgressBar::hidden();
    let started = Instant::now();
    let report = indexing::index(
        &mut library,
        &args.folders,
        &files,
        &model,
        &options,
        |event| {
            match event {
                Event::Planned { found, to_index } => {
                    eprintln!(
                        "{found} audio files, {to_index} to index, {} unchanged",
                        found - to_index
                    );
                    progress.set_length(to_index as u64);
                    progress.set_style(
                        ProgressStyle::with_template(
                            "{bar:40} {pos}/{len} files, {per_sec}, ETA {eta} {msg}",
                        )
                        .expect("valid template"),
                    );
                    if to_index > 0 {
                        progress.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    }
                }
                Event::Indexed { path, .. } => {
                    progress.set_message(
                        path.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    );
                    progress.inc(1);
                }
                Event::Failed { error, .. } => {
                    progress.suspend(|| eprintln!("error: {error}"));
                    progress.inc(1);
                }
            }
            ControlFlow::Continue(())
        },
    )
    .with_context(|| format!("indexing into {}", args.library.display()))?;
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}: indexed {} files ({:.0} s of audio, {:.0}× real time), {} unchanged, {} removed, {} failed; {} tracks in the library",
        args.library.display(),
        report.indexed,
        report.audio_seconds,
        report.audio_seconds / seconds.max(1e-9),
        report.unchanged,
        report.removed.len(),
        report.failed.len(),
        library.len()
    );
    for path in &report.removed {
        println!("removed (file gone): {}", path.display());
    }
    if !report.failed.is_empty() {
        eprintln!(
            "{} files could not be indexed (listed by `kindred library info`)",
            report.failed.len()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
