//! The egui editor: reads the newest [`Snapshot`] and draws it; the weight and hop sliders are
//! the plugin's parameters; the library and reference choices are persisted fields sent to the
//! worker.
//!
//! Layout, top to bottom: the input's BPM and key; six per-dimension bars and the combined
//! score against the selected reference; the similarity-over-time strip; the top library
//! matches with per-dimension mini-bars; the weights and hop; the library chooser (open a
//! library file, or index a folder into it in the background); the reference chooser (a
//! library track picked from a filtered list, or an audio file); the status line. Every path
//! can be typed or picked with *Browse…*, a file dialog drawn inside the plugin window
//! (egui_file): a native dialog would need a desktop portal or GTK in the host's process.
//! Dropping files on the window is not possible yet: egui-baseview 0.9 drops baseview's
//! drag-and-drop events.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::Sender;
use egui::{Color32, RichText, Sense, Stroke, Vec2};
use egui_file::FileDialog;
use kindred_engine::contract::SIX_DIMENSIONS;
use kindred_engine::indexing::AUDIO_EXTENSIONS;
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug::prelude::*;
use nice_plug_egui::resizable_window::ResizableWindow;
use nice_plug_egui::{NiceEguiApp, widgets};

use crate::params::KindredParams;
use crate::worker::{Activity, Command, HISTORY, Snapshot};

pub const DEFAULT_SIZE: LogicalSize<f32> = LogicalSize::new(760.0, 880.0);
const MIN_SIZE: LogicalSize<f32> = LogicalSize::new(480.0, 420.0);
pub const RESIZE_HINT: ResizeHint = ResizeHint::resizable().with_min_logical_size(MIN_SIZE);

const BAR: Color32 = Color32::from_rgb(90, 170, 230);
const COMBINED: Color32 = Color32::from_rgb(240, 180, 60);
const TRACK: Color32 = Color32::from_gray(50);
/// Library tracks listed in the reference chooser at once (narrow the list by typing).
const LISTED_TRACKS: usize = 200;

/// The path a file dialog picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Browse {
    /// A library file, existing or to be created by indexing.
    Library,
    /// A folder of audio files to index.
    Folder,
    /// An audio file to compare with.
    Reference,
}

/// The editor app; it outlives editor windows (opened and closed by the host).
pub struct KindredEditor {
    params: Arc<KindredParams>,
    snapshots: triple_buffer::Output<Snapshot>,
    commands: Sender<Command>,
    gui: Option<GuiContext>,
    library_field: String,
    folder_field: String,
    reference_field: String,
    /// The open file dialog and what it picks.
    dialog: Option<(Browse, FileDialog)>,
}

impl KindredEditor {
    pub fn new(
        params: Arc<KindredParams>,
        snapshots: triple_buffer::Output<Snapshot>,
        commands: Sender<Command>,
    ) -> Self {
        Self {
            params,
            snapshots,
            commands,
            gui: None,
            library_field: String::new(),
            folder_field: String::new(),
            reference_field: String::new(),
            dialog: None,
        }
    }

    /// The library field as a path, remembered with the project.
    fn library_choice(&self) -> Option<PathBuf> {
        let text = self.library_field.trim();
        let path = (!text.is_empty()).then(|| PathBuf::from(text));
        if let Ok(mut library) = self.params.library.lock() {
            library.clone_from(&path);
        }
        path
    }

    fn choose_library(&mut self) {
        let path = self.library_choice();
        let _ = self.commands.send(Command::Library(path));
    }

    fn index_folder(&mut self) {
        let folder = self.folder_field.trim();
        if let (false, Some(library)) = (folder.is_empty(), self.library_choice()) {
            let folder = PathBuf::from(folder);
            let _ = self.commands.send(Command::IndexFolder { folder, library });
        }
    }

    fn choose_reference(&mut self) {
        let text = self.reference_field.trim();
        let name = (!text.is_empty()).then(|| text.to_string());
        if let Ok(mut reference) = self.params.reference.lock() {
            reference.clone_from(&name);
        }
        let _ = self.commands.send(Command::Reference(name));
    }

    fn field(&mut self, what: Browse) -> &mut String {
        match what {
            Browse::Library => &mut self.library_field,
            Browse::Folder => &mut self.folder_field,
            Browse::Reference => &mut self.reference_field,
        }
    }

    /// Opens a file dialog at the field's path (or its folder, or the home folder).
    fn browse(&mut self, what: Browse) {
        let typed = PathBuf::from(self.field(what).trim());
        let start = [Some(typed.as_path()), typed.parent()]
            .into_iter()
            .flatten()
            .find(|p| p.is_dir())
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
            .unwrap_or_default();
        let dialog = match what {
            Browse::Library => FileDialog::save_file()
                .title("Library file (existing, or new to index into)")
                .save_button_text("Choose".into())
                .default_filename("library.klib")
                .show_files_filter(Box::new(|p: &Path| has_extension(p, &["klib"]))),
            Browse::Folder => FileDialog::select_folder().title("Folder of audio files to index"),
            Browse::Reference => FileDialog::open_file()
                .title("Reference audio file")
                .show_files_filter(Box::new(|p: &Path| has_extension(p, &AUDIO_EXTENSIONS))),
        };
        let mut dialog = dialog
            .initial_path(start)
            .default_size([440.0, 380.0])
            .show_rename(false)
            .show_new_folder(what != Browse::Reference);
        dialog.open();
        self.dialog = Some((what, dialog));
    }

    /// Draws the open file dialog; a picked path fills its field and is applied at once.
    fn dialog(&mut self, ctx: &egui::Context) {
        let Some((what, dialog)) = &mut self.dialog else {
            return;
        };
        let what = *what;
        let picked = dialog
            .show(ctx)
            .selected()
            .then(|| dialog.path().map(Path::to_path_buf))
            .flatten();
        if dialog.state() != egui_file::State::Open {
            self.dialog = None;
        }
        let Some(path) = picked else {
            return;
        };
        *self.field(what) = path.display().to_string();
        match what {
            Browse::Library => self.choose_library(),
            Browse::Folder => {}
            Browse::Reference => self.choose_reference(),
        }
    }
}

/// Whether `path` ends in one of `extensions` (any case).
fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

impl KindredEditor {
    /// The library's tracks whose names contain the reference field's text; a click selects.
    fn track_list(&mut self, ui: &mut egui::Ui, snap: &Snapshot) {
        if snap.tracks.is_empty() {
            return;
        }
        let needle = self.reference_field.trim().to_lowercase();
        let mut picked = None;
        egui::ScrollArea::vertical()
            .id_salt("tracks")
            .max_height(120.0)
            .show(ui, |ui| {
                let matching = snap
                    .tracks
                    .iter()
                    .filter(|t| t.to_lowercase().contains(&needle));
                for name in matching.take(LISTED_TRACKS) {
                    if ui.selectable_label(false, name).clicked() {
                        picked = Some(name.clone());
                    }
                }
            });
        if let Some(name) = picked {
            self.reference_field = name;
            self.choose_reference();
        }
    }
}

impl NiceEguiApp for KindredEditor {
    fn build(
        &mut self,
        _egui_ctx: egui::Context,
        gui: GuiContext,
        _frame: &mut nice_plug_egui::Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        self.library_field = self
            .params
            .library_path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        self.reference_field = self.params.reference_name().unwrap_or_default();
        self.gui = Some(gui);
        Ok(())
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut nice_plug_egui::Frame) {
        let Some(gui) = self.gui.clone() else {
            return;
        };
        let setter = gui.param_setter();
        let snap = self.snapshots.read().clone();
        ResizableWindow::new("kindred")
            .min_size(Vec2::new(MIN_SIZE.width, MIN_SIZE.height))
            .show(ui, |ui| {
                let frame = egui::Frame::new().inner_margin(egui::Margin::same(10));
                frame.show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| {
                        input_line(ui, &snap);
                        ui.separator();
                        similarity_bars(ui, &snap);
                        ui.add_space(4.0);
                        history_strip(ui, &snap);
                        ui.separator();
                        top_matches(ui, &snap);
                        ui.separator();
                        ui.label(RichText::new("Weights").strong());
                        egui::Grid::new("weights").num_columns(2).show(ui, |ui| {
                            for (name, weight) in SIX_DIMENSIONS.iter().zip(&self.params.weights) {
                                ui.label(*name);
                                ui.add(widgets::ParamSlider::for_param(&weight.weight, &setter));
                                ui.end_row();
                            }
                            ui.label("hop");
                            ui.add(widgets::ParamSlider::for_param(&self.params.hop, &setter));
                            ui.end_row();
                        });
                        ui.separator();
                        ui.horizontal(|ui| {
                            ui.label("Library file");
                            ui.text_edit_singleline(&mut self.library_field);
                            if ui.button("Browse…").clicked() {
                                self.browse(Browse::Library);
                            }
                            if ui.button("Load").clicked() {
                                self.choose_library();
                            }
                        });
                        ui.horizontal(|ui| {
                            ui.label("Audio folder");
                            ui.text_edit_singleline(&mut self.folder_field);
                            if ui.button("Browse…").clicked() {
                                self.browse(Browse::Folder);
                            }
                            let idle = snap.indexing.is_none();
                            if ui
                                .add_enabled(idle, egui::Button::new("Index into the library"))
                                .clicked()
                            {
                                self.index_folder();
                            }
                        });
                        if let Some((done, total)) = snap.indexing {
                            let progress = if total > 0 {
                                done as f32 / total as f32
                            } else {
                                0.0
                            };
                            ui.add(
                                egui::ProgressBar::new(progress)
                                    .text(format!("indexing: {done} of {total} files")),
                            );
                        }
                        ui.separator();
                        ui.horizontal(|ui| {
                            ui.label("Reference");
                            ui.text_edit_singleline(&mut self.reference_field)
                                .on_hover_text("a library track's name, or an audio file's path");
                            if ui.button("Browse…").clicked() {
                                self.browse(Browse::Reference);
                            }
                            if ui.button("Select").clicked() {
                                self.choose_reference();
                            }
                        });
                        self.track_list(ui, &snap);
                        ui.separator();
                        status_lines(ui, &snap);
                    })
                });
            });
        self.dialog(ui.ctx());
    }
}

/// BPM and key of the input, or why there are none.
fn input_line(ui: &mut egui::Ui, snap: &Snapshot) {
    ui.horizontal(|ui| {
        let big = |s: String| RichText::new(s).size(26.0).strong();
        match (snap.activity, snap.tempo, snap.key) {
            (Activity::Silence, ..) => {
                ui.label(big("silence".into()));
            }
            (_, Some(tempo), Some(key)) => {
                let bpm = if tempo.bpm > 0.0 {
                    format!("{:.0} BPM", tempo.bpm)
                } else {
                    "— BPM".into()
                };
                ui.label(big(bpm));
                ui.add_space(24.0);
                ui.label(big(key.key.to_string()));
                ui.label(format!(
                    "(confidence: tempo {:.0} %, key {:.0} %)",
                    tempo.confidence * 100.0,
                    key.confidence * 100.0
                ));
            }
            (Activity::Filling, ..) => {
                ui.label(big(format!("listening… {:.1} / 3 s", snap.filled_seconds)));
            }
            _ => {
                ui.label(big("waiting for audio".into()));
            }
        }
    });
}

/// A horizontal bar from 0 to 1 with a label on it.
fn bar(ui: &mut egui::Ui, value: Option<f32>, width: f32, height: f32, color: Color32) {
    let (rect, _) = ui.allocate_exact_size(Vec2::new(width, height), Sense::hover());
    let painter = ui.painter();
    painter.rect_filled(rect, 2.0, TRACK);
    if let Some(v) = value {
        let mut fill = rect;
        fill.set_width(rect.width() * v.clamp(0.0, 1.0));
        painter.rect_filled(fill, 2.0, color);
    }
}

fn similarity_bars(ui: &mut egui::Ui, snap: &Snapshot) {
    let reference = snap.comparison.reference;
    ui.label(RichText::new("Similarity to the reference").strong());
    let width = (ui.available_width() - 160.0).max(100.0);
    egui::Grid::new("bars").num_columns(3).show(ui, |ui| {
        for (i, name) in SIX_DIMENSIONS.iter().enumerate() {
            let value = reference.map(|r| r.per_dimension[i]);
            ui.label(*name);
            bar(ui, value, width, 14.0, BAR);
            ui.label(percent(value));
            ui.end_row();
        }
        let total = reference.map(|r| r.combined);
        ui.label(RichText::new("combined").strong());
        bar(ui, total, width, 18.0, COMBINED);
        ui.label(RichText::new(percent(total)).strong());
        ui.end_row();
    });
    if reference.is_none() {
        ui.weak("No reference: choose a library track or an audio file below.");
    }
}

fn percent(value: Option<f32>) -> String {
    value.map_or("—".into(), |v| format!("{:.0} %", v * 100.0))
}

/// The combined score of the last [`HISTORY`] windows, newest on the right.
fn history_strip(ui: &mut egui::Ui, snap: &Snapshot) {
    let (rect, _) = ui.allocate_exact_size(Vec2::new(ui.available_width(), 48.0), Sense::hover());
    let painter = ui.painter();
    painter.rect_filled(rect, 2.0, TRACK);
    let step = rect.width() / (HISTORY - 1) as f32;
    let offset = HISTORY - snap.history.len();
    let mut run = Vec::new();
    for (i, v) in snap.history.iter().enumerate() {
        match v {
            Some(v) => run.push(egui::pos2(
                rect.left() + (offset + i) as f32 * step,
                rect.bottom() - v.clamp(0.0, 1.0) * rect.height(),
            )),
            None => {
                if run.len() > 1 {
                    painter.line(std::mem::take(&mut run), Stroke::new(1.5, COMBINED));
                }
                run.clear();
            }
        }
    }
    if run.len() > 1 {
        painter.line(run, Stroke::new(1.5, COMBINED));
    }
}

fn top_matches(ui: &mut egui::Ui, snap: &Snapshot) {
    ui.label(RichText::new("Closest library tracks").strong());
    if snap.comparison.matches.is_empty() {
        ui.weak("No library loaded.");
        return;
    }
    egui::Grid::new("matches").num_columns(3).show(ui, |ui| {
        ui.label("");
        ui.label("");
        ui.horizontal(|ui| {
            for name in SIX_DIMENSIONS {
                let (rect, _) = ui.allocate_exact_size(Vec2::new(22.0, 12.0), Sense::hover());
                ui.painter().text(
                    rect.center(),
                    egui::Align2::CENTER_CENTER,
                    &name[..2],
                    egui::FontId::proportional(10.0),
                    ui.visuals().weak_text_color(),
                );
            }
        });
        ui.end_row();
        for m in &snap.comparison.matches {
            ui.label(&m.name);
            ui.label(format!("{:.0} %", m.scores.combined * 100.0));
            ui.horizontal(|ui| {
                for v in m.scores.per_dimension {
                    bar(ui, Some(v), 22.0, 10.0, BAR);
                }
            });
            ui.end_row();
        }
    });
}

/// Model, runtime, device, latency, skipped windows, library and errors in plain words.
fn status_lines(ui: &mut egui::Ui, snap: &Snapshot) {
    let activity = match snap.activity {
        Activity::Idle => "inactive",
        Activity::Loading => "loading the model",
        Activity::Filling => "listening",
        Activity::Silence => "silence: not analysed",
        Activity::Analysing => "analysing",
    };
    let transport = if snap.playing { "playing" } else { "stopped" };
    ui.weak(format!(
        "{activity} · transport {transport} · {} windows · {} skipped · {} samples dropped · \
         latency {:.0} ms · worker {:.0} % of a core · input {} Hz",
        snap.windows,
        snap.skipped_windows,
        snap.dropped_samples,
        snap.latency_ms,
        snap.cpu_load * 100.0,
        snap.input_rate
    ));
    ui.weak(format!("model: {} · on {}", snap.model, snap.device));
    if !snap.runtime.is_empty() {
        ui.weak(format!("ONNX Runtime: {}", snap.runtime));
    }
    ui.weak(format!("library: {}", snap.library));
    ui.weak(format!("reference: {}", snap.reference));
    if let Some(error) = &snap.error {
        ui.colored_label(Color32::from_rgb(230, 110, 90), error);
    }
}
