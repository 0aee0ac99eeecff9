//! Training on the committed 3-piece fixture (built as `tests/dataset.rs` builds it; needs the
//! Debian package `timgm6mb-soundfont`): two epochs of the tiny CSN lower the training loss,
//! a run stopped after one epoch resumes to the same result, and a damaged checkpoint is
//! refused with an error naming the file (the previous checkpoint is kept).
//!
//! One test function, so that runs do not share the device's RNG with a parallel test.

use std::path::{Path, PathBuf};

use burn::optim::AdamConfig;
use burn::prelude::*;
use kindred_trainer::data::batcher::{TrackSet, WindowRef};
use kindred_trainer::data::dataset::{self, BuildOptions};
use kindred_trainer::export;
use kindred_trainer::model::{Csn, CsnConfig};
use kindred_trainer::training::{self, Splits, TrainOptions, TrainingConfig};
use rand::SeedableRng;

const SOUNDFONT: &str = "/usr/share/sounds/sf2/TimGM6mb.sf2";

fn build_dataset(out: &Path) {
    assert!(
        Path::new(SOUNDFONT).is_file(),
        "{SOUNDFONT} is missing: run `apt-get install timgm6mb-soundfont`"
    );
    let opts = BuildOptions {
        out: out.to_path_buf(),
        pieces: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")),
        manifest: None,
        soundfont: PathBuf::from(SOUNDFONT),
        seed: 7,
        per_factor: 1,
        max_seconds: 15.0,
        splits: [1.0, 1.0, 1.0],
        keep_splits: None,
        keep_audio: false,
        limit: None,
        progress: false,
    };
    let report = dataset::build(&opts).unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
}

fn config(dataset: &Path) -> TrainingConfig {
    TrainingConfig::new(CsnConfig::tiny(), AdamConfig::new())
        .with_epochs(2)
        .with_batch_size(12)
        .with_steps_per_epoch(Some(12))
        .with_val_batches(2)
        .with_lr(3e-3)
        .with_seed(5)
        .with_scorer_weight(1.0)
        .with_dataset(dataset.display().to_string())
}

#[test]
fn trains_resumes_and_refuses_damaged_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("dataset");
    build_dataset(&data);
    let cfg = config(&data);

    // Two epochs in one go.
    let run_a = tmp.path().join("a");
    let a = training::train(&cfg, &data, &run_a, &TrainOptions::default()).unwrap();
    assert_eq!(a.history.len(), 2);
    for f in [
        "config.json",
        "log.csv",
        "loss.png",
        "best.bpk",
        "checkpoint/model.bpk",
    ] {
        assert!(run_a.join(f).is_file(), "{f} missing");
    }
    assert!(run_a.join("checkpoint.prev").is_dir());

    // Per-dimension losses: in the history and in log.csv, and the overall validation loss is
    // their weighted mean, so it lies between the smallest and the largest.
    let csv = std::fs::read_to_string(run_a.join("log.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert_eq!(
        rows[0][5..8],
        ["train_genre", "train_mood", "train_instrument"]
    );
    assert_eq!(rows[0].last(), Some(&"val_key"));
    assert_eq!(rows[0].len(), 5 + 2 * 6);
    for (h, row) in a.history.iter().zip(&rows[1..]) {
        assert_eq!((h.train_dims.len(), h.val_dims.len()), (6, 6));
        let known: Vec<f64> = h.val_dims.iter().flatten().copied().collect();
        assert!(!known.is_empty(), "{h:?}");
        let (lo, hi) = known
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        assert!(lo - 1e-9 <= h.val_loss && h.val_loss <= hi + 1e-9, "{h:?}");
        for (cell, v) in row[11..].iter().zip(&h.val_dims) {
            match v {
                Some(v) => assert!((cell.parse::<f64>().unwrap() - v).abs() < 1e-6, "{row:?}"),
                None => assert!(cell.is_empty(), "{row:?}"),
            }
        }
        assert!(h.train_dims.iter().flatten().all(|&v| v >= 0.0), "{h:?}");
    }

    // The trained model has a lower loss than its initialisation on fixed training batches.
    let splits = Splits::load(&data, 6).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    let batches: Vec<_> = (0..4).map(|_| splits.train.sample(12, &mut rng)).collect();
    let device = Device::default();
    device.seed(cfg.seed);
    let (mean, std) = splits.train.mel_stats();
    let init = cfg.model.init(&device).with_mel_stats(&mean, &std);
    let before = training::validation_loss(&init, &splits.train, &batches, cfg.margin).mean();
    let (_, trained) = training::load_trained(&run_a).unwrap();
    let after = training::validation_loss(&trained, &splits.train, &batches, cfg.margin).mean();
    eprintln!(
        "training-set loss: init {before:.4} → trained {after:.4}; log {:?}",
        a.history
    );
    assert!(
        after < before,
        "training did not lower the loss: {before} → {after}"
    );
    // …and the key and tempo scorers have learnt from the rendered tonic and tempo.
    let (before, after) = (
        scorer_loss(&init, &splits.train, &batches),
        scorer_loss(&trained, &splits.train, &batches),
    );
    eprintln!("scorers' cross-entropy: init {before:.4} → trained {after:.4}");
    assert!(
        after < before - 0.05,
        "the scorers did not learn: {before} → {after}"
    );

    // The exported model says what it was trained on: the 5 renders of the training piece.
    let contract = export::export_run(&run_a, &tmp.path().join("a.onnx")).unwrap();
    assert!(
        contract.training_data.contains(
            "5 training tracks (5 music21 renders with labels true by construction, \
             0 real-recording passages and copies, 0 from a user manifest)"
        ),
        "{}",
        contract.training_data
    );

    // Stop after one epoch (a kill), then resume.
    let run_b = tmp.path().join("b");
    let stop = TrainOptions {
        max_epochs_now: Some(1),
        ..TrainOptions::default()
    };
    let b1 = training::train(&cfg, &data, &run_b, &stop).unwrap();
    assert_eq!(b1.history.len(), 1);
    let err = training::train(&cfg, &data, &run_b, &TrainOptions::default()).unwrap_err();
    assert!(err.to_string().contains("--resume"), "{err}");
    let resume = TrainOptions {
        resume: true,
        ..TrainOptions::default()
    };
    let b = training::train(&cfg, &data, &run_b, &resume).unwrap();
    assert_eq!(b.history.len(), 2);
    for (x, y) in a.history.iter().zip(&b.history) {
        assert!(
            (x.train_loss - y.train_loss).abs() < 1e-3 && (x.val_loss - y.val_loss).abs() < 1e-3,
            "resumed run differs: {:?} vs {:?}",
            a.history,
            b.history
        );
    }

    // A damaged checkpoint is refused, naming the file; the previous one is still there.
    let model = run_b.join("checkpoint/model.bpk");
    let mut bytes = std::fs::read(&model).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&model, &bytes).unwrap();
    let more = config(&data).with_epochs(3);
    let err = training::train(&more, &data, &run_b, &resume).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&model.display().to_string()), "{msg}");
    assert!(msg.contains("checkpoint.prev"), "{msg}");
    assert!(run_b.join("checkpoint.prev/model.bpk").is_file());
}

/// The scorers' cross-entropy of `model`, averaged over `batches`.
fn scorer_loss(model: &Csn, set: &TrackSet, batches: &[Vec<WindowRef>]) -> f64 {
    let device = Device::default();
    let total: f64 = batches
        .iter()
        .map(|items| {
            let b = set.batch(items, true, &device);
            let (_, scores) = model.forward_scored(b.mel, b.cens, b.tempogram);
            let loss = training::scorer_loss(&scores.expect("multi-input"), items, set);
            f64::from(loss.expect("rendered windows").into_scalar::<f32>())
        })
        .sum();
    total / batches.len() as f64
}
