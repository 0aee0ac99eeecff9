//! The `kindred` binary as a user runs it: real files in a temporary directory, exit codes,
//! messages that name the file, and outputs read back with numbers checked.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::write_wav;

use kindred_engine::FrontEndConfig;
use kindred_engine::features::{Features, FrontEnd};
use kindred_engine::window::WindowReader;
use ndarray::{Array2, Array3};
use ndarray_npy::read_npy;

fn kindred(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kindred"))
        .args(args)
        .output()
        .expect("run kindred")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn recording(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/librosa/{name}/source.ogg"))
}

#[test]
fn help_is_available_for_every_command() {
    for args in [
        &["--help"][..],
        &["features", "--help"],
        &["analyze", "--help"],
    ] {
        let out = kindred(args);
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out.stdout).contains("Usage"), "{args:?}");
    }
}

#[test]
fn features_writes_the_engines_arrays() {
    let dir = tempfile::tempdir().unwrap();
    let audio = recording("by_product");
    let out_dir = dir.path().join("out");
    let out = kindred(&[
        "features",
        audio.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let mel: Array3<f32> = read_npy(out_dir.join("mel.npy")).unwrap();
    let cens: Array3<f32> = read_npy(out_dir.join("cens.npy")).unwrap();
    let tempogram: Array3<f32> = read_npy(out_dir.join("tempogram.npy")).unwrap();
    let onset: Array2<f32> = read_npy(out_dir.join("onset.npy")).unwrap();
    // The excerpt is 6 s: two full windows.
    assert_eq!(mel.shape(), &[2, 128, 259]);
    assert_eq!(cens.shape(), &[2, 12, 259]);
    assert_eq!(tempogram.shape(), &[2, 384, 259]);
    assert_eq!(onset.shape(), &[2, 259]);

    // Window 1 is exactly what the library computes for the second window.
    let cfg = FrontEndConfig::default();
    let mut reader = WindowReader::open(&audio, &cfg).unwrap();
    let mut window = vec![0.0; cfg.window_samples];
    let mut features = Features::new(&cfg);
    let mut front_end = FrontEnd::new(cfg);
    reader.next_window(&mut window).unwrap();
    reader.next_window(&mut window).unwrap();
    front_end.compute(&window, &mut features).unwrap();
    assert_eq!(mel.index_axis(ndarray::Axis(0), 1), features.mel);
    assert_eq!(onset.row(1), features.onset);
    assert!(std::fs::read_dir(&out_dir).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".partial")
    }));
}

#[test]
fn a_short_file_gives_one_padded_window() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("one-second.wav");
    let tone: Vec<f32> = (0..22_050).map(|i| (i as f32 * 0.1).sin() * 0.5).collect();
    write_wav(&wav, &tone);
    let out_dir = dir.path().join("out");
    let out = kindred(&[
        "features",
        wav.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let onset: Array2<f32> = read_npy(out_dir.join("onset.npy")).unwrap();
    assert_eq!(onset.shape(), &[1, 259]);
    let mel: Array3<f32> = read_npy(out_dir.join("mel.npy")).unwrap();
    // The last 2 s are zero padding: their frames (beyond the window's edge) are silent.
    assert!(mel[[0, 10, 50]] > 0.0);
    assert_eq!(mel[[0, 10, 200]], 0.0);
}

#[test]
fn a_bad_file_is_reported_and_the_rest_analysed() {
    let dir = tempfile::tempdir().unwrap();
    let text_file = dir.path().join("notes.wav");
    std::fs::write(&text_file, "these are not samples\n").unwrap();
    let empty = dir.path().join("empty.flac");
    std::fs::write(&empty, b"").unwrap();
    let missing = dir.path().join("missing.mp3");
    let good = recording("drascula_track2");
    let args = [
        good.to_str().unwrap(),
        text_file.to_str().unwrap(),
        empty.to_str().unwrap(),
        missing.to_str().unwrap(),
    ];

    let out = kindred(&[&["analyze", "--json"][..], &args].concat());
    assert_eq!(
        out.status.code(),
        Some(2),
        "a failed file makes the exit code 2"
    );
    let stderr = text(&out.stderr);
    for bad in [&text_file, &empty, &missing] {
        assert!(
            stderr.contains(bad.to_str().unwrap()),
            "stderr names {}: {stderr}",
            bad.display()
        );
    }
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["windows"], 2);
    assert_eq!(rows[0]["sample_rate"], 44_100);
    assert_eq!(rows[0]["channels"], 2);
    assert!((rows[0]["duration_s"].as_f64().unwrap() - 6.0).abs() < 0.05);
    assert!(rows[1..].iter().all(|r| r["error"].is_string()));
}

#[test]
fn non_finite_samples_are_replaced_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("nan.wav");
    let mut samples: Vec<f32> = (0..70_000).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
    samples[100] = f32::NAN;
    samples[200] = f32::INFINITY;
    write_wav(&wav, &samples);
    let out = kindred(&["analyze", "--json", wav.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("2 NaN/Inf samples were replaced"));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["non_finite_samples"], 2);
    assert!(rows[0]["tempo_bpm"].as_f64().unwrap().is_finite());
}

#[test]
fn an_unwritable_output_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let audio = recording("by_product");
    let out = kindred(&[
        "features",
        audio.to_str().unwrap(),
        "--out",
        blocker.join("out").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(blocker.to_str().unwrap()),
        "{}",
        text(&out.stderr)
    );
}
