//! The audio path in process: `Kindred::process()` under nice-plug's allocation checker
//! (`nice-assert-no-alloc`, the crate behind nice-plug's `assert_process_allocs`, here with
//! `warn_release` so it also counts in this release-built test), bit-exact passthrough for odd
//! and variable block sizes, and the worker publishing tempo and key for generated music.

use std::time::{Duration, Instant};

use kindred_engine::inference::Device;
use kindred_engine::key::{Key, Mode};
use kindred_plugin::Kindred;
use kindred_plugin::stream::Headless;
use kindred_plugin::worker::{Activity, Command, Snapshot};
use nice_assert_no_alloc::{
    AllocDisabler, assert_no_alloc, reset_violation_count, violation_count,
};
use nice_plug::prelude::*;

mod support;

use support::{Host, music};

#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

fn run_plugin(rate: f32, channels: usize, blocks: &[usize]) {
    let mut plugin = Kindred::default();
    let mut host = Host {
        transport: Transport::new(rate),
    };
    host.transport.playing = true;
    let layout = Kindred::AUDIO_IO_LAYOUTS[if channels == 2 { 0 } else { 1 }];
    let config = BufferConfig {
        sample_rate: rate,
        min_buffer_size: Some(1),
        max_buffer_size: 8192,
        process_mode: ProcessMode::Realtime,
    };
    assert!(plugin.activate(&layout, &config, &mut host));
    plugin.reset();

    let total: usize = blocks.iter().sum();
    let input: Vec<Vec<f32>> = (0..channels)
        .map(|c| music(rate, total as f32 / rate, 120.0, c))
        .collect();
    let mut output = input.clone();
    let mut start = 0;
    reset_violation_count();
    for &len in blocks {
        let mut slices: Vec<&mut [f32]> = output
            .iter_mut()
            .map(|c| &mut c[start..start + len])
            .collect();
        let mut buffer = Buffer::default();
        // SAFETY: the slices live until the end of this iteration and have equal lengths.
        unsafe {
            buffer.set_slices(len, |s| {
                s.clear();
                s.append(&mut slices);
            })
        };
        let mut aux = AuxiliaryBuffers {
            inputs: &mut [],
            outputs: &mut [],
        };
        let status = assert_no_alloc(|| plugin.process(&mut buffer, &mut aux, &mut host));
        assert_eq!(status, ProcessStatus::Normal);
        start += len;
    }
    assert_eq!(
        violation_count(),
        0,
        "process() allocated or freed memory on the audio thread"
    );
    for (c, (a, b)) in input.iter().zip(&output).enumerate() {
        let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "channel {c} is not bit-exact");
    }
    plugin.deactivate();
}

/// Odd, variable block sizes from 1 to 8192 frames.
fn odd_blocks(total: usize) -> Vec<usize> {
    let sizes = [1, 7, 64, 333, 8192, 2, 1023, 4097, 5, 511];
    let mut blocks = Vec::new();
    let mut sum = 0;
    for &s in sizes.iter().cycle() {
        if sum + s > total {
            break;
        }
        blocks.push(s);
        sum += s;
    }
    blocks
}

#[test]
fn process_is_bit_exact_and_allocation_free_stereo_44k() {
    run_plugin(44_100.0, 2, &odd_blocks(44_100 * 2));
}

#[test]
fn process_is_bit_exact_and_allocation_free_mono_96k() {
    run_plugin(96_000.0, 1, &odd_blocks(96_000 * 2));
}

#[test]
fn process_handles_192k_and_one_frame_blocks() {
    run_plugin(192_000.0, 2, &vec![1; 4000]);
}

/// The checker itself works in this build: an allocation inside `assert_no_alloc` counts.
#[test]
fn the_allocation_checker_is_armed() {
    reset_violation_count();
    let v = assert_no_alloc(|| std::hint::black_box(vec![1u8; 64]));
    drop(v);
    assert!(violation_count() >= 1);
    reset_violation_count();
}

/// Feeds `seconds` of generated music through the audio tap at 8× real time (default hop, 1 s)
/// and returns the newest snapshot and how long it took.
fn feed_worker(rate: f32, seconds: f32) -> (Snapshot, Duration) {
    let mut plugin = Headless::start(rate as u32, Device::Cpu, None, []).unwrap();
    let mut left = music(rate, seconds, 120.0, 0);
    let block = 512;
    let started = Instant::now();
    for chunk in left.chunks_mut(block) {
        plugin.tap.push(&[chunk], true);
        // 8× real time: the ring (4 s) never overflows, the worker keeps up.
        std::thread::sleep(Duration::from_secs_f32(block as f32 / rate / 8.0));
    }
    let _ = plugin.wait(Duration::from_secs(20), |s| s.windows >= 2);
    let elapsed = started.elapsed();
    (plugin.stop(), elapsed)
}

#[test]
fn worker_publishes_tempo_and_key() {
    let (snap, _) = feed_worker(44_100.0, 6.0);
    eprintln!(
        "windows {} skipped {} latency {:.1} ms cpu {:.1} % tempo {:?} key {:?} model {} error {:?}",
        snap.windows,
        snap.skipped_windows,
        snap.latency_ms,
        snap.cpu_load * 100.0,
        snap.tempo,
        snap.key,
        snap.model,
        snap.error
    );
    assert_eq!(snap.activity, Activity::Analysing);
    assert!(snap.windows >= 2, "{} windows", snap.windows);
    let bpm = snap.tempo.unwrap().bpm;
    let octave = (bpm / 120.0).log2();
    assert!(
        (octave - octave.round()).abs() < 0.05,
        "tempo {bpm} BPM is not an octave of 120"
    );
    assert_eq!(snap.key.unwrap().key, Key::new(0, Mode::Major));
    assert_eq!(snap.dropped_samples, 0);
}

#[test]
fn worker_reports_silence() {
    let mut plugin = Headless::start(48_000, Device::Cpu, None, []).unwrap();
    let mut silence = vec![0.0f32; 4 * 48_000];
    for chunk in silence.chunks_mut(4096) {
        plugin.tap.push(&[chunk], false);
    }
    let _ = plugin.wait(Duration::from_secs(20), |s| s.activity == Activity::Silence);
    let snap = plugin.stop();
    assert_eq!(snap.activity, Activity::Silence);
    assert_eq!(snap.windows, 0);
}

/// A library that is missing (e.g. a restored project from another machine) is reported in
/// the snapshot, and the worker goes on analysing.
#[test]
fn a_missing_library_is_reported_not_fatal() {
    let rate = 44_100.0;
    let missing = Command::Library(Some("/nonexistent/library.kindred".into()));
    let mut plugin = Headless::start(rate as u32, Device::Cpu, None, [missing]).unwrap();
    let mut audio = music(rate, 4.0, 100.0, 0);
    for chunk in audio.chunks_mut(4096) {
        plugin.tap.push(&[chunk], true);
    }
    let _ = plugin.wait(Duration::from_secs(20), |s| s.windows >= 1);
    let snap = plugin.stop();
    assert!(
        snap.library
            .starts_with("missing: /nonexistent/library.kindred"),
        "{}",
        snap.library
    );
    assert!(snap.windows >= 1);
    assert!(snap.comparison.reference.is_none());
}
