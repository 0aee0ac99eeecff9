//! Kindred as a plugin (CLAP, VST3) and standalone: shows, live, how similar the input is to a
//! reference library along six dimensions (SPEC §5).
//!
//! Threads and what they own:
//! - **audio** (`process()`): passes audio through untouched (bit-exact, zero latency) and
//!   pushes the mono downmix into a lock-free ring ([`ring::AudioTap`]). Nothing else.
//! - **worker** ([`worker::Worker`]): started in `activate()`, stopped in `deactivate()`;
//!   resamples, analyses every hop and publishes a [`worker::Snapshot`] to a triple buffer.
//! - **GUI** ([`editor::KindredEditor`]): reads the newest snapshot, sets parameters and sends
//!   library/reference choices to the worker over a channel.

pub mod editor;
pub mod params;
pub mod ring;
pub mod stream;
pub mod worker;

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use kindred_engine::inference::{Device, Embedder};
use nice_plug::prelude::*;
use nice_plug_egui::{
    EguiEditor, EguiEditorState, EguiNiceSettings, RepaintNotifier, create_egui_editor,
};

use crate::editor::KindredEditor;
use crate::params::KindredParams;
use crate::ring::AudioTap;
use crate::worker::{Command, Shared, Snapshot, Worker, WorkerSetup};

pub struct Kindred {
    params: Arc<KindredParams>,
    editor_state: Arc<EguiEditorState>,
    repaint: RepaintNotifier,
    shared: Arc<Shared>,
    /// Commands for the worker; the receiver is handed to each worker in turn, so choices made
    /// while the plugin is inactive reach the next one.
    commands: Sender<Command>,
    inbox: Receiver<Command>,
    /// The snapshot input while no worker holds it.
    snapshots: Option<triple_buffer::Input<Snapshot>>,
    /// The editor until the host asks for it.
    editor: Option<KindredEditor>,
    /// The model session while no worker holds it (kept across activations).
    embedder: Option<Embedder>,
    /// Present while active.
    tap: Option<AudioTap>,
    worker: Option<Worker>,
}

impl Default for Kindred {
    fn default() -> Self {
        let params = Arc::new(KindredParams::default());
        let (snapshots, snapshot_output) = triple_buffer::triple_buffer(&Snapshot::default());
        let (commands, inbox) = crossbeam_channel::unbounded();
        let editor = KindredEditor::new(params.clone(), snapshot_output, commands.clone());
        Self {
            editor_state: EguiEditorState::from_size(editor::DEFAULT_SIZE, 1.0),
            repaint: RepaintNotifier::new(),
            shared: Arc::new(Shared::default()),
            commands,
            inbox,
            snapshots: Some(snapshots),
            editor: Some(editor),
            embedder: None,
            tap: None,
            worker: None,
            params,
        }
    }
}

impl Kindred {
    /// The folder of this plugin's own binary (not the host's executable), where the bundle
    /// keeps ONNX Runtime and the model.
    fn binary_dir() -> Option<PathBuf> {
        let path = process_path::get_dylib_path()?;
        // The standalone's path can be relative to the working directory it was started in.
        let path = path.canonicalize().unwrap_or(path);
        path.parent().map(PathBuf::from)
    }

    fn stop_worker(&mut self) {
        if let Some(worker) = self.worker.take()
            && let Some(leftovers) = worker.stop()
        {
            self.snapshots = Some(leftovers.snapshots);
            self.embedder = leftovers.embedder;
        }
        self.tap = None;
    }
}

impl Plugin for Kindred {
    const NAME: &'static str = "Kindred";
    const VENDOR: &'static str = "Kindred";
    const URL: &'static str = "https://example.invalid/kindred";
    const EMAIL: &'static str = "kindred@example.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
    ];

    type Editor = EguiEditor<KindredEditor>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        create_egui_editor(
            self.editor_state.clone(),
            self.repaint.clone(),
            EguiNiceSettings::new().with_resize_hint(editor::RESIZE_HINT),
            self.editor.take()?,
        )
    }

    fn activate(
        &mut self,
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        // Hosts may activate again without deactivating (e.g. after restoring state).
        self.stop_worker();
        let (tap, ring) = ring::ring(buffer_config.sample_rate, self.shared.clone());
        self.tap = Some(tap);
        let Some(snapshots) = self.snapshots.take() else {
            // A previous worker panicked with the snapshot input: pass audio through only.
            nice_error!("Kindred: the analysis worker is gone; audio passes through unanalysed");
            return true;
        };
        // The persisted choices (restored before activate()) go first in the worker's queue.
        let _ = self
            .commands
            .send(Command::Library(self.params.library_path()));
        let _ = self
            .commands
            .send(Command::Reference(self.params.reference_name()));
        let repaint = self.repaint.clone();
        let setup = WorkerSetup {
            input_rate: buffer_config.sample_rate.round() as u32,
            ring,
            snapshots,
            params: self.params.clone(),
            shared: self.shared.clone(),
            inbox: self.inbox.clone(),
            on_publish: Box::new(move || repaint.request_repaint()),
            binary_dir: Self::binary_dir(),
            device: Device::Auto,
            embedder: self.embedder.take(),
        };
        match Worker::spawn(setup) {
            Ok(worker) => self.worker = Some(worker),
            Err(e) => nice_error!("Kindred: cannot start the analysis worker: {e}"),
        }
        true
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        // The output already holds the input (nice-plug copies it when the host does not
        // process in place); we only read it.
        if let Some(tap) = &mut self.tap {
            tap.push(buffer.as_slice_immutable(), context.transport().playing);
        }
        ProcessStatus::Normal
    }

    fn deactivate(&mut self) {
        self.stop_worker();
    }
}

impl Drop for Kindred {
    fn drop(&mut self) {
        self.stop_worker();
    }
}

impl ClapPlugin for Kindred {
    const CLAP_ID: &'static str = "org.kindred.kindred";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Live similarity to a reference library: genre, mood, instrument, era, tempo, key");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Analyzer,
        ClapFeature::Stereo,
        ClapFeature::Mono,
    ];
}

impl Vst3Plugin for Kindred {
    const VST3_CLASS_ID: [u8; 16] = *b"KindredSimilar6D";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Analyzer];
}

nice_export_clap!(Kindred);
nice_export_vst3!(Kindred);
