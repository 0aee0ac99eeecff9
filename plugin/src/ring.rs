//! The audio thread's whole job besides passing audio through: the mono downmix (mean of the
//! channels, SPEC §1) into the lock-free SPSC ring the worker drains.
//!
//! [`AudioTap::push`] allocates nothing, takes no lock, makes no system call and loops only
//! over the block's samples. On a full ring the samples that do not fit are dropped and
//! counted in [`Shared::dropped_samples`]; audio is never waited on.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ringbuf::traits::{Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};

use crate::worker::Shared;

/// Seconds of host-rate audio the ring holds: the worker may stall this long (loading the
/// model, a slow window) before samples are dropped.
pub const RING_SECONDS: usize = 4;
/// Frames downmixed at once into the stack buffer.
const CHUNK: usize = 256;

/// The producer half, owned by the plugin and used in `process()`.
pub struct AudioTap {
    producer: HeapProd<f32>,
    shared: Arc<Shared>,
}

/// A ring for `sample_rate`, split into the audio thread's tap and the worker's consumer.
/// Call from `activate()`: this allocates.
pub fn ring(sample_rate: f32, shared: Arc<Shared>) -> (AudioTap, HeapCons<f32>) {
    let capacity = (sample_rate.max(1.0) as usize) * RING_SECONDS;
    let (producer, consumer) = HeapRb::<f32>::new(capacity).split();
    (AudioTap { producer, shared }, consumer)
}

impl AudioTap {
    /// Pushes the mean of `channels` (all of equal length) and records the transport state.
    pub fn push(&mut self, channels: &[&mut [f32]], playing: bool) {
        self.shared.playing.store(playing, Ordering::Relaxed);
        let Some(first) = channels.first() else {
            return;
        };
        let frames = first.len();
        let mut dropped = 0;
        if channels.len() == 1 {
            dropped = frames - self.producer.push_slice(first);
        } else {
            let scale = 1.0 / channels.len() as f32;
            let mut mono = [0.0f32; CHUNK];
            let mut start = 0;
            while start < frames {
                let n = CHUNK.min(frames - start);
                let mono = &mut mono[..n];
                mono.copy_from_slice(&first[start..start + n]);
                for channel in &channels[1..] {
                    for (m, x) in mono.iter_mut().zip(&channel[start..start + n]) {
                        *m += x;
                    }
                }
                mono.iter_mut().for_each(|m| *m *= scale);
                dropped += n - self.producer.push_slice(mono);
                start += n;
            }
        }
        if dropped > 0 {
            self.shared
                .dropped_samples
                .fetch_add(dropped as u32, Ordering::Relaxed);
        }
    }
}
