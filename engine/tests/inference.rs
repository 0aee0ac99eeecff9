//! ONNX Runtime inference with the real runtime (`cargo xtask ort`) and a real exported model:
//! the trainer's tiny fixture `tests/data/models/tiny-6d.onnx` (see its README).

mod common;

use std::path::{Path, PathBuf};

use common::Timbre;
use kindred_engine::Error;
use kindred_engine::contract::METADATA_KEY;
use kindred_engine::embedding::TrackEmbedder;
use kindred_engine::features::{Features, FrontEnd};
use kindred_engine::inference::{Device, Embedder, EmbedderOptions};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/models")
        .join(name)
}

fn cpu() -> EmbedderOptions {
    EmbedderOptions {
        device: Device::Cpu,
        threads: 1,
    }
}

fn load(path: &Path) -> Embedder {
    Embedder::load(path, &cpu()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_track_is_embedded_window_by_window_and_averaged() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("song.wav");
    // 40 s: 13 full windows, so one batch of 16 is not enough to hide a batching error.
    common::write_wav(&wav, &common::music(40.0, 120.0, 2, Timbre::Saw));
    let mut embedder = TrackEmbedder::new(load(&fixture("tiny-6d.onnx")));
    let track = embedder.embed_file(&wav).unwrap();
    assert_eq!(track.analysis.windows, 13);
    assert_eq!(track.windows.dim(), (13, 384));
    assert!(track.windows.iter().all(|v| v.is_finite()));
    for d in 0..384 {
        let mean = track.windows.column(d).sum() / 13.0;
        assert!((track.mean[d] - mean).abs() <= 1e-5 * mean.abs().max(1.0));
    }
    // Different windows of music give different embeddings.
    let spread = (&track.windows.row(0) - &track.windows.row(5))
        .mapv(f32::abs)
        .sum();
    assert!(spread > 1e-3, "windows 0 and 5 embed identically");
}

#[test]
fn batching_does_not_change_an_embedding() {
    let mut embedder = load(&fixture("tiny-6d.onnx"));
    let cfg = embedder.contract().front_end.clone();
    let mut front_end = FrontEnd::new(cfg.clone());
    let audio = common::music(12.0, 97.0, 9, Timbre::Pluck);
    let windows: Vec<Features> = audio
        .chunks_exact(cfg.window_samples)
        .map(|w| {
            let mut f = Features::new(&cfg);
            front_end.compute(w, &mut f).unwrap();
            f
        })
        .collect();
    let refs: Vec<&Features> = windows.iter().collect();
    let together = embedder.embed(&refs).unwrap();
    for (i, w) in windows.iter().enumerate() {
        let alone = embedder.embed(&[w]).unwrap();
        let diff = (&alone.row(0) - &together.row(i))
            .mapv(f32::abs)
            .fold(0.0f32, |a, &b| a.max(b));
        assert!(
            diff <= 1e-5,
            "window {i}: batch of 1 vs batch of 4 differ by {diff}"
        );
    }
}

/// Loads `bytes` as a model file and returns the error message.
fn load_error(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.onnx");
    std::fs::write(&path, bytes).unwrap();
    match Embedder::load(&path, &cpu()) {
        Ok(e) => panic!("a broken model was accepted: {:?}", e.contract().layout),
        Err(e @ Error::Model { .. }) => {
            let message = e.to_string();
            assert!(
                message.contains("broken.onnx"),
                "the error does not name the file: {message}"
            );
            message
        }
        Err(other) => panic!("wrong error kind: {other}"),
    }
}

#[test]
fn broken_models_are_refused_with_the_reason() {
    let model = std::fs::read(fixture("tiny-6d.onnx")).unwrap();
    let truncated = load_error(&model[..model.len() / 2]);
    assert!(
        truncated.contains("not a model ONNX Runtime can load"),
        "{truncated}"
    );

    let bare = common::onnx::strip_metadata(&model);
    let missing = load_error(&bare);
    assert!(missing.contains("not a Kindred model"), "{missing}");

    let json = r#"{"contract_version": 7}"#;
    let invalid = load_error(&common::onnx::add_metadata(&bare, METADATA_KEY, json));
    assert!(invalid.contains("not a valid contract"), "{invalid}");

    // A well-formed contract that does not match the graph: claims 4 dimensions of 64.
    let embedder = load(&fixture("tiny-6d.onnx"));
    let mut contract = embedder.contract().clone();
    contract.layout.dimensions.truncate(4);
    let wrong = load_error(&common::onnx::add_metadata(
        &bare,
        METADATA_KEY,
        &contract.to_json(),
    ));
    assert!(
        wrong.contains("384 values per window") && wrong.contains("has 256"),
        "{wrong}"
    );
}
