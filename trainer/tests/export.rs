//! ONNX export parity: a tiny random-init CSN (multi- and single-input) exported with
//! `export_bytes`, run in the real ONNX Runtime (through `ort`, loaded from `ORT_DYLIB_PATH`),
//! must match burn's own forward pass to 1e-4 at batch 1 and 3; the contract is read back from
//! the model's metadata with ort and parsed by the engine.
//!
//! `ORT_DYLIB_PATH` must name `libonnxruntime.so` (1.31): e.g. extract
//! `onnxruntime/capi/libonnxruntime.so.1.31.1` from the `onnxruntime` 1.31.1 wheel.

use burn::prelude::*;
use kindred_engine::contract::{METADATA_KEY, ModelContract};
use kindred_trainer::export::{contract_for, export_bytes, input_names};
use kindred_trainer::model::{CENS_ROWS, CsnConfig, FRAMES, MEL_ROWS, TEMPOGRAM_ROWS};
use ort::session::Session;
use ort::value::Tensor as OrtTensor;

/// ONNX Runtime allows one environment per process; the tests share it.
fn environment() -> &'static ort::environment::Environment {
    static ENV: std::sync::OnceLock<ort::environment::Environment> = std::sync::OnceLock::new();
    ENV.get_or_init(load_environment)
}

fn load_environment() -> ort::environment::Environment {
    let path = std::env::var("ORT_DYLIB_PATH").unwrap_or_else(|_| {
        panic!(
            "ORT_DYLIB_PATH is not set: it must name ONNX Runtime's libonnxruntime.so (1.31), \
             e.g. extracted from the onnxruntime 1.31.1 wheel (onnxruntime/capi/)"
        )
    });
    ort::init_from(&path)
        .unwrap_or_else(|e| panic!("cannot load ONNX Runtime from {path}: {e}"))
        .build()
        .expect("an ONNX Runtime environment")
}

fn data(batch: usize, rows: usize, seed: u64) -> Vec<f32> {
    // Deterministic, mel-like values in [0, 2).
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..batch * rows * FRAMES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 23) as f32
        })
        .collect()
}

fn check(multi: bool, dims: usize) {
    let env = environment();
    let device = Device::default();
    let mean: Vec<f32> = (0..MEL_ROWS).map(|i| 0.3 + i as f32 * 1e-3).collect();
    let std: Vec<f32> = (0..MEL_ROWS).map(|i| 0.5 + i as f32 * 2e-3).collect();
    let model = CsnConfig::tiny()
        .with_multi_input(multi)
        .with_dimensions(dims)
        .init(&device)
        .with_mel_stats(&mean, &std);
    let contract = contract_for(&model, "parity test".into(), "random init".into());
    let bytes = export_bytes(&model, &contract).expect("export");
    let mut session = Session::builder(env)
        .unwrap()
        .commit_from_memory(&bytes)
        .expect("ONNX Runtime loads the exported model");

    let names: Vec<String> = session
        .inputs()
        .iter()
        .map(|i| i.name().to_string())
        .collect();
    assert_eq!(names, input_names(multi));
    assert_eq!(session.outputs()[0].name(), "embedding");
    let json = session
        .metadata()
        .unwrap()
        .custom(METADATA_KEY)
        .expect("the contract is in the metadata");
    let read = ModelContract::from_json(&json).expect("the engine accepts the contract");
    assert_eq!(read, contract);

    let mut worst = 0f32;
    for batch in [1usize, 3] {
        let shapes = [MEL_ROWS, CENS_ROWS, TEMPOGRAM_ROWS];
        let arrays: Vec<Vec<f32>> = shapes
            .iter()
            .enumerate()
            .map(|(i, &rows)| data(batch, rows, 11 * batch as u64 + i as u64))
            .collect();
        let t = |i: usize| {
            Tensor::<4>::from_data(
                TensorData::new(arrays[i].clone(), [batch, 1, shapes[i], FRAMES]),
                &device,
            )
        };
        let expected = if multi {
            model.forward_multi((t(0), t(1), t(2)))
        } else {
            model.forward_single(t(0))
        }
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
        assert_eq!(
            expected.len(),
            batch * contract.layout.embedding_size(),
            "the contract's slices cover the embedding"
        );
        let ort_input = |i: usize| {
            OrtTensor::from_array((
                [batch as i64, 1, shapes[i] as i64, FRAMES as i64],
                arrays[i].clone(),
            ))
            .unwrap()
        };
        let outputs = if multi {
            session
                .run(ort::inputs![
                    "mel" => ort_input(0),
                    "cens" => ort_input(1),
                    "tempogram" => ort_input(2),
                ])
                .unwrap()
        } else {
            session.run(ort::inputs!["mel" => ort_input(0)]).unwrap()
        };
        let (shape, got) = outputs["embedding"].try_extract_tensor::<f32>().unwrap();
        assert_eq!(shape.to_vec(), vec![batch as i64, 64 * dims as i64]);
        let diff = got
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        eprintln!(
            "{} {dims}-dim, batch {batch}: max |ort − burn| = {diff:e}",
            if multi { "multi-input" } else { "single-input" }
        );
        worst = worst.max(diff);
    }
    assert!(worst <= 1e-4, "max abs diff {worst}");
}

#[test]
fn multi_input_matches_onnx_runtime() {
    check(true, 6);
}

#[test]
fn single_input_four_dims_matches_onnx_runtime() {
    check(false, 4);
}
