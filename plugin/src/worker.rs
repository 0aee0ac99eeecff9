//! The analysis worker: our own thread, started in `activate()` and stopped (flag + join) in
//! `deactivate()` or on drop. It owns everything that allocates or takes time — the
//! resampler, the feature front end, the ONNX Runtime session and the library — so the audio
//! thread only pushes samples into the ring (SPEC §5).
//!
//! Each pass of its loop drains the ring, resamples to the model's rate (22 050 Hz), keeps the
//! newest 3 s, and once a hop of new audio has arrived analyses that window: features → tempo
//! and key → the embedding (if a model loaded) → the comparison with the library (if one is
//! loaded and a [`Matcher`] was handed over) → one [`Snapshot`] written to a triple buffer that
//! the editor reads. When analysis takes longer than a hop, the windows that could not be
//! analysed are skipped and counted; the audio thread is never waited on.
//!
//! Decisions written down here:
//! - **Silence**: a window whose newest hop is below −60 dBFS RMS is not analysed; the
//!   snapshot says "silence" and keeps the last results.
//! - **Transport**: when the host's transport goes from playing to stopped, the window is
//!   emptied, so the tail of what was playing is not analysed as if it were still there. A
//!   host that never reports playing (or live input while stopped) is analysed as it comes.
//! - **Latency** is measured from the moment the worker holds the window's last sample to the
//!   moment its snapshot is published. The audio waits up to [`POLL`] in the ring before that,
//!   and the resampler holds back its 1 024-sample input chunk plus half its filter.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use kindred_engine::FrontEndConfig;
use kindred_engine::features::{Features, FrontEnd};
use kindred_engine::inference::{Device, Embedder, EmbedderOptions, model, runtime};
use kindred_engine::key::{KeyEstimate, KeyEstimator};
use kindred_engine::resample::StreamResampler;
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

/// One library track in the top matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// What to show: the track's name or path.
    pub name: String,
    /// Similarity per dimension, 0–1.
    pub per_dimension: [f32; 6],
    /// Weighted mean of `per_dimension` under the user's weights, 0–1.
    pub combined: f32,
}

/// What comparing one window embedding with the library gives.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Comparison {
    /// Similarity to the selected reference per dimension, 0–1; `None` without a reference.
    pub reference: Option<[f32; 6]>,
    /// The best library tracks under the weights, best first, at most `k`.
    pub matches: Vec<Match>,
}

/// The reference library as the worker uses it. The engine's library module implements this
/// (or a thin adapter over it does); until then no comparison is made and the snapshot says so.
pub trait Matcher: Send {
    /// Compares one window `embedding` (the model's full embedding, SPEC §2 layout) with the
    /// selected `reference` track and with every track of the library: per-dimension cosine
    /// similarity of the slices mapped to 0–1 (SPEC §5), matches ranked by [`combined`].
    fn compare(
        &mut self,
        embedding: &[f32],
        reference: Option<&str>,
        weights: &[f32; 6],
        k: usize,
    ) -> Comparison;
}

/// SPEC §5: the weighted mean of the per-dimension similarities; 0 when every weight is 0.
pub fn combined(per_dimension: &[f32; 6], weights: &[f32; 6]) -> f32 {
    let total: f32 = weights.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    per_dimension
        .iter()
        .zip(weights)
        .map(|(s, w)| s * w)
        .sum::<f32>()
        / total
}

/// Everything the editor shows, published once per analysed window (and on state changes).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub activity: Activity,
    /// Windows analysed since the worker started.
    pub windows: u64,
    /// Windows skipped because analysis fell behind.
    pub skipped_windows: u64,
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
    /// The last error, in plain words.
    pub error: Option<String>,
}

/// Messages from the plugin (GUI or state restore) to the worker.
pub enum Command {
    /// The library file chose in the GUI or restored with the project.
    Library(Option<PathBuf>),
    /// The selected reference track.
    Reference(Option<String>),
    /// A loaded library to compare with (replaces the previous one).
    Matcher(Box<dyn Matcher>),
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

/// The worker thread's state.
struct Analysis {
    setup: WorkerSetup,
    stop: Arc<AtomicBool>,
    snapshot: Snapshot,
    embedder: Option<Embedder>,
    matcher: Option<Box<dyn Matcher>>,
    reference: Option<String>,
    started: Instant,
    busy: Duration,
}

impl Analysis {
    fn new(mut setup: WorkerSetup, stop: Arc<AtomicBool>) -> Self {
        let snapshot = Snapshot {
            input_rate: setup.input_rate,
            device: "—",
            library: "none chosen".into(),
            ..Snapshot::default()
        };
        let embedder = setup.embedder.take();
        Self {
            setup,
            stop,
            snapshot,
            embedder,
            matcher: None,
            reference: None,
            started: Instant::now(),
            busy: Duration::ZERO,
        }
    }

    fn publish(&mut self) {
        self.snapshot.dropped_samples = self.setup.shared.dropped_samples.load(Ordering::Relaxed);
        self.snapshot.playing = self.setup.shared.playing.load(Ordering::Relaxed);
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
        match loaded {
            Ok(embedder) => {
                let c = embedder.contract();
                self.snapshot.model = format!(
                    "{} ({}, {}-d, {})",
                    file_name(embedder.path()),
                    c.architecture,
                    c.layout.embedding_size(),
                    c.model_version
                );
                self.snapshot.device = if embedder.on_gpu() { "GPU" } else { "CPU" };
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
            Command::Library(None) => {
                self.matcher = None;
                self.snapshot.library = "none chosen".into();
            }
            Command::Library(Some(path)) => {
                self.matcher = None;
                self.snapshot.library = if path.is_file() {
                    format!(
                        "{} (not loaded: this build cannot read libraries yet)",
                        path.display()
                    )
                } else {
                    format!("missing: {} (choose the library again)", path.display())
                };
            }
            Command::Reference(name) => self.reference = name,
            Command::Matcher(matcher) => {
                self.matcher = Some(matcher);
                self.snapshot.library = self
                    .snapshot
                    .library
                    .replace(" (not loaded: this build cannot read libraries yet)", "");
            }
        }
    }

    fn run(mut self) -> Leftovers {
        self.snapshot.activity = Activity::Loading;
        self.publish();
        self.load_model();
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
        // New samples since the last analysed (or skipped) window; pinned to one hop while the
        // first window fills, so the first full window is analysed at once.
        let mut since_last = 0usize;
        let mut was_playing = false;

        self.snapshot.activity = Activity::Filling;
        self.publish();
        while !self.stop.load(Ordering::Acquire) {
            while let Ok(command) = self.setup.inbox.try_recv() {
                self.handle(command);
            }
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
            for &s in &resampled {
                if recent.len() == window_len {
                    recent.pop_front();
                }
                recent.push_back(s);
            }
            let hop = ((self.setup.params.hop.value() * rate as f32) as usize).max(1);
            since_last += resampled.len();
            resampled.clear();
            if recent.len() < window_len {
                since_last = hop;
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
                if self.snapshot.activity != Activity::Silence {
                    self.snapshot.activity = Activity::Silence;
                    self.publish();
                }
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
        let weights = self.setup.params.weight_values();
        self.snapshot.comparison = match (&embedding, self.matcher.as_mut()) {
            (Some(embedding), Some(matcher)) => {
                matcher.compare(embedding, self.reference.as_deref(), &weights, TOP_K)
            }
            _ => Comparison::default(),
        };
        let score = self
            .snapshot
            .comparison
            .reference
            .map(|per_dimension| combined(&per_dimension, &weights));
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
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
