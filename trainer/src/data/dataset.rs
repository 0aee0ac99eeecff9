//! Building a dataset directory:
//!
//! ```text
//! OUT/
//!   dataset.json       format, options, every record (labels, split, cache file, estimates)
//!   renders.csv        the same records as a table
//!   DATASET_CARD.md    sources, licences, label definitions, per-class counts per split, hours
//!   cache/<id>.kfc     per-window features of each record (see `cache`)
//!   records/<id>.json  one finished record each: what makes the build resumable
//! ```
//!
//! Each render (or manifest file) is one job: synthesise (or decode), compute the engine's
//! features per 3 s window into the cache, estimate tempo and key with the engine (kept next
//! to the true labels, as a check and for the card), then write the record. Both files are
//! written under a temporary name and renamed, so a finished record always has its complete
//! cache; a re-run skips every job whose record exists with the same spec and settings.
//! Audio is not kept unless asked (`keep_audio`: `audio/<id>.wav`, 16-bit), so the disk cost
//! is the cache: about 181 kB per second of audio.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use kindred_engine::FrontEndConfig;
use kindred_engine::analysis::Analyzer;
use kindred_engine::features::{Features, FrontEnd};
use kindred_engine::key::{KeyAccumulator, KeyEstimator};
use kindred_engine::tempo::{TempoAccumulator, TempoEstimator};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::cache::{CACHE_VERSION, CacheShape, CacheWriter};
use super::corpus::{write_atomic, write_wav};
use super::labels::{ERAS, Family, GENRES, Mood};
use super::manifest::{Manifest, ManifestEntry, RowError};
use super::pieces::{Piece, PieceIndex};
use super::plan::{self, RenderSpec, Split};
use super::real::RealLabels;
use super::render::{Renderer, Score};
use crate::{Error, Result};

/// Version of `dataset.json`.
pub const DATASET_FORMAT: &str = "kindred-dataset/1";

/// Where to look for a General MIDI SoundFont when none is given, in order (Debian packages
/// `fluid-soundfont-gm`, then `timgm6mb-soundfont`).
pub const SOUNDFONT_SEARCH: [&str; 3] = [
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
];

/// The first SoundFont of [`SOUNDFONT_SEARCH`] that exists.
pub fn find_soundfont() -> Result<PathBuf> {
    SOUNDFONT_SEARCH
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::SoundFont(format!(
                "no General MIDI SoundFont found (looked for {}); install one with \
                 `apt-get install fluid-soundfont-gm` (or the small `timgm6mb-soundfont`), \
                 or pass --soundfont",
                SOUNDFONT_SEARCH.join(", ")
            ))
        })
}

/// What to build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildOptions {
    /// Output directory.
    pub out: PathBuf,
    /// `pieces.json` (or its directory) from `scripts/music21_export.py`.
    pub pieces: Option<PathBuf>,
    /// A user's `labels.csv`.
    pub manifest: Option<PathBuf>,
    /// General MIDI SoundFont (SF2).
    pub soundfont: PathBuf,
    /// Seed of the render design and the splits.
    pub seed: u64,
    /// Variations per factor and piece (renders per piece = 1 + 4 × this).
    pub per_factor: u32,
    /// Renders are cut after this many seconds (the cache cost is ~181 kB/s).
    pub max_seconds: f64,
    /// Train / validation / test fractions (by piece).
    pub splits: [f64; 3],
    /// An earlier dataset whose pieces and files keep the split they had there (matched by
    /// [`unit_key`]), so a grown dataset keeps the earlier test set held out. The new pieces
    /// are split as usual.
    #[serde(default)]
    pub keep_splits: Option<PathBuf>,
    /// Also write each render as `audio/<id>.wav`.
    pub keep_audio: bool,
    /// Only use the first N pieces of the index (None = all).
    pub limit: Option<usize>,
    /// Show a progress bar.
    #[serde(skip)]
    pub progress: bool,
}

/// Where a record's audio comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A rendered music21 score.
    Music21,
    /// A row of the user's manifest.
    Manifest,
    /// A passage of a real recording (see [`real`](super::real)).
    Real,
}

/// One track of the dataset: labels, split, provenance, cache file and engine estimates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub source: Source,
    /// Split unit: the piece id (all renders of a piece), or the manifest file's id.
    pub piece: String,
    pub split: Split,
    pub genre: Option<String>,
    /// Mood *proxy* (see [`Mood`]).
    pub mood: Option<String>,
    pub instrument: Option<String>,
    pub era: Option<String>,
    /// BPM (of the notated beat for renders).
    pub tempo: Option<f32>,
    pub key: Option<String>,
    /// "rendered", "manifest" or "estimated".
    pub tempo_source: String,
    pub key_source: String,
    /// The render's design (None for manifest rows).
    pub spec: Option<RenderSpec>,
    /// Key of the score before transposition.
    pub original_key: Option<String>,
    /// The audio: MIDI file of the score, or the user's file.
    pub audio_source: String,
    pub title: String,
    pub composer: String,
    /// Cache file relative to the dataset directory.
    pub cache: String,
    pub windows: u32,
    pub seconds: f64,
    /// The engine's estimates on this audio (a check of the labels).
    pub estimated_tempo: f32,
    pub estimated_key: String,
    /// Settings fingerprint; a record with another fingerprint is rebuilt.
    pub fingerprint: String,
    /// Relative labels and provenance of a real recording (absent for other sources, and in
    /// datasets written before real recordings existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real: Option<RealLabels>,
}

/// The outcome of a build.
#[derive(Debug, Default)]
pub struct BuildReport {
    pub records: Vec<Record>,
    /// Jobs done in this run.
    pub built: usize,
    /// Jobs found finished and skipped.
    pub skipped: usize,
    /// Manifest rows rejected before or during the build.
    pub row_errors: Vec<RowError>,
    /// Renders that failed (id, reason).
    pub failures: Vec<(String, String)>,
    /// Pieces and files whose split came from [`BuildOptions::keep_splits`].
    pub kept_splits: usize,
}

enum Job<'a> {
    Render {
        spec: RenderSpec,
        piece: &'a Piece,
        split: Split,
    },
    File {
        entry: ManifestEntry,
        id: String,
        split: Split,
    },
}

impl Job<'_> {
    fn id(&self) -> &str {
        match self {
            Job::Render { spec, .. } => &spec.id,
            Job::File { id, .. } => id,
        }
    }
}

/// Per-thread analysis state.
pub(crate) struct Worker {
    renderer: Option<Renderer>,
    front_end: FrontEnd,
    features: Features,
    window: Vec<f32>,
    tempo: TempoEstimator,
    key: KeyEstimator,
    analyzer: Analyzer,
}

impl Worker {
    pub(crate) fn new(cfg: &FrontEndConfig, renderer: Option<Renderer>) -> Self {
        Self {
            renderer,
            front_end: FrontEnd::new(cfg.clone()),
            features: Features::new(cfg),
            window: vec![0.0; cfg.window_samples],
            tempo: TempoEstimator::new(cfg),
            key: KeyEstimator::new(cfg),
            analyzer: Analyzer::new(cfg.clone()),
        }
    }

    /// Features of `samples` (non-overlapping windows from 0, partial last window dropped, a
    /// clip shorter than one window zero-padded: the engine's windowing) into `writer`.
    /// Returns the engine's tempo (BPM) and key estimates.
    pub(crate) fn cache_samples(
        &mut self,
        samples: &[f32],
        writer: &mut CacheWriter,
    ) -> Result<(f32, String)> {
        let n = self.window.len();
        let mut tempo_acc = TempoAccumulator::new(&self.tempo);
        let mut key_acc = KeyAccumulator::for_config(self.front_end.config());
        let count = (samples.len() / n).max(1);
        for w in 0..count {
            let part = &samples[(w * n).min(samples.len())..((w + 1) * n).min(samples.len())];
            self.window[..part.len()].copy_from_slice(part);
            self.window[part.len()..].fill(0.0);
            self.front_end.compute(&self.window, &mut self.features)?;
            tempo_acc.add(self.features.tempogram.view());
            key_acc.add(self.features.chroma.view(), self.features.power.view());
            writer.push(&self.features)?;
        }
        Ok((
            tempo_acc.estimate(&self.tempo).bpm,
            key_acc.estimate(&self.key).key.to_string(),
        ))
    }
}

/// Builds (or resumes) the dataset `opts` describes.
pub fn build(opts: &BuildOptions) -> Result<BuildReport> {
    let cfg = FrontEndConfig::default();
    let out = &opts.out;
    for dir in ["cache", "records", "audio"] {
        if dir != "audio" || opts.keep_audio {
            std::fs::create_dir_all(out.join(dir)).map_err(Error::io(out.join(dir)))?;
        }
    }
    let total: f64 = opts.splits.iter().sum();
    if opts.splits.iter().any(|f| *f < 0.0) || total <= 0.0 {
        return Err(Error::Invalid(format!(
            "split fractions {:?} must be ≥ 0 with a positive sum",
            opts.splits
        )));
    }
    let sf_name = opts
        .soundfont
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let render_fp = format!(
        "cache v{CACHE_VERSION}; {sf_name}; {} Hz; max {} s",
        cfg.sample_rate, opts.max_seconds
    );
    let file_fp = format!("cache v{CACHE_VERSION}; {} Hz", cfg.sample_rate);

    let mut report = BuildReport::default();
    let index = opts.pieces.as_deref().map(PieceIndex::load).transpose()?;
    let mut pieces: Vec<&Piece> = index.iter().flat_map(|i| i.pieces.iter()).collect();
    if let Some(limit) = opts.limit {
        pieces.truncate(limit);
    }
    let manifest = opts.manifest.as_deref().map(Manifest::load).transpose()?;
    if let Some(m) = &manifest {
        report.row_errors.extend(m.errors.iter().cloned());
    }

    // Splits by piece (renders) and by file (manifest rows), stratified by genre.
    let mut units: Vec<(String, String)> = pieces
        .iter()
        .map(|p| (p.id.clone(), p.genre.clone()))
        .collect();
    let file_ids: Vec<String> = manifest
        .iter()
        .flat_map(|m| m.entries.iter())
        .map(|e| {
            let stem = e
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let clean: String = stem
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .take(60)
                .collect();
            format!("user_r{:05}_{clean}", e.row)
        })
        .collect();
    for (e, id) in manifest
        .iter()
        .flat_map(|m| m.entries.iter())
        .zip(&file_ids)
    {
        units.push((id.clone(), e.genre.clone().unwrap_or_default()));
    }
    let mut splits = plan::assign_splits(&units, opts.splits, opts.seed);
    if let Some(earlier) = &opts.keep_splits {
        let kept: BTreeMap<String, Split> = DatasetFile::load(earlier)?
            .records
            .iter()
            .filter_map(|r| Some((unit_key(&r.source, &r.piece, &r.audio_source)?, r.split)))
            .collect();
        let keys = pieces
            .iter()
            .map(|p| unit_key(&Source::Music21, &p.id, &p.midi))
            .chain(
                manifest
                    .iter()
                    .flat_map(|m| m.entries.iter())
                    .map(|e| unit_key(&Source::Manifest, "", &e.path.display().to_string())),
            );
        for (split, key) in splits.iter_mut().zip(keys) {
            if let Some(&s) = key.and_then(|k| kept.get(&k)) {
                *split = s;
                report.kept_splits += 1;
            }
        }
    }

    let mut jobs = Vec::new();
    let rotation = plan::BaseRotation::new(opts.seed);
    let positions = plan::positions(&pieces)?;
    for ((piece, &split), &position) in pieces.iter().zip(&splits).zip(&positions) {
        for spec in plan::plan_piece(piece, position, &rotation, opts.seed, opts.per_factor)? {
            jobs.push(Job::Render { spec, piece, split });
        }
    }
    let entries = manifest.iter().flat_map(|m| m.entries.iter());
    for ((entry, id), &split) in entries.zip(&file_ids).zip(&splits[pieces.len()..]) {
        jobs.push(Job::File {
            entry: entry.clone(),
            id: id.clone(),
            split,
        });
    }

    // Resume: a job is done when its record exists with the same spec, split and settings.
    let mut todo = Vec::new();
    for job in jobs {
        let path = out.join("records").join(format!("{}.json", job.id()));
        let done = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<Record>(&t).ok())
            .filter(|r| {
                out.join(&r.cache).is_file()
                    && match &job {
                        Job::Render { spec, split, .. } => {
                            r.spec.as_ref() == Some(spec)
                                && r.split == *split
                                && r.fingerprint == render_fp
                        }
                        Job::File { entry, split, .. } => {
                            r.audio_source == entry.path.display().to_string()
                                && r.split == *split
                                && r.fingerprint == file_fp
                                && (entry.tempo.is_none() || r.tempo == entry.tempo)
                                && (entry.key.is_none() || r.key == entry.key)
                                && r.genre == entry.genre
                                && r.mood == entry.mood
                                && r.instrument == entry.instrument
                                && r.era == entry.era
                        }
                    }
            });
        match done {
            Some(record) => {
                report.records.push(record);
                report.skipped += 1;
            }
            None => todo.push(job),
        }
    }

    let renderer = if todo.iter().any(|j| matches!(j, Job::Render { .. })) {
        Some(Renderer::new(
            &opts.soundfont,
            cfg.sample_rate,
            opts.max_seconds,
        )?)
    } else {
        None
    };
    let bar = if opts.progress {
        let bar = ProgressBar::new(todo.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} renders · ETA {eta} · {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    if report.skipped > 0 && opts.progress {
        bar.println(format!("resuming: {} done already", report.skipped));
    }
    let scores: Mutex<BTreeMap<String, std::sync::Arc<Score>>> = Mutex::new(BTreeMap::new());
    let results: Vec<(String, Result<Record>)> = todo
        .par_iter()
        .map_init(
            || Worker::new(&cfg, renderer.clone()),
            |worker, job| {
                let id = job.id().to_string();
                let result = match job {
                    Job::Render { spec, piece, split } => {
                        let midi = index
                            .as_ref()
                            .map(|i| i.midi_path(piece))
                            .unwrap_or_default();
                        render_job(
                            worker, opts, &cfg, &scores, &midi, piece, spec, *split, &render_fp,
                        )
                    }
                    Job::File { entry, id, split } => {
                        file_job(worker, opts, &cfg, entry, id, *split, &file_fp)
                    }
                };
                bar.set_message(id.clone());
                bar.inc(1);
                (id, result)
            },
        )
        .collect();
    bar.finish_and_clear();
    for ((id, result), job) in results.into_iter().zip(&todo) {
        match result {
            Ok(record) => {
                report.built += 1;
                report.records.push(record);
            }
            Err(e) => match job {
                Job::File { entry, .. } => {
                    // Engine errors start with the file's path; the row error names it already.
                    let reason = e.to_string();
                    let prefix = format!("{}: ", entry.path.display());
                    report.row_errors.push(RowError {
                        row: entry.row,
                        path: entry.listed.clone(),
                        reason: reason.strip_prefix(&prefix).unwrap_or(&reason).to_string(),
                    })
                }
                Job::Render { .. } => report.failures.push((id, e.to_string())),
            },
        }
    }
    report.records.sort_by(|a, b| a.id.cmp(&b.id));
    report.row_errors.sort_by_key(|e| e.row);
    write_outputs(opts, index.as_ref(), &report)?;
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn render_job(
    worker: &mut Worker,
    opts: &BuildOptions,
    cfg: &FrontEndConfig,
    scores: &Mutex<BTreeMap<String, std::sync::Arc<Score>>>,
    midi: &Path,
    piece: &Piece,
    spec: &RenderSpec,
    split: Split,
    fingerprint: &str,
) -> Result<Record> {
    let cached = scores.lock().ok().and_then(|s| s.get(&piece.id).cloned());
    let score = match cached {
        Some(s) => s,
        None => {
            let s = std::sync::Arc::new(Score::load(midi)?);
            if let Ok(mut map) = scores.lock() {
                map.insert(piece.id.clone(), s.clone());
            }
            s
        }
    };
    let renderer = worker
        .renderer
        .clone()
        .ok_or_else(|| Error::Invalid("no renderer".into()))?;
    let samples = renderer.render(&score, spec, piece.beat_quarters)?;
    if opts.keep_audio {
        write_wav(
            &opts.out.join("audio").join(format!("{}.wav", spec.id)),
            &samples,
            cfg.sample_rate,
        )?;
    }
    let cache_rel = format!("cache/{}.kfc", spec.id);
    let mut writer = CacheWriter::create(&opts.out.join(&cache_rel), CacheShape::of(cfg))?;
    let (est_tempo, est_key) = worker.cache_samples(&samples, &mut writer)?;
    let windows = writer.finish()?;
    let record = Record {
        id: spec.id.clone(),
        source: Source::Music21,
        piece: piece.id.clone(),
        split,
        genre: Some(piece.genre.clone()),
        mood: Some(spec.mood.name().to_string()),
        instrument: Some(spec.family.name().to_string()),
        era: Some(piece.era.clone()),
        tempo: Some(spec.bpm),
        key: Some(spec.key.clone()),
        tempo_source: "rendered".into(),
        key_source: "rendered".into(),
        spec: Some(spec.clone()),
        original_key: Some(piece.written_key()?.to_string()),
        audio_source: piece.midi.clone(),
        title: piece.title.clone(),
        composer: piece.composer.clone(),
        cache: cache_rel,
        windows,
        seconds: samples.len() as f64 / cfg.sample_rate as f64,
        estimated_tempo: est_tempo,
        estimated_key: est_key,
        fingerprint: fingerprint.to_string(),
        real: None,
    };
    save_record(&opts.out, &record)?;
    Ok(record)
}

fn file_job(
    worker: &mut Worker,
    opts: &BuildOptions,
    cfg: &FrontEndConfig,
    entry: &ManifestEntry,
    id: &str,
    split: Split,
    fingerprint: &str,
) -> Result<Record> {
    let cache_rel = format!("cache/{id}.kfc");
    let mut writer = CacheWriter::create(&opts.out.join(&cache_rel), CacheShape::of(cfg))?;
    let mut push_error = None;
    let analysis = worker.analyzer.analyze_with(&entry.path, |f| {
        writer.push(f).map_err(|e| {
            let msg = e.to_string();
            push_error = Some(e);
            kindred_engine::Error::Invalid(msg)
        })
    });
    let analysis = match (analysis, push_error) {
        (_, Some(e)) => return Err(e),
        (Err(e), None) => return Err(e.into()),
        (Ok(a), None) => a,
    };
    if analysis.windows == 0 {
        return Err(Error::Invalid("no complete 3 s window".into()));
    }
    let windows = writer.finish()?;
    let est_tempo = analysis.tempo.bpm;
    let est_key = analysis.key.key.to_string();
    let (tempo, tempo_source) = match entry.tempo {
        Some(t) => (Some(t), "manifest"),
        None => ((est_tempo > 0.0).then_some(est_tempo), "estimated"),
    };
    let (key, key_source) = match &entry.key {
        Some(k) => (Some(k.clone()), "manifest"),
        None => (
            (analysis.key.confidence > 0.0).then(|| est_key.clone()),
            "estimated",
        ),
    };
    let record = Record {
        id: id.to_string(),
        source: Source::Manifest,
        piece: id.to_string(),
        split,
        genre: entry.genre.clone(),
        mood: entry.mood.clone(),
        instrument: entry.instrument.clone(),
        era: entry.era.clone(),
        tempo,
        key,
        tempo_source: tempo_source.into(),
        key_source: key_source.into(),
        spec: None,
        original_key: None,
        audio_source: entry.path.display().to_string(),
        title: entry
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        composer: String::new(),
        cache: cache_rel,
        windows,
        seconds: analysis.duration,
        estimated_tempo: est_tempo,
        estimated_key: est_key,
        fingerprint: fingerprint.to_string(),
        real: None,
    };
    save_record(&opts.out, &record)?;
    Ok(record)
}

fn save_record(out: &Path, record: &Record) -> Result<()> {
    let path = out.join("records").join(format!("{}.json", record.id));
    let text = serde_json::to_vec_pretty(record)
        .map_err(|e| Error::Invalid(format!("record {}: {e}", record.id)))?;
    write_atomic(&path, &text)
}

/// What identifies a split unit across builds: a score by its music21 export id without the
/// export's running index (`0042_bach_bwv66_6` → `bach_bwv66_6`, the same piece in a larger
/// export), a manifest file by its path. Real recordings are split by package, not here.
pub fn unit_key(source: &Source, piece: &str, audio_source: &str) -> Option<String> {
    match source {
        Source::Music21 => Some(match piece.split_once('_') {
            Some((index, rest)) if index.bytes().all(|b| b.is_ascii_digit()) => rest.to_string(),
            _ => piece.to_string(),
        }),
        Source::Manifest => Some(audio_source.to_string()),
        Source::Real => None,
    }
}

/// `dataset.json` as written by [`build`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetFile {
    pub format: String,
    pub options: BuildOptions,
    pub cache_version: u32,
    pub records: Vec<Record>,
    pub row_errors: Vec<RowError>,
    pub failures: Vec<(String, String)>,
}

impl DatasetFile {
    /// Reads `DIR/dataset.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("dataset.json");
        let text = std::fs::read_to_string(&path).map_err(Error::io(&path))?;
        let file: DatasetFile = serde_json::from_str(&text).map_err(|e| Error::Parse {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if file.format != DATASET_FORMAT {
            return Err(Error::Parse {
                path,
                reason: format!("format {:?}, expected {DATASET_FORMAT}", file.format),
            });
        }
        Ok(file)
    }
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn write_outputs(
    opts: &BuildOptions,
    index: Option<&PieceIndex>,
    report: &BuildReport,
) -> Result<()> {
    // Real recordings added by `dataset --real` stay in dataset.json when the synthetic part
    // is rebuilt.
    let mut records = report.records.clone();
    if let Ok(old) = DatasetFile::load(&opts.out) {
        records.extend(old.records.into_iter().filter(|r| r.source == Source::Real));
    }
    let file = DatasetFile {
        format: DATASET_FORMAT.into(),
        options: opts.clone(),
        cache_version: CACHE_VERSION,
        records,
        row_errors: report.row_errors.clone(),
        failures: report.failures.clone(),
    };
    let json = serde_json::to_vec_pretty(&file).map_err(|e| Error::Invalid(e.to_string()))?;
    write_atomic(&opts.out.join("dataset.json"), &json)?;

    let mut csv = String::from(
        "id,source,piece,split,genre,mood,instrument,era,tempo,key,tempo_source,key_source,\
         variation,transpose,original_key,windows,seconds,estimated_tempo,estimated_key,cache\n",
    );
    for r in &report.records {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        let cells = [
            r.id.clone(),
            format!("{:?}", r.source).to_lowercase(),
            r.piece.clone(),
            r.split.name().into(),
            o(&r.genre),
            o(&r.mood),
            o(&r.instrument),
            o(&r.era),
            r.tempo.map(|t| t.to_string()).unwrap_or_default(),
            o(&r.key),
            r.tempo_source.clone(),
            r.key_source.clone(),
            r.spec
                .as_ref()
                .map(|s| format!("{:?}", s.variation).to_lowercase())
                .unwrap_or_default(),
            r.spec
                .as_ref()
                .map(|s| s.transpose.to_string())
                .unwrap_or_default(),
            o(&r.original_key),
            r.windows.to_string(),
            format!("{:.2}", r.seconds),
            format!("{:.1}", r.estimated_tempo),
            r.estimated_key.clone(),
            r.cache.clone(),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        csv.push_str(&line.join(","));
        csv.push('\n');
    }
    write_atomic(&opts.out.join("renders.csv"), csv.as_bytes())?;
    write_atomic(
        &opts.out.join("DATASET_CARD.md"),
        card(opts, index, report).as_bytes(),
    )
}

/// Counts of `label(record)` per class and split.
fn count_table(
    records: &[Record],
    classes: &[String],
    label: impl Fn(&Record) -> Option<String>,
) -> String {
    let mut t =
        String::from("| class | train | validation | test | total |\n|---|---|---|---|---|\n");
    let mut all = classes.to_vec();
    for r in records {
        let l = label(r).unwrap_or_else(|| "(unknown)".into());
        if !all.contains(&l) {
            all.push(l);
        }
    }
    for class in &all {
        let count = |split: Option<Split>| {
            records
                .iter()
                .filter(|r| split.is_none_or(|s| r.split == s))
                .filter(|r| label(r).unwrap_or_else(|| "(unknown)".into()) == *class)
                .count()
        };
        let total = count(None);
        if total == 0 {
            continue;
        }
        let _ = writeln!(
            t,
            "| {class} | {} | {} | {} | {total} |",
            count(Some(Split::Train)),
            count(Some(Split::Validation)),
            count(Some(Split::Test))
        );
    }
    t
}

/// Whether two tempi agree within 4 % up to a factor of 1, 2, 3, ½ or ⅓ (a tempo octave).
pub fn tempo_agrees(label: f32, estimate: f32) -> bool {
    [1.0, 2.0, 3.0, 0.5, 1.0 / 3.0]
        .iter()
        .any(|f| (estimate - label * f).abs() <= 0.04 * label * f)
}

fn card(opts: &BuildOptions, index: Option<&PieceIndex>, report: &BuildReport) -> String {
    let records = &report.records;
    let mut c = String::new();
    let hours: f64 = records.iter().map(|r| r.seconds).sum::<f64>() / 3600.0;
    let pieces: BTreeSet<&str> = records.iter().map(|r| r.piece.as_str()).collect();
    let cache_bytes: u64 = records
        .iter()
        .filter_map(|r| std::fs::metadata(opts.out.join(&r.cache)).ok())
        .map(|m| m.len())
        .sum();
    let _ = writeln!(c, "# Dataset card\n");
    let _ = writeln!(
        c,
        "Built by `kindred-train dataset` (format `{DATASET_FORMAT}`, feature cache v{CACHE_VERSION}), \
         seed {}, {} renders per piece, renders cut at {} s, SoundFont `{}`.\n",
        opts.seed,
        plan::renders_per_piece(opts.per_factor),
        opts.max_seconds,
        opts.soundfont.display()
    );
    let _ = writeln!(
        c,
        "- Tracks: {} ({} pieces or files), {:.2} h of audio, {} windows of 3 s, feature cache {:.1} MB.",
        records.len(),
        pieces.len(),
        hours,
        records.iter().map(|r| r.windows as u64).sum::<u64>(),
        cache_bytes as f64 / 1e6
    );
    for split in Split::ALL {
        let rs: Vec<&Record> = records.iter().filter(|r| r.split == split).collect();
        let ps: BTreeSet<&str> = rs.iter().map(|r| r.piece.as_str()).collect();
        let h: f64 = rs.iter().map(|r| r.seconds).sum::<f64>() / 3600.0;
        let _ = writeln!(
            c,
            "- {}: {} tracks, {} pieces, {:.2} h",
            split.name(),
            rs.len(),
            ps.len(),
            h
        );
    }
    if !report.failures.is_empty() || !report.row_errors.is_empty() {
        let _ = writeln!(
            c,
            "- Left out: {} renders failed, {} manifest rows rejected (listed at the end).",
            report.failures.len(),
            report.row_errors.len()
        );
    }
    let _ = writeln!(c, "\n## Sources and licences\n");
    if let Some(index) = index {
        let _ = writeln!(
            c,
            "Scores: the music21 corpus as shipped in the `music21` {} Python package, exported to \
             MIDI by `scripts/music21_export.py` (pinned in `scripts/requirements-music21.txt`).\n",
            index.music21_version
        );
        let mut by_source: BTreeMap<(String, String), (usize, String)> = BTreeMap::new();
        let used: BTreeSet<&str> = records.iter().map(|r| r.piece.as_str()).collect();
        for p in index.pieces.iter().filter(|p| used.contains(p.id.as_str())) {
            let dir = p.corpus_path.split('/').next().unwrap_or("").to_string();
            let e = by_source
                .entry((dir, p.era_source.clone()))
                .or_insert((0, p.licence.clone()));
            e.0 += 1;
        }
        let _ = writeln!(
            c,
            "| corpus directory | source (year → era) | pieces | licence |\n|---|---|---|---|"
        );
        for ((dir, source), (n, licence)) in &by_source {
            let _ = writeln!(c, "| {dir} | {source} | {n} | {licence} |");
        }
        let _ = writeln!(
            c,
            "\nThe corpus licence (music21 `corpus/license.txt`), verbatim:\n\n```text\n{}\n```\n\n\
             The Essen folk songs are distributed for non-commercial use only \
             (`corpus/essenFolksong/license.txt`); export without them \
             (`scripts/music21_export.py OUT --exclude essenFolksong`) for any commercial use.\n",
            index.corpus_licence.trim()
        );
    }
    let _ = writeln!(
        c,
        "Audio: synthesised with rustysynth from the SoundFont above (Debian `fluid-soundfont-gm`: \
         MIT; `timgm6mb-soundfont`: GPL-2). User files from a manifest keep their own licence.\n"
    );
    let _ = writeln!(c, "## Labels\n");
    let _ = writeln!(
        c,
        "- **tempo**: the rendered BPM, uniform whole numbers in 60–180, counting the piece's \
         notated beat (the first time signature's beat: quarter in 4/4, dotted quarter in 6/8, half \
         in 2/2); the MIDI's own tempo map is replaced by this one tempo.\n\
         - **key**: the piece's key from music21's key analysis of the score (key signatures \
         are not trusted: encoders default to \"major\" and modal music's signature is not its \
         tonal centre), transposed by −6…+5 semitones; the mode is kept, so minor and major pieces together \
         cover the 24 keys. Drums are never transposed.\n\
         - **instrument**: the GM family every melodic channel is set to: {}.\n\
         - **genre**: the corpus' form/type of the piece: {}.\n\
         - **era**: from the year of composition: medieval < 1400 ≤ renaissance < 1600 ≤ baroque < \
         1750 ≤ classical < 1820 ≤ romantic < 1900 ≤ 20th c.; oral-tradition folk music is \
         traditional.\n\
         - **mood (proxy)**: not a perceived mood. No public score corpus has mood ground truth, so \
         mood is a controlled performance manner, drawn independently of tempo and key: calm \
         (velocity 50, legato), tender (velocity 36, legato, an octave up), energetic (velocity 96, \
         staccato 55 %), aggressive (velocity 122, marcato 40 %, doubled an octave below). Report \
         mood results as proxy results.\n",
        Family::ALL.map(|f| f.name()).join(", "),
        GENRES.join(", ")
    );
    let _ = writeln!(
        c,
        "Design: per piece, a base render (seeded random tempo; family, mood and key taken in turn \
         from seeded rotations, so they are balanced over pieces), then {} variation(s) \
         of each factor alone with the others held (one factor at a time). Splits are by piece: \
         no piece has renders in two splits. Target fractions train/validation/test = {:?}.\n",
        opts.per_factor, opts.splits
    );
    if let Some(earlier) = &opts.keep_splits {
        let _ = writeln!(
            c,
            "{} scores or files kept the split they had in the earlier dataset `{}`; the others \
             were split by the fractions above.\n",
            report.kept_splits,
            earlier.display()
        );
    }
    let _ = writeln!(c, "## Class balance (tracks per split)\n");
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    type Label = Box<dyn Fn(&Record) -> Option<String>>;
    let tables: [(&str, Vec<String>, Label); 6] = [
        ("genre", s(GENRES), Box::new(|r: &Record| r.genre.clone())),
        ("era", s(ERAS), Box::new(|r: &Record| r.era.clone())),
        (
            "instrument",
            Family::ALL.iter().map(|f| f.name().to_string()).collect(),
            Box::new(|r: &Record| r.instrument.clone()),
        ),
        (
            "mood (proxy)",
            Mood::ALL.iter().map(|m| m.name().to_string()).collect(),
            Box::new(|r: &Record| r.mood.clone()),
        ),
        (
            "tempo (20 BPM bins)",
            (0..6)
                .map(|i| format!("{}–{}", 60 + 20 * i, 79 + 20 * i + (i == 5) as i32))
                .collect(),
            Box::new(|r: &Record| {
                r.tempo.map(|t| {
                    let i = (((t - 60.0) / 20.0).floor() as i32).clamp(0, 5);
                    format!("{}–{}", 60 + 20 * i, 79 + 20 * i + (i == 5) as i32)
                })
            }),
        ),
        (
            "key",
            kindred_engine::key::Key::all()
                .map(|k| k.to_string())
                .collect(),
            Box::new(|r: &Record| r.key.clone()),
        ),
    ];
    for (name, classes, label) in &tables {
        let _ = writeln!(c, "### {name}\n\n{}", count_table(records, classes, label));
    }
    let rendered: Vec<&Record> = records
        .iter()
        .filter(|r| r.source == Source::Music21)
        .collect();
    if !rendered.is_empty() {
        let tempo_ok = rendered
            .iter()
            .filter(|r| r.tempo.is_some_and(|t| tempo_agrees(t, r.estimated_tempo)))
            .count();
        let key_ok = rendered
            .iter()
            .filter(|r| r.key.as_deref() == Some(r.estimated_key.as_str()))
            .count();
        let _ = writeln!(
            c,
            "## Engine check of the labels\n\n\
             The engine's own estimators on each render, against the label: tempo within 4 % up to \
             a tempo octave (×2, ×3, ×½, ×⅓) for {tempo_ok} of {n} renders ({:.0} %); exact key for \
             {key_ok} of {n} ({:.0} %). Disagreements are estimator errors or genuinely ambiguous \
             music (the labels are true by construction), and bound what tempo/key estimates can \
             do on this data.\n",
            100.0 * tempo_ok as f64 / rendered.len() as f64,
            100.0 * key_ok as f64 / rendered.len() as f64,
            n = rendered.len()
        );
    }
    if !report.row_errors.is_empty() || !report.failures.is_empty() {
        let _ = writeln!(c, "## Left out\n");
        for e in &report.row_errors {
            let _ = writeln!(c, "- manifest {e}");
        }
        for (id, e) in &report.failures {
            let _ = writeln!(c, "- render {id}: {e}");
        }
    }
    c
}
