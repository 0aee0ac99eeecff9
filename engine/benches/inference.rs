//! Model forward pass with one intra-op thread (issue target on the CPU: ≤ 5 ms per window):
//! one window alone (the plugin's case) and a batch of 16 (indexing), reported per window.
//! Before the timed loops it prints the session's start and each input shape's first call,
//! which CUDA pays once per session and shape.
//!
//! `KINDRED_DEVICE=cuda` (or `auto`) runs it on the GPU; the default is the CPU.
//!
//! The model is `KINDRED_MODEL` if set, else the shipped default `models/kindred-6d.onnx`, else
//! the engine's tiny test fixture — the name of the file is printed, since the figure is only
//! meaningful for the shipped model.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use kindred_engine::features::{Features, FrontEnd};
use kindred_engine::inference::model::{self, Device, Embedder, EmbedderOptions};

fn model_path() -> std::path::PathBuf {
    model::locate(None).unwrap_or_else(|_| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/models/tiny-6d.onnx")
    })
}

fn bench(c: &mut Criterion) {
    let path = model_path();
    let device = std::env::var("KINDRED_DEVICE")
        .map(|d| {
            d.parse::<Device>()
                .unwrap_or_else(|e| panic!("KINDRED_DEVICE: {e}"))
        })
        .unwrap_or(Device::Cpu);
    let options = EmbedderOptions { device, threads: 1 };
    let start = Instant::now();
    let mut embedder = Embedder::load(&path, &options).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "inference: model {} ({:?}) on the {}; session started in {:.3} s",
        path.display(),
        embedder.contract().model_version,
        if embedder.on_gpu() {
            "GPU (CUDA)"
        } else {
            "CPU"
        },
        start.elapsed().as_secs_f64()
    );
    let config = embedder.contract().front_end.clone();
    let mut front_end = FrontEnd::new(config.clone());
    // A deterministic chirp with a pulse, so every feature is non-trivial.
    let window: Vec<f32> = (0..config.window_samples)
        .map(|i| {
            let t = i as f32 / config.sample_rate as f32;
            (std::f32::consts::TAU * (220.0 + 200.0 * t) * t).sin()
                * (0.6 + 0.4 * (t * 12.0).fract())
        })
        .collect();
    let mut features = Features::new(&config);
    front_end.compute(&window, &mut features).unwrap();
    let batch: Vec<&Features> = vec![&features; 16];
    for (name, input) in [("1 window", &batch[..1]), ("batch of 16", &batch[..])] {
        let start = Instant::now();
        embedder.embed(input).unwrap();
        println!(
            "inference: first call, {name}: {:.3} s",
            start.elapsed().as_secs_f64()
        );
    }

    let mut group = c.benchmark_group("inference");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(1));
    group.bench_function("forward_1_window_1_thread", |b| {
        b.iter(|| embedder.embed(&[&features]).unwrap())
    });
    group.throughput(Throughput::Elements(16));
    group.bench_function("forward_batch16_1_thread", |b| {
        b.iter(|| embedder.embed(&batch).unwrap())
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
