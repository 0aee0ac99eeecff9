//! The worker against a real reference library, with the real ONNX Runtime and the shipped
//! model: streamed audio finds its own track among others, a reference is taken from the
//! library or analysed from a file in the background, and a folder indexed from the plugin
//! shows progress and is then used. Needs ONNX Runtime (`cargo xtask test` sets
//! `ORT_DYLIB_PATH`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use kindred_engine::indexing::{self, IndexOptions};
use kindred_engine::inference::{Device, EmbedderOptions, model};
use kindred_engine::library::Library;
use kindred_plugin::stream::{Headless, StreamOptions, stream_file};
use kindred_plugin::worker::{Command, Snapshot};
use tempfile::TempDir;

const RATE: u32 = 44_100;

/// `seconds` of a triad on `root_hz` (with `harmonics` partials per note) over a noise click
/// every beat at `bpm`; `root_hz` 0 gives the clicks alone.
fn music(seconds: f32, bpm: f32, root_hz: f32, harmonics: usize) -> Vec<f32> {
    let rate = RATE as f32;
    let n = (rate * seconds) as usize;
    let beat = (60.0 / bpm * rate) as usize;
    let chord = [1.0, 1.26, 1.5].map(|r| r * root_hz);
    let mut noise = 0x9E37_79B9u32;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate;
            let tone: f32 = chord
                .iter()
                .flat_map(|f| (1..=harmonics).map(move |h| (f, h as f32)))
                .map(|(f, h)| (std::f32::consts::TAU * f * h * t).sin() / h)
                .sum::<f32>()
                * 0.08;
            noise = noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let white = (noise >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0;
            tone + white * (-((i % beat) as f32) / (0.004 * rate)).exp() * 0.5
        })
        .collect()
}

fn write_wav(path: &Path, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32_000.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

/// Three 12 s tracks that differ in tempo, key and timbre, in `dir/music`.
fn tracks(dir: &Path) -> PathBuf {
    let music_dir = dir.join("music");
    std::fs::create_dir_all(&music_dir).unwrap();
    write_wav(&music_dir.join("a.wav"), &music(12.0, 120.0, 261.63, 1));
    write_wav(&music_dir.join("b.wav"), &music(12.0, 84.0, 220.0, 6));
    write_wav(&music_dir.join("c.wav"), &music(12.0, 150.0, 0.0, 1));
    music_dir
}

/// Indexes `folder` into a new library with the model the worker will load.
fn index(folder: &Path, library: &Path) -> Library {
    let model = model::locate(None).unwrap();
    let mut lib = Library::create(library, &model_id(&model), &layout(&model)).unwrap();
    let files = indexing::audio_files(&[folder.to_path_buf()]).unwrap();
    let options = IndexOptions {
        jobs: 1,
        embedder: EmbedderOptions {
            device: Device::Cpu,
            threads: 1,
        },
    };
    let report = indexing::index(&mut lib, &[], &files, &model, &options, |_| {
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(report.indexed, 3);
    lib
}

fn embedder(model: &Path) -> kindred_engine::inference::Embedder {
    kindred_engine::inference::Embedder::load(model, &EmbedderOptions::default()).unwrap()
}

fn model_id(model: &Path) -> String {
    indexing::model_id(&embedder(model)).unwrap()
}

fn layout(model: &Path) -> kindred_engine::contract::EmbeddingLayout {
    embedder(model).contract().layout.clone()
}

/// Streams `audio` with `reference`; returns every per-second snapshot and the last one.
fn stream(audio: &Path, library: &Path, reference: &str) -> (Vec<Snapshot>, Snapshot) {
    let options = StreamOptions {
        library: Some(library.to_path_buf()),
        reference: Some(reference.into()),
        ..StreamOptions::default()
    };
    let mut seconds = Vec::new();
    let last = stream_file(audio, &options, |_, snap| seconds.push(snap.clone())).unwrap();
    (seconds, last)
}

fn combined_of(snap: &Snapshot, name: &str) -> f32 {
    snap.comparison
        .matches
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("{name} is not among the matches"))
        .scores
        .combined
}

#[test]
fn streamed_audio_finds_its_own_track_and_its_reference() {
    let dir = TempDir::new().unwrap();
    let music = tracks(dir.path());
    let library = dir.path().join("lib.kindred");
    index(&music, &library);

    let (seconds, last) = stream(&music.join("a.wav"), &library, "a.wav");
    assert!(last.error.is_none(), "{:?}", last.error);
    assert_eq!(last.reference, "a.wav (library track)");
    assert!(last.library.ends_with("(3 tracks)"), "{}", last.library);
    assert_eq!(&*last.tracks, ["a.wav", "b.wav", "c.wav"]);
    // Windows end at 3, 4, … 11 s (the last partial hop is fed but not a whole hop later).
    assert!(seconds.len() >= 8, "{} seconds analysed", seconds.len());
    assert_eq!(last.skipped_windows, 0);
    let mut own_first = 0;
    for snap in &seconds {
        let matches = &snap.comparison.matches;
        let names: Vec<&str> = matches.iter().map(|m| m.name.as_str()).collect();
        eprintln!(
            "{names:?} {:?}",
            matches
                .iter()
                .map(|m| m.scores.combined)
                .collect::<Vec<_>>()
        );
        assert_eq!(matches.len(), 3);
        assert!(
            matches
                .windows(2)
                .all(|w| w[0].scores.combined >= w[1].scores.combined)
        );
        let reference = snap.comparison.reference.expect("a reference was chosen");
        // The reference is the streamed track's library entry, so they score the same.
        assert!((reference.combined - combined_of(snap, "a.wav")).abs() < 1e-3);
        // b.wav differs in tempo, key and timbre: every window is closer to its own track.
        assert!(reference.combined > combined_of(snap, "b.wav"));
        own_first += (names[0] == "a.wav") as usize;
    }
    eprintln!(
        "a.wav streamed: its own track first in {own_first} of {} seconds",
        seconds.len()
    );
    // The shipped model is weak (all scores within a few %, see the model card), so its own
    // track need not win every window; it must win most.
    assert!(own_first * 3 >= seconds.len() * 2);
    // Every analysed window had a reference score (the last partial hop may add one).
    assert!(last.history.iter().all(Option::is_some));
    assert!(last.history.len() >= seconds.len());
}

#[test]
fn a_reference_file_outside_the_library_is_analysed_in_the_background() {
    let dir = TempDir::new().unwrap();
    let music = tracks(dir.path());
    let library = dir.path().join("lib.kindred");
    index(&music, &library);
    let outside = dir.path().join("cue.wav");
    std::fs::copy(music.join("b.wav"), &outside).unwrap();

    let (seconds, last) = stream(&music.join("b.wav"), &library, outside.to_str().unwrap());
    assert_eq!(last.reference, "cue.wav (file)");
    for snap in &seconds {
        // The same audio as the library's b.wav, analysed the same way.
        let reference = snap.comparison.reference.unwrap().combined;
        assert!((reference - combined_of(snap, "b.wav")).abs() < 1e-3);
    }

    // Any path to a library track's file means that track.
    let roundabout = music.join("../music/b.wav");
    let (_, last) = stream(&music.join("b.wav"), &library, roundabout.to_str().unwrap());
    assert_eq!(last.reference, "b.wav (library track)");

    let (_, last) = stream(&music.join("b.wav"), &library, "nowhere.wav");
    assert_eq!(
        last.reference,
        "not found: nowhere.wav is neither a track of the library nor an audio file"
    );
    assert!(last.comparison.reference.is_none());
    assert_eq!(
        last.comparison.matches.len(),
        3,
        "matches do not need a reference"
    );
}

#[test]
fn a_folder_indexed_from_the_plugin_shows_progress_and_is_then_used() {
    let dir = TempDir::new().unwrap();
    let music = tracks(dir.path());
    let library = dir.path().join("new.kindred");
    let index = Command::IndexFolder {
        folder: music.clone(),
        library: library.clone(),
    };
    let mut plugin = Headless::start(RATE, Device::Cpu, None, [index]).unwrap();
    let mut progress = Vec::new();
    let _ = plugin.wait(Duration::from_secs(120), |snap| {
        if let Some(p) = snap.indexing
            && progress.last() != Some(&p)
        {
            progress.push(p);
        }
        snap.library.ends_with("(3 tracks)")
    });
    let last = plugin.stop();
    eprintln!("progress seen: {progress:?}; library: {}", last.library);
    assert!(last.library.ends_with("(3 tracks)"), "{}", last.library);
    assert!(last.indexing.is_none());
    assert!(!progress.is_empty(), "no progress was shown");
    assert!(
        progress
            .iter()
            .all(|&(done, total)| done <= total && total <= 3)
    );
    assert_eq!(Library::open(&library).unwrap().len(), 3);
    assert_eq!(&*last.tracks, ["a.wav", "b.wav", "c.wav"]);
}
