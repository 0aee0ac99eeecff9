//! Whole-file analysis throughput: [`Analyzer::analyze`] (decode → resample to 22 050 Hz →
//! features of every 3 s window → tempo and key) on a **3-minute 44.1 kHz stereo** track, as
//! MP3 and as Ogg Vorbis — what indexing a music library costs per file. Reported as × real
//! time (criterion's `elem/s` are seconds of audio per second), on one thread and on two
//! threads analysing two files at once (the `kindred analyze` CLI runs one file per core).
//!
//! The track is synthesised here (deterministic: chords, bass, kick, snare and hi-hats at
//! 120 BPM, panned across the stereo field), written as 16-bit WAV and encoded with the Debian
//! command-line encoders `lame` (MP3, CBR 192 kbps) and `oggenc` (package `vorbis-tools`,
//! `-q 5`). A missing encoder skips its format with a message naming the package to install.
//!
//! The files are kept between runs (they are deterministic; the name carries a version) in
//! `$KINDRED_BENCH_AUDIO_DIR`, default `target/tmp/kindred-bench-audio`, so `cargo xtask bench`
//! can time librosa on the very same files. In criterion's test mode (`cargo bench -- --test`,
//! `cargo test --all-targets`) the track is 10 s long and each benchmark runs once.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use kindred_engine::FrontEndConfig;
use kindred_engine::analysis::Analyzer;
use kindred_engine::decode;
use kindred_engine::embedding::TrackEmbedder;
use kindred_engine::inference::model::{self, Device, Embedder, EmbedderOptions};
use kindred_engine::window::WindowReader;

/// Bump when the synthesis or the encoder settings change, so cached files are regenerated.
const SIGNAL_VERSION: u32 = 1;
/// Sample rate of the generated track (CD audio, the common case for a music library).
const SOURCE_RATE: u32 = 44_100;
/// Track length when benchmarking.
const BENCH_SECONDS: u32 = 180;
/// Track length in criterion's test mode: enough for three windows, quick to encode.
const TEST_SECONDS: u32 = 10;
/// Files analysed at once in the parallel benchmarks: one per core of the reference machine.
const PARALLEL_FILES: usize = 2;

/// A compressed format and the encoder that makes it.
struct Format {
    /// Name in benchmark ids and file extensions.
    ext: &'static str,
    /// Encoder executable.
    program: &'static str,
    /// Debian package providing `program`.
    package: &'static str,
    /// Encoder arguments before the input and output paths are appended.
    args: fn(&Path, &Path) -> Vec<String>,
    /// Settings, for the log.
    settings: &'static str,
}

const FORMATS: [Format; 2] = [
    Format {
        ext: "mp3",
        program: "lame",
        package: "lame",
        args: |wav, out| {
            let mut a: Vec<String> = ["--quiet", "-b", "192"].map(String::from).into();
            a.extend([wav.display().to_string(), out.display().to_string()]);
            a
        },
        settings: "CBR 192 kbps",
    },
    Format {
        ext: "ogg",
        program: "oggenc",
        package: "vorbis-tools",
        args: |wav, out| {
            // A fixed stream serial number makes the file byte-for-byte reproducible.
            let mut a: Vec<String> = ["--quiet", "-q", "5", "--serial", "1", "-o"]
                .map(String::from)
                .into();
            a.extend([out.display().to_string(), wav.display().to_string()]);
            a
        },
        settings: "Vorbis -q 5",
    },
];

/// A tiny xorshift generator: reproducible noise for the drums without a dependency.
struct Noise(u32);

impl Noise {
    /// Uniform in [-1, 1).
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        (self.0 as f32 / u32::MAX as f32) * 2.0 - 1.0
    }
}

/// Frequency in Hz of MIDI note `m`.
fn midi_hz(m: u8) -> f64 {
    440.0 * 2f64.powf((f64::from(m) - 69.0) / 12.0)
}

/// Interleaved stereo 44.1 kHz samples in [-1, 1] of a music-like loop at 120 BPM: the chords
/// C–Am–F–G (one bar, 2 s, each; sawtooth-like pads with the three notes panned left, centre,
/// right), a plucked bass on every beat, a pitch-swept kick on every beat, a noise snare on
/// beats 2 and 4, and high-passed noise hi-hats on every eighth note (panned right). Every
/// feature stage (mel, chroma, onsets, tempogram) and the tempo and key estimates see
/// realistic structure, and the decoders see a dense, wide-band signal.
fn synthesize(seconds: u32) -> Vec<f32> {
    use std::f64::consts::TAU;
    const CHORDS: [([u8; 3], u8); 4] = [
        ([60, 64, 67], 48), // C
        ([57, 60, 64], 45), // Am
        ([53, 57, 60], 41), // F
        ([55, 59, 62], 43), // G
    ];
    const PAN: [f64; 3] = [0.25, 0.5, 0.75];
    let beat = 0.5;
    let bar = 4.0 * beat;
    let frames = (seconds * SOURCE_RATE) as usize;
    let mut out = Vec::with_capacity(2 * frames);
    let (mut noise_l, mut noise_r) = (Noise(0x1234_5678), Noise(0x9abc_def1));
    let (mut prev_l, mut prev_r) = (0.0f32, 0.0f32);
    for i in 0..frames {
        let t = i as f64 / f64::from(SOURCE_RATE);
        let bar_index = (t / bar) as usize;
        let tb = t - bar_index as f64 * bar;
        let beat_index = (t / beat) as usize;
        let tq = t - beat_index as f64 * beat;
        let t8 = t - (t / (beat / 2.0)).floor() * (beat / 2.0);
        let (notes, bass) = CHORDS[bar_index % CHORDS.len()];

        // Pads: 4 harmonics at 1/k, a 50 ms attack and release around each bar, slight decay.
        let pad_env =
            (tb / 0.05).min(1.0) * ((bar - tb) / 0.05).min(1.0) * (0.6 + 0.4 * (-1.5 * tb).exp());
        let (mut pad_l, mut pad_r) = (0.0, 0.0);
        for (&m, &pan) in notes.iter().zip(&PAN) {
            let f = midi_hz(m);
            let v: f64 = (1..=4)
                .map(|k| (TAU * f * k as f64 * t).sin() / k as f64)
                .sum();
            pad_l += v * (1.0 - pan);
            pad_r += v * pan;
        }
        let bass_f = midi_hz(bass);
        let bass = ((TAU * bass_f * t).sin() + 0.4 * (TAU * 2.0 * bass_f * t).sin())
            * (-4.0 * tq).exp()
            * (tq / 0.005).min(1.0);
        // Kick: frequency 150 → 50 Hz; the phase is the integral of that sweep.
        let kick_phase = 50.0 * tq + 100.0 * (1.0 - (-30.0 * tq).exp()) / 30.0;
        let kick = (TAU * kick_phase).sin() * (-12.0 * tq).exp();
        let (nl, nr) = (noise_l.next(), noise_r.next());
        let snare = if beat_index % 2 == 1 {
            (0.5 * f64::from(nl + nr) * 0.5 + 0.3 * (TAU * 180.0 * tq).sin()) * (-25.0 * tq).exp()
        } else {
            0.0
        };
        let hat_env = (-60.0 * t8).exp();
        let (hat_l, hat_r) = (
            f64::from(nl - prev_l) * hat_env,
            f64::from(nr - prev_r) * hat_env,
        );
        (prev_l, prev_r) = (nl, nr);

        let common = 0.5 * bass + 0.8 * kick + 0.5 * snare;
        let l = 0.12 * pad_env * pad_l + common + 0.06 * hat_l;
        let r = 0.12 * pad_env * pad_r + common + 0.14 * hat_r;
        out.push(l as f32);
        out.push(r as f32);
    }
    let peak = out.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let gain = 0.9 / peak.max(f32::MIN_POSITIVE);
    out.iter_mut().for_each(|x| *x *= gain);
    out
}

/// Writes `samples` (interleaved stereo) as 16-bit PCM WAV at 44.1 kHz.
fn write_wav(path: &Path, samples: &[f32]) -> hound::Result<()> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: SOURCE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    for &x in samples {
        w.write_sample((x * f32::from(i16::MAX)).round() as i16)?;
    }
    w.finalize()
}

/// Where the generated files live (kept between runs; see the module docs).
fn audio_dir() -> PathBuf {
    std::env::var_os("KINDRED_BENCH_AUDIO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("kindred-bench-audio"))
}

/// The track of `seconds` as WAV, generated unless already there. Written under a temporary
/// name and renamed, so an interrupted run never leaves a truncated file to be reused.
fn source_wav(dir: &Path, seconds: u32) -> PathBuf {
    let wav = dir.join(format!("kindred-synth-v{SIGNAL_VERSION}-{seconds}s.wav"));
    if !wav.exists() {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let tmp = wav.with_extension("wav.part");
        write_wav(&tmp, &synthesize(seconds)).expect("write the benchmark WAV");
        std::fs::rename(&tmp, &wav).expect("rename the benchmark WAV");
    }
    wav
}

/// `wav` encoded as `format`, encoding it unless already there; `None`, with a message saying
/// what to install, when the encoder is missing or fails.
fn encode(wav: &Path, format: &Format) -> Option<PathBuf> {
    let out = wav.with_extension(format.ext);
    if out.exists() {
        return Some(out);
    }
    let tmp = wav.with_extension(format!("part.{}", format.ext));
    let status = Command::new(format.program)
        .args((format.args)(wav, &tmp))
        .stdin(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => {
            std::fs::rename(&tmp, &out).expect("rename the encoded file");
            Some(out)
        }
        Ok(s) => {
            eprintln!(
                "analysis bench: `{}` failed ({s}); skipping {}",
                format.program, format.ext
            );
            None
        }
        Err(e) => {
            eprintln!(
                "analysis bench: cannot run `{}` ({e}); install the Debian package `{}` \
                 (apt-get install {}) to benchmark {}. Skipping {}.",
                format.program,
                format.package,
                format.package,
                format.ext.to_uppercase(),
                format.ext
            );
            None
        }
    }
}

/// Where the time of one file goes, printed as a plain line (median of 3 runs each): decoding
/// alone (`decode::open`: nanomp3 for MP3, symphonia for Ogg; downmixed to mono at the native
/// rate), decoding + resampling to 22 050 Hz
/// (`WindowReader`), and the whole analysis; the differences are the cost of each step.
fn breakdown(path: &Path, ext: &str, analyzer: &mut Analyzer) {
    let config = FrontEndConfig::default();
    let median3 = |f: &mut dyn FnMut()| {
        let mut times: Vec<Duration> = (0..3)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect();
        median_s(&mut times)
    };
    let decode = median3(&mut || {
        let mut d = decode::open(path).expect("open");
        while let Some(chunk) = d.next_chunk().expect("decode") {
            std::hint::black_box(chunk);
        }
    });
    let mut window = vec![0.0; config.window_samples];
    let resample = median3(&mut || {
        let mut r = WindowReader::open(path, &config).expect("open");
        while r.next_window(&mut window).expect("decode") {
            std::hint::black_box(&window);
        }
    });
    let all = median3(&mut || {
        std::hint::black_box(analyzer.analyze(path).expect("analyze"));
    });
    println!(
        "analysis/{ext} breakdown (1 thread, median of 3): decode {decode:.3} s, resample \
         {:.3} s, features + tempo/key {:.3} s, total {all:.3} s",
        resample - decode,
        all - resample,
    );
}

/// Median of `times` in seconds.
fn median_s(times: &mut [Duration]) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64()
}

/// Benchmarks one file, once per thread and `PARALLEL_FILES` at a time.
fn bench_file(c: &mut Criterion, path: &Path, ext: &str, settings: &str, test_mode: bool) {
    let config = FrontEndConfig::default();
    let mut analyzers: Vec<Analyzer> = (0..PARALLEL_FILES)
        .map(|_| Analyzer::new(config.clone()))
        .collect();

    // One untimed run: checks the pipeline and gives the audio duration for the throughput.
    let t0 = Instant::now();
    let a = analyzers[0]
        .analyze(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    println!(
        "analysis/{ext}: {} ({settings}, {:.1} MB): {:.2} s of audio, {} windows, \
         tempo {:.1} BPM, key {} (first run {:.3} s)",
        path.display(),
        bytes as f64 / 1e6,
        a.duration,
        a.windows,
        a.tempo.bpm,
        a.key.key,
        t0.elapsed().as_secs_f64(),
    );
    let seconds = a.duration;
    let name = format!("{ext}_{}min", BENCH_SECONDS / 60);

    let mut group = c.benchmark_group("analysis");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    let mut times = Vec::new();
    group.throughput(Throughput::Elements(seconds.round() as u64));
    group.bench_function(&name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                std::hint::black_box(analyzers[0].analyze(path).expect("analyze"));
                let d = t.elapsed();
                times.push(d);
                total += d;
            }
            total
        })
    });

    let mut par_times = Vec::new();
    group.throughput(Throughput::Elements(
        (seconds * PARALLEL_FILES as f64).round() as u64,
    ));
    group.bench_function(format!("{name}_x{PARALLEL_FILES}_parallel"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                // One scoped thread per analyzer, all on the same file (the page cache serves
                // it; decoding, not reading, is the cost).
                std::thread::scope(|s| {
                    for an in analyzers.iter_mut() {
                        s.spawn(move || std::hint::black_box(an.analyze(path).expect("analyze")));
                    }
                });
                let d = t.elapsed();
                par_times.push(d);
                total += d;
            }
            total
        })
    });
    group.finish();

    if !test_mode {
        breakdown(path, ext, &mut analyzers[0]);
    }
    if !test_mode && !times.is_empty() && !par_times.is_empty() {
        let one = median_s(&mut times);
        let par = median_s(&mut par_times);
        println!(
            "analysis/{name}: {one:.3} s per file = {:.0}x real time (1 thread)",
            seconds / one
        );
        println!(
            "analysis/{name}_x{PARALLEL_FILES}_parallel: {par:.3} s per {PARALLEL_FILES} files \
             = {:.0}x real time ({PARALLEL_FILES} threads; {} cores available)",
            seconds * PARALLEL_FILES as f64 / par,
            std::thread::available_parallelism().map_or(0, |n| n.get()),
        );
    }
}

/// Indexing throughput: [`TrackEmbedder::embed_file`] — the analysis above plus the model's
/// forward pass on every window (batches of 16, one intra-op thread per session) — on one
/// thread, and `PARALLEL_FILES` files on as many threads (what `kindred index --jobs 2` does).
/// The model is the shipped default (or `KINDRED_MODEL`), else the engine's tiny test fixture;
/// its name is printed, since only the shipped model's figure means anything.
fn bench_indexing(c: &mut Criterion, path: &Path, ext: &str, test_mode: bool) {
    let model = model::locate(None).unwrap_or_else(|_| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/models/tiny-6d.onnx")
    });
    let options = EmbedderOptions {
        device: Device::Cpu,
        threads: 1,
    };
    let mut embedders: Vec<TrackEmbedder> = (0..PARALLEL_FILES)
        .map(|_| {
            TrackEmbedder::new(Embedder::load(&model, &options).unwrap_or_else(|e| panic!("{e}")))
        })
        .collect();
    let seconds = embedders[0]
        .embed_file(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .analysis
        .duration;
    println!("indexing/{ext}: model {}", model.display());
    let name = format!("{ext}_{}min", BENCH_SECONDS / 60);
    let mut group = c.benchmark_group("indexing");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let (mut one, mut par) = (Vec::new(), Vec::new());
    group.throughput(Throughput::Elements(seconds.round() as u64));
    group.bench_function(&name, |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let t = Instant::now();
                    std::hint::black_box(embedders[0].embed_file(path).expect("embed"));
                    let d = t.elapsed();
                    one.push(d);
                    d
                })
                .sum()
        })
    });
    group.throughput(Throughput::Elements(
        (seconds * PARALLEL_FILES as f64).round() as u64,
    ));
    group.bench_function(format!("{name}_x{PARALLEL_FILES}_parallel"), |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let t = Instant::now();
                    std::thread::scope(|s| {
                        for e in embedders.iter_mut() {
                            s.spawn(move || {
                                std::hint::black_box(e.embed_file(path).expect("embed"))
                            });
                        }
                    });
                    let d = t.elapsed();
                    par.push(d);
                    d
                })
                .sum()
        })
    });
    group.finish();
    if !test_mode && !one.is_empty() && !par.is_empty() {
        let one = median_s(&mut one);
        let par = median_s(&mut par);
        println!(
            "indexing/{name}: {one:.3} s per file = {:.0}x real time (1 thread); \
             {PARALLEL_FILES} files in parallel: {:.0}x real time",
            seconds / one,
            seconds * PARALLEL_FILES as f64 / par
        );
    }
}

/// Criterion's own rule: benchmark under `cargo bench` (`--bench`) unless `--test` is given;
/// `cargo test --benches` (no `--bench`) and `--list` are test runs too.
fn is_test_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |a: &str| args.iter().any(|x| x == a);
    !has("--bench") || has("--test") || has("--list")
}

fn main() {
    let test_mode = is_test_mode();
    let mut c = Criterion::default().configure_from_args();
    let seconds = if test_mode {
        TEST_SECONDS
    } else {
        BENCH_SECONDS
    };
    let dir = audio_dir();
    let wav = source_wav(&dir, seconds);
    for format in &FORMATS {
        if let Some(path) = encode(&wav, format) {
            bench_file(&mut c, &path, format.ext, format.settings, test_mode);
            bench_indexing(&mut c, &path, format.ext, test_mode);
        }
    }
    c.final_summary();
}
