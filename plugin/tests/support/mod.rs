//! What the in-process plugin tests and the audio-thread benchmark share: a minimal host
//! context and generated music.

use kindred_plugin::Kindred;
use nice_plug::context::process::SendEventError;
use nice_plug::prelude::*;

/// A host that only has a transport.
pub struct Host {
    pub transport: Transport,
}

impl ActivateContext<Kindred> for Host {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }
    fn execute(&self, _task: ()) {}
    fn set_latency_samples(&self, _samples: u32) {}
    fn set_current_voice_capacity(&self, _capacity: u32) {}
}

impl ProcessContext<Kindred> for Host {
    fn plugin_api(&self) -> PluginApi {
        PluginApi::Clap
    }
    fn execute_background(&self, _task: ()) {}
    fn execute_gui(&self, _task: ()) {}
    fn transport(&self) -> &Transport {
        &self.transport
    }
    fn next_event(&mut self) -> Option<PluginNoteEvent<Kindred>> {
        None
    }
    fn try_send_event(
        &mut self,
        event: PluginNoteEvent<Kindred>,
    ) -> Result<(), (PluginNoteEvent<Kindred>, SendEventError)> {
        Err((event, SendEventError::NoOutputBuffer))
    }
    fn set_latency_samples(&self, _samples: u32) {}
    fn request_restart(&self) {}
    fn set_current_voice_capacity(&self, _capacity: u32) {}
}

/// A C major triad (root doubled an octave below) and a noise click on every beat at `bpm`:
/// tonal without ambiguity, rhythmic without pitch.
pub fn music(rate: f32, seconds: f32, bpm: f32, channel: usize) -> Vec<f32> {
    const CHORD: [f32; 4] = [130.81, 261.63, 329.63, 392.00];
    let n = (rate * seconds) as usize;
    let beat = (60.0 / bpm * rate) as usize;
    let mut noise = 0x1234_5678u32 ^ channel as u32;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate;
            let tone: f32 = CHORD
                .iter()
                .map(|f| (std::f32::consts::TAU * f * t).sin())
                .sum::<f32>()
                * 0.08;
            noise = noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let white = (noise >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0;
            let click = white * (-((i % beat) as f32) / (0.004 * rate)).exp() * 0.5;
            tone + click
        })
        .collect()
}
