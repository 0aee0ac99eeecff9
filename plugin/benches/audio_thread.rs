//! The audio thread's cost (issue target: ≤ 1 % of a core at 48 kHz with 64-frame blocks):
//! `Kindred::process()` on a stereo 64-frame block — downmix, ring push, transport flag — with
//! the worker running beside it, as in a host. Prints the cost per block and its share of the
//! 1.33 ms the block lasts.
//!
//! The blocks come in bursts of 1 000 (1.3 s of audio) with a pause after each, untimed, in
//! which the worker drains the ring: back to back, the ring would fill and the figure would
//! be the cheaper cost of dropping samples.

use std::time::{Duration, Instant};

use kindred_plugin::Kindred;
use nice_plug::prelude::*;

#[path = "../tests/support/mod.rs"]
mod support;

use support::{Host, music};

const RATE: f32 = 48_000.0;
const FRAMES: usize = 64;
const BURST: usize = 1_000;

fn main() {
    let has = |flag: &str| std::env::args().any(|a| a == flag);
    let test_mode = !has("--bench") || has("--test");
    let bursts = if test_mode { 3 } else { 200 };

    let mut plugin = Kindred::default();
    let mut host = Host {
        transport: Transport::new(RATE),
    };
    host.transport.playing = true;
    let config = BufferConfig {
        sample_rate: RATE,
        min_buffer_size: Some(FRAMES as u32),
        max_buffer_size: FRAMES as u32,
        process_mode: ProcessMode::Realtime,
    };
    assert!(plugin.activate(&Kindred::AUDIO_IO_LAYOUTS[0], &config, &mut host));
    let seconds = FRAMES as f32 / RATE;
    let mut left = music(RATE, seconds, 120.0, 0);
    let mut right = music(RATE, seconds, 120.0, 1);
    // The worker loads the model before it drains the ring.
    std::thread::sleep(Duration::from_secs(1));

    let mut spent = Duration::ZERO;
    for _ in 0..bursts {
        let started = Instant::now();
        for _ in 0..BURST {
            let mut buffer = Buffer::default();
            // SAFETY: both slices outlive the call and have FRAMES frames.
            unsafe {
                buffer.set_slices(FRAMES, |s| {
                    s.clear();
                    s.push(&mut left[..]);
                    s.push(&mut right[..]);
                })
            };
            let mut aux = AuxiliaryBuffers {
                inputs: &mut [],
                outputs: &mut [],
            };
            plugin.process(&mut buffer, &mut aux, &mut host);
        }
        spent += started.elapsed();
        std::thread::sleep(Duration::from_millis(20));
    }
    plugin.deactivate();

    let per_block = spent.as_secs_f64() / (bursts * BURST) as f64;
    let budget = FRAMES as f64 / RATE as f64;
    println!(
        "audio thread: {:.0} ns per {FRAMES}-frame stereo block at 48 kHz = {:.4} % of a core \
         (target ≤ 1 %), {} blocks",
        per_block * 1e9,
        per_block / budget * 100.0,
        bursts * BURST
    );
}
