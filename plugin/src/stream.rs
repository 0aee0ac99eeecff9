//! The plugin's analysis path without a host ([`Headless`]), and streaming an audio file
//! through it ([`stream_file`]): the samples go
//! block by block into the same ring ([`AudioTap`]) that `process()` fills, and the same
//! [`Worker`] analyses them, so every [`Snapshot`] is what the editor would show at that point
//! of playback. Used by the `kindred-stream` command (the demo's product tour) and the tests.
//!
//! It runs faster than real time, in lock-step: after each hop of audio the feeder waits until
//! the worker has dealt with the window that audio completed, so no window is skipped however
//! fast or slow the machine is.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use kindred_engine::decode;
use kindred_engine::inference::Device;
use kindred_engine::{Error, Result};

use crate::params::KindredParams;
use crate::ring::{self, AudioTap};
use crate::worker::{Activity, Command, Shared, Snapshot, Worker, WorkerSetup};

/// How long the worker may take over one hop (or loading the model) before streaming gives
/// up.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// What to compare the streamed audio with.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub library: Option<PathBuf>,
    /// A library track (path or file name) or an audio file.
    pub reference: Option<String>,
    /// Frames per `process()` block.
    pub block: usize,
    /// Folder to look for ONNX Runtime and the model in first (as the plugin's binary folder).
    pub binary_dir: Option<PathBuf>,
    pub device: Device,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            library: None,
            reference: None,
            block: 512,
            binary_dir: None,
            device: Device::Cpu,
        }
    }
}

/// Streams the file at `path`; `each` sees the snapshot after every analysed hop, with the
/// playback time in seconds. Returns the last snapshot.
pub fn stream_file(
    path: &Path,
    options: &StreamOptions,
    mut each: impl FnMut(f64, &Snapshot),
) -> Result<Snapshot> {
    let mut decoder = decode::open(path)?;
    let rate = decoder.info().sample_rate;
    let choices = [
        Command::Library(options.library.clone()),
        Command::Reference(options.reference.clone()),
    ];
    let mut session = Headless::start(rate, options.device, options.binary_dir.clone(), choices)?;
    let hop = (session.params.hop.value() * rate as f32) as usize;
    let stalled = |snap: Box<Snapshot>| {
        Error::Runtime(format!(
            "the analysis worker made no progress for {} s ({:?}, {} windows)",
            PATIENCE.as_secs(),
            snap.activity,
            snap.windows
        ))
    };
    // The worker applies the library and reference once the model is loaded, before it
    // listens; a reference file is then analysed in the background.
    session
        .wait(PATIENCE, |s| {
            s.activity == Activity::Filling && !s.reference.ends_with("analysing the file…")
        })
        .map_err(stalled)?;

    // Lock-step: the first piece completes the first window (3 s plus a margin for the
    // resampler's delay), each later piece is one hop and so completes exactly one more
    // window; after each, wait for the worker to have dealt with it.
    let first = 3 * rate as usize + rate as usize / 20;
    let dealt_with = |s: &Snapshot| s.windows + s.silent_windows + s.skipped_windows;
    let mut pending: Vec<f32> = Vec::with_capacity(first);
    let mut fed = 0usize;
    let mut seen = 0u64;
    loop {
        let chunk = decoder.next_chunk()?;
        let done = chunk.is_none();
        pending.extend_from_slice(chunk.unwrap_or(&[]));
        loop {
            let piece = if fed == 0 { first } else { hop };
            let ready = pending.len() >= piece || (done && !pending.is_empty());
            if !ready {
                break;
            }
            let n = piece.min(pending.len());
            for block in pending[..n].chunks_mut(options.block.max(1)) {
                session.tap.push(&[block], true);
            }
            pending.drain(..n);
            fed += n;
            if n == piece {
                let snap = session
                    .wait(PATIENCE, |s| dealt_with(s) > seen)
                    .map_err(stalled)?;
                seen = dealt_with(&snap);
                each(fed as f64 / rate as f64, &snap);
            }
        }
        if done {
            break;
        }
    }
    Ok(session.stop())
}

/// The plugin's analysis path without a host: the tap that `process()` feeds, a worker, its
/// command channel and the snapshot output, with default parameters.
pub struct Headless {
    /// Push audio here as `process()` does.
    pub tap: AudioTap,
    pub params: Arc<KindredParams>,
    commands: Sender<Command>,
    worker: Worker,
    output: triple_buffer::Output<Snapshot>,
}

impl Headless {
    /// Starts a worker for input at `rate` Hz; the model runs on `device`, and ONNX Runtime
    /// and the model are looked for in `binary_dir` first (as the plugin's binary folder).
    /// `choices` are applied as soon as the model is loaded, before any audio (as a restored
    /// project's are).
    pub fn start(
        rate: u32,
        device: Device,
        binary_dir: Option<PathBuf>,
        choices: impl IntoIterator<Item = Command>,
    ) -> Result<Self> {
        let params = Arc::new(KindredParams::default());
        let shared = Arc::new(Shared::default());
        let (tap, consumer) = ring::ring(rate as f32, shared.clone());
        let (input, output) = triple_buffer::triple_buffer(&Snapshot::default());
        let (commands, inbox) = crossbeam_channel::unbounded();
        for command in choices {
            let _ = commands.send(command);
        }
        let worker = Worker::spawn(WorkerSetup {
            input_rate: rate,
            ring: consumer,
            snapshots: input,
            params: params.clone(),
            shared,
            inbox,
            on_publish: Box::new(|| {}),
            binary_dir,
            device,
            embedder: None,
        })
        .map_err(|e| Error::Runtime(format!("cannot start the analysis worker: {e}")))?;
        Ok(Self {
            tap,
            params,
            commands,
            worker,
            output,
        })
    }

    /// Sends a command to the worker (as the editor does).
    pub fn send(&self, command: Command) {
        // The worker holds the receiver until it is stopped by `stop`.
        let _ = self.commands.send(command);
    }

    /// The newest snapshot.
    pub fn latest(&mut self) -> Snapshot {
        self.output.read().clone()
    }

    /// The first snapshot for which `ready` holds, or the newest one once `patience` is over.
    pub fn wait(
        &mut self,
        patience: Duration,
        mut ready: impl FnMut(&Snapshot) -> bool,
    ) -> std::result::Result<Snapshot, Box<Snapshot>> {
        let deadline = Instant::now() + patience;
        loop {
            let snap = self.output.read();
            if ready(snap) {
                return Ok(snap.clone());
            }
            if Instant::now() > deadline {
                return Err(Box::new(snap.clone()));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stops the worker (joining its background threads); returns the last snapshot.
    pub fn stop(mut self) -> Snapshot {
        let last = self.latest();
        self.worker.stop();
        last
    }
}
