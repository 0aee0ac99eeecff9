//! The analysis worker: our own thread, started in `activate()` and stopped (flag + join) in
//! `deactivate()` or on drop. It owns everything that allocates or takes time — the
//! resampler, the feature front end, the ONNX Runtime session and the library — so the audio
//! thread only pushes samples into the ring (SPEC §5).
//!
//! Each pass of its loop drains the ring, resamples to the model's rate (22 050 Hz), keeps the
//! newest 3 s, and once a hop of new audio has arrived analyses that window: features → tempo
//! and key → the embedding (if a model loaded) → the comparison with the library and the
//! reference (the engine's [`LiveMatcher`], if a library is loaded) → one [`Snapshot`] written
//! to a triple buffer that the editor reads. When analysis takes longer than a hop, the windows
//! that could not be analysed are skipped and counted; the audio thread is never waited on.
//!
//! Work longer than a hop runs on threads of the worker's own ([`Background`]), so analysis
//! goes on meanwhile: indexing a folder into the library (with progress, cancelled when the
//! worker stops) and embedding a reference file that is not in the library. The worker joins
//! them when it stops, so nothing outlives the plugin.
//!
//! Decisions written down here:
//! - **Silence**: a window whose newest hop is below −60 dBFS RMS is not analysed; the
//!   snapshot says "silence" and keeps the last results.
//! - **Transport**: when the host's transport goes from playing to stopped, the window is
//!   emptied, so the tail of what was playing is not analysed as if it were still there. A
//!   host that never reports playing (or live input while stopped) is analysed as it comes.
//! - **Weights**: all six at zero count as all equal (the ranking needs some weight).
//! - **Latency** is measured from the moment the worker holds the window's last sample to the
//!   moment its snapshot is published. The audio waits up to [`POLL`] in the ring before that,
//!   and the resampler holds back one block of input (1 024 samples; 1 537 where the host rate
//!   is a whole multiple of 22 050 Hz, as 44.1 kHz) plus half its filter.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use kindred_engine::FrontEndConfig;
use kindred_engine::contract::SIX_DIMENSIONS;
use kindred_engine::embedding::TrackEmbedder;
use kindred_engine::features::{Features, FrontEnd};
use kindred_engine::indexing::{self, Event, IndexOptions, IndexReport};
use kindred_engine::inference::{Device, Embedder, EmbedderOptions, model, runtime};
use kindred_engine::key::{KeyEstimate, KeyEstimator};
use kindred_engine::library::Library;
use kindred_engine::matching::LiveMatcher;
use kindred_engine::resample::StreamResampler;
use kindred_engine::search::Hit;
use kindred_engine::similarity::{self, Similarity, Weights};
use kindred_engine::tempo::{TempoEstimate, TempoEstimator};
use ringbuf::HeapCons;
use ringbuf::traits::Consumer;

use crate::params::KindredParams;

/// How long the worker sleeps when the ring is empty.
pub const POLL: Duration = Duration::from_millis(5);
/// Analysed windows kept for the similarity-over-time strip.
pub const HISTORY: usize = 120;
/// Library matches listed.
pub const TOP_K: usize = 10;
/// RMS below which the newest hop counts as silence (−60 dBFS).
pub const SILENCE_RMS: f32 = 1e-3;

/// State shared by the audio thread, the worker and the editor; atomics only.
#[derive(Default)]
pub struct Shared {
    /// Samples the audio thread could not push because the ring was full.
    pub dropped_samples: AtomicU32,
    /// The host's transport, as of the last `process()` call.
    pub playing: AtomicBool,
}

/// What the worker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activity {
    /// Not started, or the plugin is not active.
    #[default]
    Idle,
    /// Loading ONNX Runtime and the model.
    Loading,
    /// Collecting the first 3 s.
    Filling,
    /// The newest audio is silence; nothing is analysed.
    Silence,
    /// Analysing every hop.
    Analysing,
}

/// Similarity per dimension and combined under the user's weights, each 0–1.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scores {
    pub per_dimension: [f32; 6],
    pub combined: f32,
}

impl Scores {
    fn from_percent(per_dimension: &[f32], combined: f32) -> Self {
        Self {
            per_dimension: std::array::from_fn(|i| per_dimension[i] / 100.0),
            combined: combined / 100.0,
        }
    }

    fn from_similarity(similarity: Similarity) -> Self {
        Self::from_percent(&similarity.per_dimension, similarity.combined)
    }

    /// "combined 97 % (genre 98 %, mood 96 %, …)".
    fn describe(&self) -> String {
        let dims: Vec<String> = SIX_DIMENSIONS
            .iter()
            .zip(self.per_dimension)
            .map(|(name, v)| format!("{name} {:.0} %", v * 100.0))
            .collect();
        format!(
            "combined {:.0} % ({})",
            self.combined * 100.0,
            dims.join(", ")
        )
    }
}

/// One library track in the top matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// The track's file name.
    pub name: String,
    pub scores: Scores,
}

/// What comparing one window embedding with the library gives.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Comparison {
    /// Similarity to the selected reference; `None` without one.
    pub reference: Option<Scores>,
    /// The best library tracks under the weights, best first, at most [`TOP_K`].
    pub matches: Vec<Match>,
}

/// Everything the editor shows, published once per analysed window (and on state changes).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub activity: Activity,
    /// Windows analysed since the worker started.
    pub windows: u64,
    /// Windows skipped because analysis fell behind.
    pub skipped_windows: u64,
    /// Windows not analysed because they were silent.
    pub silent_windows: u64,
    /// Samples dropped by the audio thread on a full ring.
    pub dropped_samples: u32,
    /// Seconds of the first window collected so far (up to 3).
    pub filled_seconds: f32,
    /// Host transport as last seen.
    pub playing: bool,
    /// Tempo and key of the newest analysed window.
    pub tempo: Option<TempoEstimate>,
    pub key: Option<KeyEstimate>,
    /// The newest comparison (empty without a library).
    pub comparison: Comparison,
    /// Combined similarity to the reference per analysed window, oldest first, ≤ [`HISTORY`].
    pub history: Vec<Option<f32>>,
    /// From the window being complete to its snapshot being published, milliseconds.
    pub latency_ms: f32,
    /// Share of one core the worker spent analysing since it started, 0–1.
    pub cpu_load: f32,
    /// Input rate of the host.
    pub input_rate: u32,
    /// The model in use, or why there is none.
    pub model: String,
    /// The ONNX Runtime library in use, or why there is none.
    pub runtime: String,
    /// "CPU", "GPU" or "—".
    pub device: &'static str,
    /// The library in use, or its state ("none chosen", "missing: …").
    pub library: String,
    /// File names of the library's tracks, for the reference chooser.
    pub tracks: Arc<[String]>,
    /// Indexing a folder in the background: files done and to do.
    pub indexing: Option<(usize, usize)>,
    /// The reference in use, or its state ("none chosen", "analysing …", "not found: …").
    pub reference: String,
    /// The last error, in plain words.
    pub error: Option<String>,
}

impl Snapshot {
    /// The newest analysed window in one line, for the host's log.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "window {} analysed in {:.1} ms",
            self.windows, self.latency_ms
        );
        if let (Some(tempo), Some(key)) = (self.tempo, self.key) {
            line += &format!(": {:.1} BPM, {}", tempo.bpm, key.key);
        }
        if let Some(scores) = &self.comparison.reference {
            line += &format!("; reference {}: {}", self.reference, scores.describe());
        }
        if let Some(top) = self.comparison.matches.first() {
            line += &format!("; top match {}: {}", top.name, top.scores.describe());
        }
        line
    }
}

/// Messages from the plugin (GUI or state restore) to the worker.
pub enum Command {
    /// The library file chosen in the GUI or restored with the project.
    Library(Option<PathBuf>),
    /// The reference: a library track (its path or file name) or an audio file's path.
    Reference(Option<String>),
    /// Index the audio files under `folder` into `library` (created if missing), then use it.
    IndexFolder { folder: PathBuf, library: PathBuf },
}

/// Where the worker's inputs come from.
pub struct WorkerSetup {
    /// Host sample rate in Hz.
    pub input_rate: u32,
    /// The mono samples the audio thread pushes.
    pub ring: HeapCons<f32>,
    /// Where snapshots go (the editor holds the output).
    pub snapshots: triple_buffer::Input<Snapshot>,
    pub params: Arc<KindredParams>,
    pub shared: Arc<Shared>,
    /// Library and reference choices (the plugin keeps the sender across workers).
    pub inbox: Receiver<Command>,
    /// Called after each publication (e.g. to ask the editor for a repaint).
    pub on_publish: Box<dyn Fn() + Send>,
    /// Folder of the plugin binary, for the runtime and model lookup.
    pub binary_dir: Option<PathBuf>,
    /// Device for the model; the plugin uses [`Device::Auto`].
    pub device: Device,
    /// The model session of an earlier worker, reused instead of loading the model again
    /// (hosts may activate a plugin many times).
    pub embedder: Option<Embedder>,
}

/// What a stopped worker hands back for the next one.
pub struct Leftovers {
    pub snapshots: triple_buffer::Input<Snapshot>,
    pub embedder: Option<Embedder>,
}

/// A running worker. Dropping it stops it.
pub struct Worker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Leftovers>>,
}

impl Worker {
    /// Starts the worker thread.
    pub fn spawn(setup: WorkerSetup) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("kindred-worker".into())
            .spawn({
                let stop = stop.clone();
                move || Analysis::new(setup, stop).run()
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and returns the snapshot input and the model session for the next
    /// worker (`None` if the thread panicked).
    pub fn stop(mut self) -> Option<Leftovers> {
        self.join()
    }

    fn join(&mut self) -> Option<Leftovers> {
        self.stop.store(true, Ordering::Release);
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.join();
    }
}

/// What a background thread hands back.
enum Finished {
    Indexed {
        library: PathBuf,
        outcome: kindred_engine::Result<IndexReport>,
    },
    Embedded {
        reference: String,
        outcome: kindred_engine::Result<Vec<f32>>,
    },
}

/// The worker's threads for work longer than a hop (module doc).
struct Background {
    done: (Sender<Finished>, Receiver<Finished>),
    threads: Vec<JoinHandle<()>>,
    /// Asks a running indexing to stop after the files in flight.
    cancel: Arc<AtomicBool>,
    /// Indexing progress: files done, files to index.
    progress: Arc<(AtomicUsize, AtomicUsize)>,
    indexing: bool,
}

impl Background {
    fn new() -> Self {
        Self {
            done: crossbeam_channel::unbounded(),
            threads: Vec::new(),
            cancel: Arc::new(AtomicBool::new(false)),
            progress: Arc::new((AtomicUsize::new(0), AtomicUsize::new(0))),
            indexing: false,
        }
    }

    fn spawn(&mut self, name: &str, job: impl FnOnce() -> Finished + Send + 'static) {
        let done = self.done.0.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _ = done.send(job());
            });
        match thread {
            Ok(thread) => self.threads.push(thread),
            Err(e) => nice_plug::nice_error!("Kindred: cannot start a {name} thread: {e}"),
        }
    }

    /// Indexes `folder` into `library` with one model session on one thread, leaving the
    /// other cores to the host.
    fn index(&mut self, folder: PathBuf, library: PathBuf, model: Model) {
        self.indexing = true;
        self.cancel.store(false, Ordering::Relaxed);
        self.progress.0.store(0, Ordering::Relaxed);
        self.progress.1.store(0, Ordering::Relaxed);
        let (cancel, progress) = (self.cancel.clone(), self.progress.clone());
        self.spawn("kindred-indexing", move || {
            let outcome = (|| {
                let files = indexing::audio_files(std::slice::from_ref(&folder))?;
                let mut lib = Library::open_or_create(&library, &model.id, &model.layout)?;
                let options = IndexOptions {
                    jobs: 1,
                    embedder: EmbedderOptions {
                        device: Device::Cpu,
                        threads: 1,
                    },
                };
                indexing::index(
                    &mut lib,
                    &[folder],
                    &files,
                    &model.path,
                    &options,
                    |event| {
                        match event {
                            Event::Planned { to_index, .. } => {
                                progress.1.store(to_index, Ordering::Relaxed)
                            }
                            Event::Indexed { .. } | Event::Failed { .. } => {
                                progress.0.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        if cancel.load(Ordering::Relaxed) {
                            ControlFlow::Break(())
                        } else {
                            ControlFlow::Continue(())
                        }
                    },
                )
            })();
            Finished::Indexed { library, outcome }
        });
    }

    /// The mean embedding of the audio file `reference`, with a model session of its own.
    fn embed(&mut self, reference: String, model: Model) {
        self.spawn("kindred-reference", move || {
            let outcome = Embedder::load(
                &model.path,
                &EmbedderOptions {
                    device: Device::Cpu,
                    threads: 1,
                },
            )
            .and_then(|embedder| TrackEmbedder::new(embedder).embed_file(Path::new(&reference)))
            .map(|track| track.mean.to_vec());
            Finished::Embedded { reference, outcome }
        });
    }

    /// Files done and to do while indexing.
    fn progress(&self) -> Option<(usize, usize)> {
        self.indexing.then(|| {
            let (done, total) = &*self.progress;
            (done.load(Ordering::Relaxed), total.load(Ordering::Relaxed))
        })
    }

    /// Stops indexing and waits for every thread.
    fn join(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// What the background threads need to know of the loaded model.
#[derive(Clone)]
struct Model {
    path: PathBuf,
    /// The identity libraries record ([`indexing::model_id`]).
    id: String,
    layout: kindred_engine::contract::EmbeddingLayout,
}

/// The worker thread's state.
struct Analysis {
    setup: WorkerSetup,
    stop: Arc<AtomicBool>,
    snapshot: Snapshot,
    embedder: Option<Embedder>,
    model: Option<Model>,
    matcher: Option<LiveMatcher>,
    /// The reference as the user named it, and its embedding once known.
    reference: Option<String>,
    reference_embedding: Option<Vec<f32>>,
    /// Whether a window compared with the current reference was logged: once per reference,
    /// so the host's log shows that analysis works without filling up.
    reference_logged: bool,
    background: Background,
    started: Instant,
    busy: Duration,
}

impl Analysis {
    fn new(mut setup: WorkerSetup, stop: Arc<AtomicBool>) -> Self {
        let snapshot = Snapshot {
            input_rate: setup.input_rate,
            device: "—",
            library: "none chosen".into(),
            reference: "none chosen".into(),
            tracks: Arc::new([]),
            ..Snapshot::default()
        };
        let embedder = setup.embedder.take();
        Self {
            setup,
            stop,
            snapshot,
            embedder,
            model: None,
            matcher: None,
            reference: None,
            reference_embedding: None,
            reference_logged: false,
            background: Background::new(),
            started: Instant::now(),
            busy: Duration::ZERO,
        }
    }

    fn publish(&mut self) {
        self.snapshot.dropped_samples = self.setup.shared.dropped_samples.load(Ordering::Relaxed);
        self.snapshot.playing = self.setup.shared.playing.load(Ordering::Relaxed);
        self.snapshot.indexing = self.background.progress();
        self.setup.snapshots.write(self.snapshot.clone());
        (self.setup.on_publish)();
    }

    /// Loads ONNX Runtime and the model; without them tempo and key still work.
    fn load_model(&mut self) {
        if let Some(dir) = &self.setup.binary_dir {
            runtime::set_binary_dir(dir.clone());
        }
        self.snapshot.runtime = match runtime::load() {
            Ok(rt) => rt.path().display().to_string(),
            Err(e) => {
                self.snapshot.model = "no model: ONNX Runtime is missing".into();
                self.snapshot.error = Some(e.to_string());
                return;
            }
        };
        let loaded = match self.embedder.take() {
            Some(embedder) => Ok(embedder),
            None => model::locate(None).and_then(|path| {
                let options = EmbedderOptions {
                    device: self.setup.device,
                    threads: 1,
                };
                Embedder::load(&path, &options)
            }),
        };
        let loaded = loaded.and_then(|embedder| {
            let c = embedder.contract();
            if c.layout.dimensions.len() != 6 {
                return Err(kindred_engine::Error::Invalid(format!(
                    "{}: the model has {} dimensions; the plugin shows the six of SPEC §2",
                    embedder.path().display(),
                    c.layout.dimensions.len()
                )));
            }
            let id = indexing::model_id(&embedder)?;
            Ok((embedder, id))
        });
        match loaded {
            Ok((embedder, id)) => {
                let c = embedder.contract();
                self.snapshot.model = format!(
                    "{} ({}, {}-d, {})",
                    file_name(embedder.path()),
                    c.architecture,
                    c.layout.embedding_size(),
                    c.model_version
                );
                self.snapshot.device = if embedder.on_gpu() { "GPU" } else { "CPU" };
                self.model = Some(Model {
                    path: embedder.path().to_path_buf(),
                    id,
                    layout: c.layout.clone(),
                });
                self.embedder = Some(embedder);
            }
            Err(e) => {
                self.snapshot.model = "no model (tempo and key only)".into();
                self.snapshot.error = Some(e.to_string());
            }
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Library(path) => self.open_library(path),
            Command::Reference(name) => {
                self.reference = name;
                self.resolve_reference();
            }
            Command::IndexFolder { folder, library } => {
                match (&self.model, self.background.indexing) {
                    (_, true) => {
                        self.snapshot.error = Some("an indexing run is still going on".into());
                    }
                    (None, _) => {
                        self.snapshot.error =
                            Some("indexing needs the model, which is not loaded".into());
                    }
                    (Some(model), false) => {
                        self.snapshot.library =
                            format!("indexing {} into {}", folder.display(), library.display());
                        self.background.index(folder, library, model.clone());
                    }
                }
            }
        }
        self.publish();
    }

    fn open_library(&mut self, path: Option<PathBuf>) {
        self.matcher = None;
        self.snapshot.tracks = Arc::new([]);
        self.snapshot.library = match (path, &self.model) {
            (None, _) => "none chosen".into(),
            (Some(path), _) if !path.is_file() => {
                format!(
                    "missing: {} (choose another library, or index a folder into this one)",
                    path.display()
                )
            }
            (Some(path), None) => format!(
                "{} not loaded: comparing needs the model, which is not loaded",
                path.display()
            ),
            (Some(path), Some(model)) => match LiveMatcher::open(&path, &model.id, &model.layout) {
                Ok(matcher) => {
                    let text = format!("{} ({} tracks)", path.display(), matcher.tracks().len());
                    self.snapshot.tracks =
                        matcher.tracks().iter().map(|t| t.name.clone()).collect();
                    self.matcher = Some(matcher);
                    text
                }
                Err(e) => format!("not loaded: {e}"),
            },
        };
        self.resolve_reference();
    }

    /// Finds the reference's embedding: a library track's at once, an audio file's in the
    /// background.
    fn resolve_reference(&mut self) {
        self.reference_embedding = None;
        self.reference_logged = false;
        let Some(name) = self.reference.clone() else {
            self.snapshot.reference = "none chosen".into();
            return;
        };
        if let Some(matcher) = &self.matcher
            && let Some(id) = matcher.find(&name)
        {
            self.reference_embedding = Some(matcher.embedding(id).to_vec());
            self.snapshot.reference = format!("{} (library track)", matcher.tracks()[id].name);
            return;
        }
        self.snapshot.reference = match (&self.model, Path::new(&name).is_file()) {
            (Some(model), true) => {
                self.background.embed(name.clone(), model.clone());
                format!("{name}: analysing the file…")
            }
            (None, true) => format!("{name}: not analysed, the model is not loaded"),
            (_, false) => {
                format!("not found: {name} is neither a track of the library nor an audio file")
            }
        };
    }

    /// Takes what the background threads finished.
    fn collect_background(&mut self) {
        let mut any = false;
        while let Ok(finished) = self.background.done.1.try_recv() {
            any = true;
            match finished {
                Finished::Indexed { library, outcome } => {
                    self.background.indexing = false;
                    match outcome {
                        Ok(report) => {
                            self.open_library(Some(library));
                            if !report.failed.is_empty() {
                                self.snapshot.error = Some(format!(
                                    "{} of {} files could not be indexed (`kindred library info` lists them)",
                                    report.failed.len(),
                                    report.found
                                ));
                            }
                        }
                        Err(e) => self.snapshot.error = Some(format!("indexing stopped: {e}")),
                    }
                }
                Finished::Embedded { reference, outcome } => {
                    // A reference chosen meanwhile wins.
                    if self.reference.as_deref() != Some(reference.as_str()) {
                        continue;
                    }
                    match outcome {
                        Ok(embedding) => {
                            self.reference_embedding = Some(embedding);
                            self.snapshot.reference =
                                format!("{} (file)", file_name(Path::new(&reference)));
                        }
                        Err(e) => self.snapshot.reference = format!("not analysed: {e}"),
                    }
                }
            }
        }
        if any || self.background.progress() != self.snapshot.indexing {
            self.publish();
        }
    }

    fn run(mut self) -> Leftovers {
        self.snapshot.activity = Activity::Loading;
        self.publish();
        self.load_model();
        // The persisted choices need the model; apply them before listening.
        while let Ok(command) = self.setup.inbox.try_recv() {
            self.handle(command);
        }
        nice_plug::nice_log!(
            "Kindred: ONNX Runtime {}; model {} on {}{}",
            if self.snapshot.runtime.is_empty() {
                "missing"
            } else {
                &self.snapshot.runtime
            },
            self.snapshot.model,
            self.snapshot.device,
            self.snapshot
                .error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
        let config = self
            .embedder
            .as_ref()
            .map(|e| e.contract().front_end.clone())
            .unwrap_or_default();
        if let Err(e) = self.analyse_stream(config) {
            self.snapshot.error = Some(format!("analysis stopped: {e}"));
        }
        self.background.join();
        self.snapshot.activity = Activity::Idle;
        self.publish();
        Leftovers {
            snapshots: self.setup.snapshots,
            embedder: self.embedder,
        }
    }

    fn analyse_stream(&mut self, config: FrontEndConfig) -> kindred_engine::Result<()> {
        let rate = config.sample_rate;
        let window_len = config.window_samples;
        let mut resampler = StreamResampler::new(self.setup.input_rate, rate)?;
        let mut front_end = FrontEnd::new(config.clone());
        let mut features = Features::new(&config);
        let tempo = TempoEstimator::new(&config);
        let key = KeyEstimator::new(&config);
        let mut input = vec![0.0f32; 8192];
        let mut resampled: Vec<f32> = Vec::with_capacity(16384);
        let mut recent: VecDeque<f32> = VecDeque::with_capacity(window_len);
        let mut window = vec![0.0f32; window_len];
        // New samples since the last analysed (or skipped) window; one hop when the first
        // window completes, so it is analysed at once.
        let mut since_last = 0usize;
        let mut was_playing = false;

        self.snapshot.activity = Activity::Filling;
        self.publish();
        while !self.stop.load(Ordering::Acquire) {
            while let Ok(command) = self.setup.inbox.try_recv() {
                self.handle(command);
            }
            self.collect_background();
            let playing = self.setup.shared.playing.load(Ordering::Relaxed);
            if was_playing && !playing {
                recent.clear();
                self.snapshot.activity = Activity::Filling;
                self.snapshot.filled_seconds = 0.0;
                self.publish();
            }
            was_playing = playing;

            // Drain the ring (bounded: the audio thread adds less than we take per pass).
            let mut got = 0;
            for _ in 0..64 {
                let n = self.setup.ring.pop_slice(&mut input);
                if n == 0 {
                    break;
                }
                got += n;
                resampler.process(&input[..n], &mut resampled)?;
            }
            if got == 0 {
                std::thread::sleep(POLL);
                continue;
            }
            let before = recent.len();
            for &s in &resampled {
                if recent.len() == window_len {
                    recent.pop_front();
                }
                recent.push_back(s);
            }
            let hop = ((self.setup.params.hop.value() * rate as f32) as usize).max(1);
            since_last = if before < window_len {
                // The first window is analysed as soon as it is complete: count from one hop
                // at that point, whatever else arrived in the same pass.
                hop + (before + resampled.len()).saturating_sub(window_len)
            } else {
                since_last + resampled.len()
            };
            resampled.clear();
            if recent.len() < window_len {
                let filled = recent.len() as f32 / rate as f32;
                if (filled - self.snapshot.filled_seconds).abs() >= 0.25 {
                    self.snapshot.activity = Activity::Filling;
                    self.snapshot.filled_seconds = filled;
                    self.publish();
                }
                continue;
            }
            self.snapshot.filled_seconds = config.window_seconds() as f32;
            if since_last < hop {
                continue;
            }
            // The window is complete: everything analysed from here on counts as latency.
            let complete = Instant::now();
            self.snapshot.skipped_windows += (since_last / hop - 1) as u64;
            since_last %= hop;
            let (a, b) = recent.as_slices();
            window[..a.len()].copy_from_slice(a);
            window[a.len()..].copy_from_slice(b);

            let newest = &window[window_len - hop.min(window_len)..];
            let rms = (newest.iter().map(|x| x * x).sum::<f32>() / newest.len() as f32).sqrt();
            if rms < SILENCE_RMS {
                self.snapshot.activity = Activity::Silence;
                self.snapshot.silent_windows += 1;
                self.publish();
                continue;
            }
            self.analyse(
                &window,
                &mut front_end,
                &mut features,
                &tempo,
                &key,
                complete,
            );
        }
        Ok(())
    }

    fn analyse(
        &mut self,
        window: &[f32],
        front_end: &mut FrontEnd,
        features: &mut Features,
        tempo: &TempoEstimator,
        key: &KeyEstimator,
        complete: Instant,
    ) {
        if let Err(e) = front_end.compute(window, features) {
            self.snapshot.error = Some(format!("features: {e}"));
            self.publish();
            return;
        }
        self.snapshot.tempo = Some(tempo.estimate(features.tempogram.view()));
        self.snapshot.key = Some(key.estimate(features.power.view()));

        let embedding = match self.embedder.as_mut().map(|e| e.embed(&[&*features])) {
            Some(Ok(rows)) => Some(rows.row(0).to_vec()),
            Some(Err(e)) => {
                self.snapshot.error = Some(format!("model: {e}"));
                None
            }
            None => None,
        };
        self.snapshot.comparison = match &embedding {
            Some(embedding) => self.compare(embedding).unwrap_or_else(|e| {
                self.snapshot.error = Some(format!("comparison: {e}"));
                Comparison::default()
            }),
            None => Comparison::default(),
        };
        let score = self.snapshot.comparison.reference.map(|r| r.combined);
        if self.snapshot.history.len() == HISTORY {
            self.snapshot.history.remove(0);
        }
        self.snapshot.history.push(score);

        self.snapshot.activity = Activity::Analysing;
        self.snapshot.windows += 1;
        let done = Instant::now();
        self.busy += done - complete;
        self.snapshot.latency_ms = (done - complete).as_secs_f32() * 1e3;
        self.snapshot.cpu_load =
            self.busy.as_secs_f32() / (done - self.started).as_secs_f32().max(1e-3);
        self.publish();
        let first_with_reference =
            self.snapshot.comparison.reference.is_some() && !self.reference_logged;
        if self.snapshot.windows == 1 || first_with_reference {
            self.reference_logged |= first_with_reference;
            nice_plug::nice_log!("Kindred: {}", self.snapshot.summary());
        }
    }

    /// A window's embedding against the reference (a library track or a file: the model's
    /// layout is all it needs) and, with a library loaded, the library's closest tracks.
    fn compare(&self, embedding: &[f32]) -> kindred_engine::Result<Comparison> {
        let weights = Weights::new(self.setup.params.weight_values().to_vec())
            .unwrap_or_else(|_| Weights::uniform(6));
        let reference =
            match (&self.model, self.reference_embedding.as_deref()) {
                (Some(model), Some(reference)) => Some(Scores::from_similarity(
                    similarity::compare(&model.layout, embedding, reference, &weights)?,
                )),
                _ => None,
            };
        let matches = match &self.matcher {
            Some(matcher) => {
                let found = matcher.compare(embedding, None, &weights, TOP_K)?;
                view_matches(found.matches, matcher)
            }
            None => Vec::new(),
        };
        Ok(Comparison { reference, matches })
    }
}

/// The library's closest tracks as the editor shows them.
fn view_matches(matches: Vec<Hit>, matcher: &LiveMatcher) -> Vec<Match> {
    matches
        .into_iter()
        .map(
            |Hit {
                 id,
                 score,
                 per_dimension,
             }| Match {
                name: matcher.tracks()[id].name.clone(),
                scores: Scores::from_percent(&per_dimension, score),
            },
        )
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
