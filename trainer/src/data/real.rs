//! Real recordings with labels true by construction (relative labels): passages of the
//! [`corpus`](super::corpus)'s tracks, time-stretched and pitch-shifted by `rubberband`.
//!
//! Each track gives up to `passages_per_track` passages of `passage_seconds` (evenly spaced,
//! away from the start and the end). Each passage is a **group** of records:
//!
//! - the original (tempo ratio 1, shift 0);
//! - time-stretched copies (`rubberband -3 --tempo r`, pitch kept): a different tempo from
//!   the original and from each other, because the ratios (default 0.8 and 1.25) move any
//!   tempo above 29 BPM by more than SPEC §3's ±5 BPM and are not tempo octaves (0.8/1.25 =
//!   0.64, 1.25/0.8 = 1.5625; 0.8 × 2 = 1.6); a ratio is dropped if, at the passage's estimated
//!   tempo, it would still be a positive of another copy (see [`tempo_ratios_for`]);
//! - pitch-shifted copies (`rubberband -3 --pitch s`, tempo kept): a different key (SPEC §3:
//!   only the same tonic or the parallel key is a positive, and a shift of 1…6 semitones moves
//!   the tonic); drawn per group, one up and one down, never 6 up with 6 down (the same key).
//!
//! Labels: **tempo** and **key** are relative: two records of one group are positives when
//! they share the tempo ratio (tempo) or the shift (key), negatives otherwise; records of
//! different groups are never compared. **Genre** is the source label of the package (or
//! sub-folder), a proxy like the mood of the synthetic data: music from one game's soundtrack
//! is taken as one genre. Mood, instrument and era are unknown (masked). The records go into
//! `dataset.json` beside any synthetic records already there, with `source: real`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use kindred_engine::FrontEndConfig;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::cache::{CACHE_VERSION, CacheShape, CacheWriter};
use super::corpus::{self, CorpusOptions, CorpusReport, CorpusTrack, FileOutcome, PackageList};
use super::dataset::{BuildOptions, DATASET_FORMAT, DatasetFile, Record, Source, Worker};
use super::plan::Split;
use super::triplets::tempo_positive;
use crate::{Error, Result};

/// Per-package seconds of the passage stage, kept across runs for the card.
pub const TIMING_FILE: &str = "real-timing.json";

/// What to build.
#[derive(Debug, Clone)]
pub struct RealOptions {
    /// Dataset directory (dataset.json, records/, cache/, REAL_DATASET_CARD.md).
    pub out: PathBuf,
    /// Corpus cache (debs, decoded audio); see [`corpus`].
    pub cache: PathBuf,
    /// The pinned package list.
    pub packages: PathBuf,
    /// Build only these packages (empty = all of the list); packages finished by earlier runs
    /// stay in the dataset.
    pub only: Vec<String>,
    /// Build only the first N packages (after `only`).
    pub limit_packages: Option<usize>,
    /// Clips shorter than this are left out (seconds).
    pub min_seconds: f64,
    /// Tracks are cut here, so a loop counts once (seconds).
    pub max_seconds: f64,
    /// Passage length (seconds).
    pub passage_seconds: f64,
    /// Passages per track (fewer if the track is short).
    pub passages_per_track: usize,
    /// Tempo ratios of the time-stretched copies.
    pub tempo_ratios: Vec<f32>,
    /// Pitch-shifted copies per passage (alternately up and down, 1…6 semitones).
    pub pitch_shifts: usize,
    /// Seed of the pitch shifts.
    pub seed: u64,
    /// Show progress bars.
    pub progress: bool,
}

impl RealOptions {
    /// The defaults for a dataset in `out` (corpus cache in `out/corpus`).
    pub fn new(out: impl Into<PathBuf>) -> Self {
        let out = out.into();
        Self {
            cache: out.join("corpus"),
            out,
            packages: corpus::default_package_list(),
            only: Vec::new(),
            limit_packages: None,
            min_seconds: 20.0,
            max_seconds: 600.0,
            passage_seconds: 15.0,
            passages_per_track: 2,
            tempo_ratios: vec![0.8, 1.25],
            pitch_shifts: 2,
            seed: 0,
            progress: false,
        }
    }
}

/// The relative labels and provenance of a real record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealLabels {
    pub package: String,
    pub version: String,
    /// Path of the file inside the package.
    pub path: String,
    /// The passage group: records of one passage (tempo and key compare only inside it).
    pub group: String,
    /// Tempo ratio of this copy to the original (1 = not stretched).
    pub tempo_ratio: f32,
    /// Pitch shift of this copy in semitones (0 = not shifted).
    pub semitones: i32,
    /// Start of the passage in the track (seconds).
    pub start_seconds: f64,
    pub licence: String,
    pub attribution: String,
}

/// A copy of a passage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transform {
    /// The passage itself.
    Original,
    /// Time-stretched to this tempo ratio, pitch kept.
    Tempo(f32),
    /// Pitch-shifted by this many semitones, tempo kept.
    Pitch(i32),
}

impl Transform {
    /// Suffix of the record id.
    pub fn suffix(self) -> String {
        match self {
            Transform::Original => "orig".into(),
            Transform::Tempo(r) => format!("t{r:.3}"),
            Transform::Pitch(s) => format!("k{s:+}"),
        }
    }

    /// `(tempo ratio, semitones)`.
    pub fn labels(self) -> (f32, i32) {
        match self {
            Transform::Original => (1.0, 0),
            Transform::Tempo(r) => (r, 0),
            Transform::Pitch(s) => (1.0, s),
        }
    }

    /// The rubberband arguments (R3 engine, quiet): `--tempo r` keeps the pitch, `--pitch s`
    /// keeps the tempo.
    pub fn rubberband_args(self) -> Vec<String> {
        let mut args = vec!["-3".to_string(), "-q".to_string()];
        match self {
            Transform::Original => {}
            Transform::Tempo(r) => args.extend(["--tempo".into(), format!("{r}")]),
            Transform::Pitch(s) => args.extend(["--pitch".into(), format!("{s}")]),
        }
        args
    }
}

/// Applies `t` to the WAV `input`, writing `output`, by running the `rubberband` command-line
/// tool (an external process: the library is GPL and is not linked).
pub fn rubberband(input: &Path, output: &Path, t: Transform) -> Result<()> {
    if t == Transform::Original {
        std::fs::copy(input, output).map_err(Error::io(output))?;
        return Ok(());
    }
    let mut cmd = Command::new("rubberband");
    cmd.args(t.rubberband_args()).arg(input).arg(output);
    corpus::run_tool(&mut cmd, "rubberband-cli").map(|_| ())
}

/// The ratios of `candidates` kept for a passage whose estimated tempo is `bpm`: each ratio in
/// turn, if at `bpm` it is not a tempo positive (SPEC §3) of the original or of a ratio already
/// kept. A `bpm` of 0 (no estimate) is taken as 60 BPM.
pub fn tempo_ratios_for(bpm: f32, candidates: &[f32]) -> Vec<f32> {
    let t = if bpm > 0.0 { bpm } else { 60.0 };
    let mut kept: Vec<f32> = Vec::new();
    for &r in candidates {
        let clash = std::iter::once(1.0)
            .chain(kept.iter().copied())
            .any(|k| tempo_positive(t * r, t * k));
        if !clash {
            kept.push(r);
        }
    }
    kept
}

/// `n` pitch shifts for the group with hash `h`: alternately up (+1…+6) and down (−1…−6),
/// no two the same pitch class (so +6 and −6 never both).
pub fn pitch_shifts_for(n: usize, seed: u64, h: u64) -> Vec<i32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ h);
    let mut out: Vec<i32> = Vec::new();
    let mut tries = 0;
    while out.len() < n.min(11) && tries < 1000 {
        tries += 1;
        let mag = rng.random_range(1..=6);
        let s = if out.len().is_multiple_of(2) {
            mag
        } else {
            -mag
        };
        if !out.iter().any(|&o| (o - s).rem_euclid(12) == 0) {
            out.push(s);
        }
    }
    out
}

/// Start times (seconds) of the passages of a track of `seconds`.
pub fn passage_starts(seconds: f64, passage: f64, per_track: usize) -> Vec<f64> {
    if seconds <= passage {
        return vec![0.0];
    }
    let n = per_track.min((seconds / passage).floor() as usize).max(1);
    (0..n)
        .map(|p| (seconds - passage) * (p + 1) as f64 / (n + 1) as f64)
        .collect()
}

/// The outcome of [`build`].
#[derive(Debug, Default)]
pub struct RealReport {
    pub corpus: CorpusReport,
    /// Every real record (built now or found done).
    pub records: Vec<Record>,
    /// Records built in this run.
    pub built: usize,
    /// Records found done.
    pub skipped: usize,
    /// Passages that failed (group, reason).
    pub failures: Vec<(String, String)>,
    /// Seconds spent on passages and transforms, per package, in the run that built them
    /// (kept in `real-timing.json`).
    pub transform_seconds: BTreeMap<String, f64>,
}

/// A passage group's records and how many of them were built in this run.
type GroupRecords = (Vec<Record>, usize);

/// Builds (or resumes) the real part of the dataset in `opts.out`.
pub fn build(opts: &RealOptions) -> Result<RealReport> {
    let list = PackageList::load(&opts.packages)?;
    let mut packages = list.packages.clone();
    if !opts.only.is_empty() {
        for name in &opts.only {
            if !packages.iter().any(|p| &p.name == name) {
                return Err(Error::Package {
                    package: name.clone(),
                    reason: format!("not in the pinned list {}", opts.packages.display()),
                });
            }
        }
        packages.retain(|p| opts.only.contains(&p.name));
    }
    if let Some(n) = opts.limit_packages {
        packages.truncate(n);
    }
    // Packages finished by earlier runs (with the same pin) stay in the dataset, so a corpus
    // can be built a few packages at a time; they are read from their done-markers.
    let selected: Vec<String> = packages.iter().map(|p| p.name.clone()).collect();
    let packages: Vec<_> = list
        .packages
        .iter()
        .filter(|p| selected.contains(&p.name) || corpus::load_done(&opts.cache, p).is_some())
        .cloned()
        .collect();
    let corpus = corpus::build(
        &packages,
        &CorpusOptions {
            cache: opts.cache.clone(),
            min_seconds: opts.min_seconds,
            max_seconds: opts.max_seconds,
            progress: opts.progress,
        },
    )?;
    let cfg = FrontEndConfig::default();
    for dir in ["cache", "records", "tmp"] {
        std::fs::create_dir_all(opts.out.join(dir)).map_err(Error::io(opts.out.join(dir)))?;
    }
    let fingerprint = format!(
        "cache v{CACHE_VERSION}; {} Hz; real; passage {} s; rubberband R3",
        cfg.sample_rate, opts.passage_seconds
    );
    let timing_path = opts.out.join(TIMING_FILE);
    let transform_seconds = std::fs::read_to_string(&timing_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let mut report = RealReport {
        corpus,
        transform_seconds,
        ..Default::default()
    };
    let bar = if opts.progress {
        let n: usize = report
            .corpus
            .tracks()
            .map(|t| passage_starts(t.seconds, opts.passage_seconds, opts.passages_per_track).len())
            .sum();
        let bar = indicatif::ProgressBar::new(n as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} passages · ETA {eta} · {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    for package in &report.corpus.packages {
        let t0 = Instant::now();
        let jobs: Vec<(&CorpusTrack, usize, f64)> = package
            .tracks()
            .flat_map(|t| {
                passage_starts(t.seconds, opts.passage_seconds, opts.passages_per_track)
                    .into_iter()
                    .enumerate()
                    .map(move |(i, s)| (t, i, s))
            })
            .collect();
        bar.set_message(package.package.name.clone());
        let results: Vec<(String, Result<GroupRecords>)> = jobs
            .par_iter()
            .map_init(
                || Worker::new(&cfg, None),
                |worker, &(track, i, start)| {
                    let group = format!("{}_p{i}", track.id);
                    let r = passage_job(worker, opts, &cfg, track, &group, start, &fingerprint);
                    bar.inc(1);
                    (group, r)
                },
            )
            .collect();
        let mut built_now = 0;
        for (group, r) in results {
            match r {
                Ok((records, built)) => {
                    built_now += built;
                    report.built += built;
                    report.skipped += records.len() - built;
                    report.records.extend(records);
                }
                Err(e) => report.failures.push((group, e.to_string())),
            }
        }
        if built_now > 0 || !report.transform_seconds.contains_key(&package.package.name) {
            report
                .transform_seconds
                .insert(package.package.name.clone(), t0.elapsed().as_secs_f64());
        }
    }
    bar.finish_and_clear();
    report.records.sort_by(|a, b| a.id.cmp(&b.id));
    let timing = serde_json::to_vec_pretty(&report.transform_seconds)
        .map_err(|e| Error::Invalid(format!("{}: {e}", timing_path.display())))?;
    corpus::write_atomic(&timing_path, &timing)?;
    write_outputs(opts, &report)?;
    Ok(report)
}

/// One passage: its copies, each cached and recorded (finished ones are kept). Returns the
/// group's records and how many were built now.
fn passage_job(
    worker: &mut Worker,
    opts: &RealOptions,
    cfg: &FrontEndConfig,
    track: &CorpusTrack,
    group: &str,
    start: f64,
    fingerprint: &str,
) -> Result<GroupRecords> {
    let load = |id: &str| -> Option<Record> {
        let path = opts.out.join("records").join(format!("{id}.json"));
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<Record>(&t).ok())
            .filter(|r| r.fingerprint == fingerprint && opts.out.join(&r.cache).is_file())
    };
    let rate = cfg.sample_rate as usize;
    let tmp = opts.out.join("tmp");
    let passage_wav = tmp.join(format!("{group}.wav"));
    let ensure_passage = || -> Result<()> {
        if !passage_wav.is_file() {
            let samples = corpus::read_wav(
                &opts.cache.join(&track.audio),
                (start * rate as f64) as usize,
                (opts.passage_seconds * rate as f64) as usize,
            )?;
            corpus::write_wav(&passage_wav, &samples, cfg.sample_rate)?;
        }
        Ok(())
    };
    let mut records = Vec::new();
    let mut built = 0;
    let original_id = format!("{group}_{}", Transform::Original.suffix());
    let original = match load(&original_id) {
        Some(r) => r,
        None => {
            ensure_passage()?;
            built += 1;
            make_record(
                worker,
                opts,
                cfg,
                track,
                group,
                start,
                Transform::Original,
                &passage_wav,
                fingerprint,
            )?
        }
    };
    let bpm = original.estimated_tempo;
    records.push(original);
    let mut transforms: Vec<Transform> = tempo_ratios_for(bpm, &opts.tempo_ratios)
        .into_iter()
        .map(Transform::Tempo)
        .collect();
    transforms.extend(
        pitch_shifts_for(
            opts.pitch_shifts,
            opts.seed,
            corpus::fnv1a(group.as_bytes()),
        )
        .into_iter()
        .map(Transform::Pitch),
    );
    for t in transforms {
        let id = format!("{group}_{}", t.suffix());
        if let Some(r) = load(&id) {
            records.push(r);
            continue;
        }
        ensure_passage()?;
        let out = tmp.join(format!("{id}.wav"));
        rubberband(&passage_wav, &out, t)?;
        let r = make_record(worker, opts, cfg, track, group, start, t, &out, fingerprint);
        let _ = std::fs::remove_file(&out);
        records.push(r?);
        built += 1;
    }
    let _ = std::fs::remove_file(&passage_wav);
    Ok((records, built))
}

/// Features of the WAV `audio` into the cache, and the record of copy `t` of the passage.
#[allow(clippy::too_many_arguments)]
fn make_record(
    worker: &mut Worker,
    opts: &RealOptions,
    cfg: &FrontEndConfig,
    track: &CorpusTrack,
    group: &str,
    start: f64,
    t: Transform,
    audio: &Path,
    fingerprint: &str,
) -> Result<Record> {
    let samples = corpus::read_wav(audio, 0, usize::MAX)?;
    let id = format!("{group}_{}", t.suffix());
    let cache_rel = format!("cache/{id}.kfc");
    let mut writer = CacheWriter::create(&opts.out.join(&cache_rel), CacheShape::of(cfg))?;
    let (est_tempo, est_key) = worker.cache_samples(&samples, &mut writer)?;
    let windows = writer.finish()?;
    let (tempo_ratio, semitones) = t.labels();
    let record = Record {
        id: id.clone(),
        source: Source::Real,
        piece: track.package.clone(),
        split: track.split,
        genre: Some(track.source.clone()),
        mood: None,
        instrument: None,
        era: None,
        tempo: None,
        key: None,
        tempo_source: "relative".into(),
        key_source: "relative".into(),
        spec: None,
        original_key: None,
        audio_source: format!("{}={}:{}", track.package, track.version, track.path),
        title: track
            .path
            .rsplit(['/', '!'])
            .next()
            .unwrap_or(&track.path)
            .to_string(),
        composer: track.attribution.clone(),
        cache: cache_rel,
        windows,
        seconds: samples.len() as f64 / f64::from(cfg.sample_rate),
        estimated_tempo: est_tempo,
        estimated_key: est_key,
        fingerprint: fingerprint.to_string(),
        real: Some(RealLabels {
            package: track.package.clone(),
            version: track.version.clone(),
            path: track.path.clone(),
            group: group.to_string(),
            tempo_ratio,
            semitones,
            start_seconds: start,
            licence: track.licence.clone(),
            attribution: track.attribution.clone(),
        }),
    };
    let path = opts.out.join("records").join(format!("{id}.json"));
    let json = serde_json::to_vec_pretty(&record)
        .map_err(|e| Error::Invalid(format!("record {id}: {e}")))?;
    corpus::write_atomic(&path, &json)?;
    Ok(record)
}

/// Writes `dataset.json` (the synthetic records already there kept, the real ones replaced)
/// and `REAL_DATASET_CARD.md`.
fn write_outputs(opts: &RealOptions, report: &RealReport) -> Result<()> {
    let existing = if opts.out.join("dataset.json").is_file() {
        Some(DatasetFile::load(&opts.out)?)
    } else {
        None
    };
    let (options, mut records, row_errors, mut failures) = match existing {
        Some(f) => (
            f.options,
            f.records
                .into_iter()
                .filter(|r| r.source != Source::Real)
                .collect::<Vec<_>>(),
            f.row_errors,
            f.failures,
        ),
        None => (
            BuildOptions {
                out: opts.out.clone(),
                pieces: None,
                manifest: None,
                soundfont: PathBuf::new(),
                seed: opts.seed,
                per_factor: 0,
                max_seconds: opts.max_seconds,
                splits: [0.0; 3],
                keep_splits: None,
                keep_audio: false,
                limit: None,
                progress: false,
            },
            Vec::new(),
            Vec::new(),
            Vec::new(),
        ),
    };
    records.extend(report.records.iter().cloned());
    failures.retain(|(id, _)| !id.starts_with("real:"));
    failures.extend(
        report
            .failures
            .iter()
            .map(|(g, e)| (format!("real:{g}"), e.clone())),
    );
    let file = DatasetFile {
        format: DATASET_FORMAT.into(),
        options,
        cache_version: CACHE_VERSION,
        records,
        row_errors,
        failures,
    };
    let json = serde_json::to_vec_pretty(&file).map_err(|e| Error::Invalid(e.to_string()))?;
    corpus::write_atomic(&opts.out.join("dataset.json"), &json)?;
    corpus::write_atomic(
        &opts.out.join("REAL_DATASET_CARD.md"),
        card(opts, report).as_bytes(),
    )
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => dir_bytes(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The real corpus' dataset card: packages, costs, labels, per-file provenance, left-outs.
fn card(opts: &RealOptions, report: &RealReport) -> String {
    let mut c = String::new();
    let records = &report.records;
    let feature_bytes: u64 = records
        .iter()
        .filter_map(|r| std::fs::metadata(opts.out.join(&r.cache)).ok())
        .map(|m| m.len())
        .sum();
    let _ = writeln!(c, "# Real-music dataset card\n");
    let _ = writeln!(
        c,
        "Built by `kindred-train dataset --real` (format `{DATASET_FORMAT}`, feature cache \
         v{CACHE_VERSION}) from the pinned Debian packages of `{}`. Tracks are decoded once \
         to 22 050 Hz mono 16-bit WAV (corpus cache `{}`), clips under {} s left out, tracks cut \
         at {} s (game music loops; one pass counts), passages of {} s, up to {} per track.\n",
        opts.packages.display(),
        opts.cache.display(),
        opts.min_seconds,
        opts.max_seconds,
        opts.passage_seconds,
        opts.passages_per_track
    );
    let hours: f64 = report.corpus.tracks().map(|t| t.seconds).sum::<f64>() / 3600.0;
    let _ = writeln!(
        c,
        "- Packages: {}, tracks: {}, {:.2} h of decoded music; {} records ({} passages × copies), \
         {:.2} h of passage audio; feature cache {:.1} MB; decoded audio {:.1} MB; .debs {:.1} MB.",
        report.corpus.packages.len(),
        report.corpus.tracks().count(),
        hours,
        records.len(),
        records
            .iter()
            .filter(|r| r
                .real
                .as_ref()
                .is_some_and(|l| l.tempo_ratio == 1.0 && l.semitones == 0))
            .count(),
        records.iter().map(|r| r.seconds).sum::<f64>() / 3600.0,
        feature_bytes as f64 / 1e6,
        dir_bytes(&opts.cache.join("audio")) as f64 / 1e6,
        dir_bytes(&opts.cache.join("debs")) as f64 / 1e6,
    );
    for split in Split::ALL {
        let names: Vec<&str> = report
            .corpus
            .packages
            .iter()
            .filter(|p| p.package.split == split)
            .map(|p| p.package.name.as_str())
            .collect();
        let _ = writeln!(c, "- {}: {}", split.name(), names.join(", "));
    }
    let _ = writeln!(
        c,
        "\n## Packages\n\n| package | version | split | source label | style | licence | tracks | h | \
         too short | failed | effects | .deb MB | fetch s | extract s | decode s | transform s |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for p in &report.corpus.packages {
        let count = |f: fn(&FileOutcome) -> bool| p.outcomes.iter().filter(|o| f(o)).count();
        let _ = writeln!(
            c,
            "| {} | {} | {} | {} | {} | {} | {} | {:.2} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            p.package.name,
            p.package.version,
            p.package.split.name(),
            p.package.source,
            cell(&p.package.style),
            cell(&p.package.licence),
            p.tracks().count(),
            p.tracks().map(|t| t.seconds).sum::<f64>() / 3600.0,
            count(|o| matches!(o, FileOutcome::Skipped { .. })),
            count(|o| matches!(o, FileOutcome::Failed { .. })),
            p.effect_files,
            p.deb_bytes as f64 / 1e6,
            p.fetch_seconds,
            p.extract_seconds,
            p.decode_seconds,
            report
                .transform_seconds
                .get(&p.package.name)
                .map_or("–".into(), |s| format!("{s:.1}")),
        );
    }
    let _ = writeln!(
        c,
        "\nTimes are those of the run that built each package: fetch (apt-get download), \
         extract (dpkg-deb, selection, .pk3), decode (render, decode, resample, WAV), transform \
         (passages, rubberband, features of every copy).\n"
    );
    let _ = writeln!(
        c,
        "## Labels\n\n\
         - **genre (source proxy)**: the package's source label (or its sub-folder's, where one \
         package holds several soundtracks). Not a genre annotation: one game's soundtrack is \
         taken as one genre-like class. Report it as a proxy, like mood.\n\
         - **tempo (relative)**: inside one passage group, copies with the same tempo ratio are \
         positives, copies with another ratio negatives. Time-stretched copies: `rubberband -3 \
         --tempo r` (R3 engine, pitch kept), ratios {:?}, each kept only if at the passage's \
         estimated tempo it is more than ±5 BPM (up to tempo octaves) from the original and the \
         other copies. Pitch-shifted copies keep the tempo.\n\
         - **key (relative)**: inside one group, copies with the same shift are positives, \
         others negatives (a 1–6 semitone shift moves the tonic, and SPEC §3 counts only the \
         same tonic as a key positive). Pitch-shifted copies: `rubberband -3 --pitch s`, {} per \
         passage, alternately up and down. Time-stretched copies keep the key.\n\
         - **mood, instrument, era**: unknown for real recordings → masked (never anchor, \
         positive or negative).\n\
         - Records of different groups are never compared in tempo or key.\n",
        opts.tempo_ratios, opts.pitch_shifts
    );
    let _ = writeln!(
        c,
        "## Files and attribution\n\nEvery decoded file with its provenance. CC-BY / CC-BY-SA \
         music requires this credit to be kept with any redistribution.\n\n\
         | package | version | path in package | licence | attribution | s (kept / whole) |\n\
         |---|---|---|---|---|---|"
    );
    for t in report.corpus.tracks() {
        let _ = writeln!(
            c,
            "| {} | {} | `{}` | {} | {} | {:.0} / {:.0} |",
            t.package,
            t.version,
            cell(&t.path),
            cell(&t.licence),
            cell(&t.attribution),
            t.seconds,
            t.full_seconds
        );
    }
    let left: Vec<String> = report
        .corpus
        .packages
        .iter()
        .flat_map(|p| {
            p.outcomes.iter().filter_map(move |o| match o {
                FileOutcome::Track(_) => None,
                FileOutcome::Skipped { path, reason } => Some(format!(
                    "- skipped {}: `{}`: {reason}",
                    p.package.name, path
                )),
                FileOutcome::Failed { path, reason } => Some(format!(
                    "- **failed** {}: `{}`: {reason}",
                    p.package.name, path
                )),
            })
        })
        .chain(
            report
                .failures
                .iter()
                .map(|(g, e)| format!("- **failed** passage {g}: {e}")),
        )
        .collect();
    if !left.is_empty() {
        let _ = writeln!(c, "\n## Left out\n\n{}", left.join("\n"));
    }
    c
}
