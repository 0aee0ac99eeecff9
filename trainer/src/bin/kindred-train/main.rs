//! `kindred-train`: builds Kindred's training data, trains the CSN and exports it to ONNX.
//! Each subcommand is one library call; errors print with their context.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use kindred_trainer::data::corpus::FileOutcome;
use kindred_trainer::data::dataset::{self, BuildOptions};
use kindred_trainer::data::real::{self, RealOptions};
use kindred_trainer::evaluation::Records;
use kindred_trainer::model::CsnConfig;
use kindred_trainer::training::{self, TrainOptions, TrainingConfig};

#[derive(Parser)]
#[command(name = "kindred-train", version, about = "Kindred's trainer")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build (or resume) a dataset: render music21 scores with factorial labels and/or add a
    /// labelled manifest of your own files, then cache the engine's features per 3 s window.
    ///
    /// Scores come from `scripts/music21_export.py OUT` (OUT/pieces.json + MIDI). Re-running
    /// with the same arguments skips finished renders. Exit code 2 if any manifest row or
    /// render was left out (each is reported).
    Dataset {
        /// Output directory (dataset.json, renders.csv, DATASET_CARD.md, cache/).
        #[arg(long, short)]
        out: PathBuf,
        /// pieces.json (or its directory) written by scripts/music21_export.py.
        #[arg(long)]
        pieces: Option<PathBuf>,
        /// Your own labelled files: CSV with columns path,genre,mood,instrument,era,tempo,key
        /// (empty = unknown; tempo and key are then estimated by the engine).
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// General MIDI SoundFont (.sf2). Default: the first of
        /// /usr/share/sounds/sf2/{FluidR3_GM,TimGM6mb,default-GM}.sf2.
        #[arg(long)]
        soundfont: Option<PathBuf>,
        /// Seed of the render design and the split.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Variations of each factor (tempo, key, instrument, mood) per piece; a piece gets
        /// 1 + 4 × this renders.
        #[arg(long, default_value_t = 1)]
        per_factor: u32,
        /// Cut each render after this many seconds (the feature cache takes ~181 kB/s).
        #[arg(long, default_value_t = 30.0)]
        max_seconds: f64,
        /// Train,validation,test fractions by piece.
        #[arg(long, default_value = "0.7,0.15,0.15", value_parser = parse_splits)]
        splits: [f64; 3],
        /// An earlier dataset directory: its scores and files keep the split they had there
        /// (e.g. when growing a set, so its test pieces stay held out); new ones are split
        /// by --splits.
        #[arg(long, value_name = "DATASET")]
        keep_splits: Option<PathBuf>,
        /// Also keep every render as audio/<id>.wav (16-bit, 22 050 Hz mono).
        #[arg(long)]
        keep_audio: bool,
        /// Use only the first N pieces of pieces.json.
        #[arg(long)]
        limit: Option<usize>,
        /// Add real recordings: the pinned Debian soundtrack packages (fetched with apt-get,
        /// decoded once), cut into passages with time-stretched and pitch-shifted copies
        /// (needs dpkg-deb, unzip, openmpt123 and rubberband). Written beside the synthetic
        /// records of the same --out; the card is REAL_DATASET_CARD.md.
        #[arg(long)]
        real: bool,
        /// The pinned package list (default: trainer/real-music.toml).
        #[arg(long, requires = "real")]
        packages: Option<PathBuf>,
        /// Build only this package of the list (repeat for several); packages finished by
        /// earlier runs stay in the dataset.
        #[arg(long = "package", value_name = "NAME", requires = "real")]
        only: Vec<String>,
        /// Only the first N packages of the list.
        #[arg(long, requires = "real")]
        limit_packages: Option<usize>,
        /// Corpus cache: .debs and decoded audio (default: OUT/corpus).
        #[arg(long, requires = "real")]
        corpus: Option<PathBuf>,
        /// Real tracks are cut after this many seconds, so a game loop counts once.
        #[arg(long, default_value_t = 600.0, requires = "real")]
        max_track_seconds: f64,
        /// Length of a real passage in seconds.
        #[arg(long, default_value_t = 15.0, requires = "real")]
        passage_seconds: f64,
        /// Passages per real track (fewer for short tracks).
        #[arg(long, default_value_t = 2, requires = "real")]
        passages_per_track: usize,
        /// Worker threads (default: all cores).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Score exported models on held-out triplets of a dataset's test split (SPEC §4), beside
    /// the handcrafted-feature baseline; writes evaluation.json for `report`.
    Evaluate {
        /// The dataset directory.
        #[arg(long)]
        dataset: PathBuf,
        /// Models as NAME=FILE.onnx (repeat; e.g. "multi-input 6-dim=models/kindred-6d.onnx").
        #[arg(long = "model", value_name = "NAME=FILE.onnx", required = true)]
        models: Vec<String>,
        /// Triplets drawn per dimension.
        #[arg(long, default_value_t = 1000)]
        triplets: usize,
        /// Seed of the triplet draw.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Which test records: all, synthetic (rendered scores, manifest files) or real
        /// (held-out Debian packages).
        #[arg(long, value_enum, default_value = "all")]
        records: RecordsArg,
        /// Output folder (evaluation.json).
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Turn evaluation.json into REPORT.md (the paper's Table 1 and 2 shapes) and the Kiviat
    /// chart (kiviat.png, kiviat.svg).
    Report {
        /// evaluation.json written by `evaluate`.
        #[arg(long)]
        evaluation: PathBuf,
        /// Output folder (default: the evaluation's folder).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Train a CSN (or continue with --resume) on a dataset built by `dataset`.
    ///
    /// The run directory gets config.json, checkpoint/ (each epoch; the previous one kept as
    /// checkpoint.prev/), best.bpk, log.csv and loss.png.
    Train {
        /// Dataset directory (with dataset.json).
        #[arg(long)]
        dataset: PathBuf,
        /// Run directory.
        #[arg(long)]
        run: PathBuf,
        #[arg(long, value_enum, default_value = "multi")]
        model: Architecture,
        /// Similarity dimensions: 6 (genre, mood, instrument, era, tempo, key) or 4 (the first
        /// four).
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(4..=6))]
        dims: u8,
        #[arg(long, value_enum, default_value = "default")]
        size: Size,
        /// Maximum epochs (also when resuming).
        #[arg(long, default_value_t = 35)]
        epochs: usize,
        /// Initial learning rate (SPEC's paper value is 1e-5; see `training.rs`).
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        /// Windows per batch.
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Steps per epoch (default: training windows / batch size).
        #[arg(long)]
        steps: Option<usize>,
        /// Stop after this many epochs without validation improvement.
        #[arg(long, default_value_t = 20)]
        patience: usize,
        /// Probability that a genre, tempo or key pair is drawn from real recordings when the
        /// dataset has both kinds (0: synthetic pairs only).
        #[arg(long, default_value_t = kindred_trainer::data::batcher::DEFAULT_REAL_FRACTION)]
        real_fraction: f64,
        /// Weight of the key and tempo scorers' own cross-entropy (rendered windows' tonic and
        /// tempo), added to the triplet loss; 0 = the triplet loss alone (SPEC §3).
        #[arg(long, default_value_t = 1.0)]
        scorer_weight: f64,
        /// Continue the run from its last checkpoint (its config.json wins, except --epochs).
        #[arg(long)]
        resume: bool,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Export a run's best model to ONNX with its contract in the metadata.
    Export {
        /// Run directory written by `train`.
        #[arg(long)]
        run: PathBuf,
        /// Output .onnx file.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RecordsArg {
    All,
    Synthetic,
    Real,
}

impl From<RecordsArg> for Records {
    fn from(r: RecordsArg) -> Self {
        match r {
            RecordsArg::All => Records::All,
            RecordsArg::Synthetic => Records::Synthetic,
            RecordsArg::Real => Records::Real,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Architecture {
    /// Mel, CENS and tempogram branches (paper Fig. 1b).
    Multi,
    /// The mel branch only (paper Fig. 1a).
    Single,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Size {
    /// For tests.
    Tiny,
    /// Trains on a 2-core CPU in about an hour.
    Default,
    /// For a GPU.
    Large,
}

fn parse_splits(s: &str) -> Result<[f64; 3], String> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>().map_err(|e| format!("{x:?}: {e}")))
        .collect::<Result<_, _>>()?;
    <[f64; 3]>::try_from(v).map_err(|_| "expected three fractions: train,validation,test".into())
}

fn run() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        cmd @ Command::Train { .. } => train(cmd),
        Command::Export { run, out } => {
            let contract = kindred_trainer::export::export_run(&run, &out)
                .with_context(|| format!("exporting {} to {}", run.display(), out.display()))?;
            eprintln!(
                "{} ({}, {} dimensions) → {}",
                contract.model_version,
                contract.architecture,
                contract.layout.dimensions.len(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Dataset {
            out,
            pieces,
            manifest,
            soundfont,
            seed,
            per_factor,
            max_seconds,
            splits,
            keep_splits,
            keep_audio,
            limit,
            real,
            packages,
            only,
            limit_packages,
            corpus,
            max_track_seconds,
            passage_seconds,
            passages_per_track,
            jobs,
            quiet,
        } => {
            if pieces.is_none() && manifest.is_none() && !real {
                bail!("nothing to build: give --pieces (music21 export), --manifest and/or --real");
            }
            if let Some(n) = jobs {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build_global()
                    .context("setting up worker threads")?;
            }
            let real_opts = real.then(|| {
                let mut opts = RealOptions::new(&out);
                if let Some(p) = packages {
                    opts.packages = p;
                }
                if let Some(c) = corpus {
                    opts.cache = c;
                }
                opts.only = only;
                opts.limit_packages = limit_packages;
                opts.max_seconds = max_track_seconds;
                opts.passage_seconds = passage_seconds;
                opts.passages_per_track = passages_per_track;
                opts.seed = seed;
                opts.progress = !quiet;
                opts
            });
            if let (None, None, Some(opts)) = (&pieces, &manifest, &real_opts) {
                return build_real(opts);
            }
            let soundfont = match soundfont {
                Some(p) => p,
                None if pieces.is_some() => dataset::find_soundfont()?,
                None => PathBuf::new(),
            };
            let opts = BuildOptions {
                out: out.clone(),
                pieces,
                manifest,
                soundfont,
                seed,
                per_factor,
                max_seconds,
                splits,
                keep_splits,
                keep_audio,
                limit,
                progress: !quiet,
            };
            let report = dataset::build(&opts)
                .with_context(|| format!("building the dataset in {}", out.display()))?;
            for e in &report.row_errors {
                eprintln!("manifest {e}");
            }
            for (id, e) in &report.failures {
                eprintln!("render {id}: {e}");
            }
            let hours: f64 = report.records.iter().map(|r| r.seconds).sum::<f64>() / 3600.0;
            if opts.keep_splits.is_some() {
                eprintln!(
                    "{} scores or files kept their earlier split",
                    report.kept_splits
                );
            }
            eprintln!(
                "{} tracks ({} built, {} already done), {hours:.2} h → {}",
                report.records.len(),
                report.built,
                report.skipped,
                out.join("DATASET_CARD.md").display()
            );
            let clean = report.row_errors.is_empty() && report.failures.is_empty();
            if let Some(opts) = &real_opts {
                let code = build_real(opts)?;
                if code != ExitCode::SUCCESS {
                    return Ok(code);
                }
            }
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Evaluate {
            dataset,
            models,
            triplets,
            seed,
            records,
            out,
        } => evaluate(&dataset, &models, triplets, seed, records.into(), &out),
        Command::Report { evaluation, out } => report(&evaluation, out),
    }
}

/// Builds the real part of a dataset and prints its summary; exit code 2 if any file or
/// passage was left out for an error.
fn build_real(opts: &RealOptions) -> anyhow::Result<ExitCode> {
    let report = real::build(opts)
        .with_context(|| format!("building the real-music dataset in {}", opts.out.display()))?;
    let mut failed = 0;
    for p in &report.corpus.packages {
        for o in &p.outcomes {
            if let FileOutcome::Failed { path, reason } = o {
                failed += 1;
                eprintln!("{} {path}: {reason}", p.package.name);
            }
        }
    }
    for (group, e) in &report.failures {
        failed += 1;
        eprintln!("passage {group}: {e}");
    }
    let hours: f64 = report.corpus.tracks().map(|t| t.seconds).sum::<f64>() / 3600.0;
    eprintln!(
        "{} packages ({} fetched now), {} tracks, {hours:.2} h; {} records ({} built, {} already \
         done), {failed} failures → {}",
        report.corpus.packages.len(),
        report.corpus.built,
        report.corpus.tracks().count(),
        report.records.len(),
        report.built,
        report.skipped,
        opts.out.join("REAL_DATASET_CARD.md").display()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn evaluate(
    dataset: &std::path::Path,
    models: &[String],
    triplets: usize,
    seed: u64,
    records: Records,
    out: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let models = models
        .iter()
        .map(|m| {
            let (name, path) = m
                .split_once('=')
                .with_context(|| format!("--model {m:?} is not NAME=FILE.onnx"))?;
            Ok((name.to_string(), PathBuf::from(path)))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let e =
        kindred_trainer::evaluation::evaluate_records(dataset, &models, triplets, seed, records)?;
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let path = out.join("evaluation.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&e)?)
        .with_context(|| format!("{}: cannot write", path.display()))?;
    println!("{}", kindred_trainer::report::markdown(&e));
    eprintln!("→ {}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn report(evaluation: &std::path::Path, out: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(evaluation)
        .with_context(|| format!("{}: cannot read", evaluation.display()))?;
    let e: kindred_trainer::evaluation::Evaluation = serde_json::from_str(&text)
        .with_context(|| format!("{}: not an evaluation.json", evaluation.display()))?;
    let out = out.unwrap_or_else(|| {
        evaluation
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .to_path_buf()
    });
    kindred_trainer::report::write(&e, &out)?;
    eprintln!("→ {}", out.join("REPORT.md").display());
    Ok(ExitCode::SUCCESS)
}

fn train(cmd: Command) -> anyhow::Result<ExitCode> {
    let Command::Train {
        dataset,
        run,
        model,
        dims,
        size,
        epochs,
        lr,
        batch_size,
        steps,
        patience,
        real_fraction,
        scorer_weight,
        resume,
        seed,
        quiet,
    } = cmd
    else {
        unreachable!()
    };
    if dims == 5 {
        bail!("--dims must be 6 or 4");
    }
    let size = match size {
        Size::Tiny => "tiny",
        Size::Default => "default",
        Size::Large => "large",
    };
    let model = CsnConfig::sized(size)
        .expect("a known size")
        .with_multi_input(matches!(model, Architecture::Multi))
        .with_dimensions(dims as usize);
    let cfg = TrainingConfig::new(model, burn::optim::AdamConfig::new())
        .with_epochs(epochs)
        .with_lr(lr)
        .with_batch_size(batch_size)
        .with_steps_per_epoch(steps)
        .with_early_stopping(patience)
        .with_real_fraction(real_fraction)
        .with_scorer_weight(scorer_weight)
        .with_seed(seed)
        .with_dataset(dataset.display().to_string());
    let opts = TrainOptions {
        resume,
        progress: !quiet,
        max_epochs_now: None,
    };
    let report = training::train(&cfg, &dataset, &run, &opts)
        .with_context(|| format!("training in {}", run.display()))?;
    if let Some(last) = report.history.last() {
        eprintln!(
            "{} epochs{}; last: train {:.4}, validation {:.4} → {}",
            report.history.len(),
            if report.stopped_early {
                " (stopped early)"
            } else {
                ""
            },
            last.train_loss,
            last.val_loss,
            run.join("log.csv").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kindred-train: {e:#}");
            ExitCode::FAILURE
        }
    }
}
