//! Time to compute the features of one 3 s window (SPEC §1), the unit of work of indexing and
//! of the plugin's worker, in total and per stage. Compare with `scripts/librosa_bench.py`.

use criterion::{Criterion, criterion_group, criterion_main};
use kindred_engine::FrontEndConfig;
use kindred_engine::features::{Features, FrontEnd, cens, chroma, mel, onset, stft, tempogram};

/// A chord with a pulse, so every stage works on non-trivial data.
fn test_window(cfg: &FrontEndConfig) -> Vec<f32> {
    (0..cfg.window_samples)
        .map(|i| {
            let t = i as f32 / cfg.sample_rate as f32;
            let pulse = (-((t * 2.0).fract()) * 20.0).exp();
            let chord: f32 = [261.6f32, 329.6, 392.0]
                .iter()
                .map(|f| (std::f32::consts::TAU * f * t).sin())
                .sum();
            pulse * chord * 0.2
        })
        .collect()
}

fn one_window(c: &mut Criterion) {
    let cfg = FrontEndConfig::default();
    let window = test_window(&cfg);
    let mut front_end = FrontEnd::new(cfg.clone());
    let mut f = Features::new(&cfg);
    c.bench_function("features/one_window", |b| {
        b.iter(|| {
            front_end
                .compute(std::hint::black_box(&window), &mut f)
                .unwrap()
        })
    });

    let frames = cfg.frames();
    let mut stft = stft::Stft::new(cfg.n_fft, cfg.hop, frames);
    let mel_fb = mel::MelFilterbank::new(cfg.sample_rate, cfg.n_fft, cfg.n_mels);
    let chroma_fb = chroma::ChromaFilterbank::new(cfg.sample_rate, cfg.n_fft);
    let mut cens = cens::Cens::new(cfg.cens_smooth, frames);
    let mut onset = onset::Onset::new(cfg.n_mels, frames, cfg.n_fft, cfg.hop);
    let mut tempogram = tempogram::Tempogram::new(cfg.tempogram_win, frames);
    let mut group = c.benchmark_group("stage");
    group.bench_function("stft", |b| {
        b.iter(|| stft.power_into(&window, &mut f.power).unwrap())
    });
    group.bench_function("mel", |b| {
        b.iter(|| mel_fb.apply(&f.power, &mut f.mel_power))
    });
    group.bench_function("mel_compress", |b| {
        b.iter(|| {
            f.mel.assign(&f.mel_power);
            mel::compress(&mut f.mel)
        })
    });
    group.bench_function("chroma", |b| {
        b.iter(|| chroma_fb.apply(&f.power, &mut f.chroma))
    });
    group.bench_function("cens", |b| b.iter(|| cens.apply(&f.chroma, &mut f.cens)));
    group.bench_function("onset", |b| {
        b.iter(|| onset.apply(&f.mel_power, &mut f.onset))
    });
    group.bench_function("tempogram", |b| {
        b.iter(|| tempogram.apply(&f.onset, &mut f.tempogram))
    });
    group.finish();
}

criterion_group!(benches, one_window);
criterion_main!(benches);
