//! Rendering a score as one render spec asks: MIDI (midly) → note list → tempo, key,
//! instrumentation and mood proxy applied → synthesis with a General MIDI SoundFont
//! (rustysynth) straight at the engine's 22 050 Hz (rustysynth accepts 16–192 kHz, so no
//! resampling is needed) → mono (mean of the two synth channels).
//!
//! What "tempo" means: the render's BPM counts the piece's *notated beat* per minute — the
//! beat of its first time signature (quarter in 4/4 and 2/4, dotted quarter in 6/8, half in
//! 2/2), recorded per piece as `beat_quarters`. The MIDI's own tempo map (including
//! ritardandi) is discarded and one tempo is used for the whole render, so the label is exact:
//! quarter notes per minute = BPM × `beat_quarters`.
//!
//! What is kept from the MIDI: notes (channel, pitch, start, length) only. Program changes
//! are replaced by the render's instrument family; controllers, pitch bends and velocities are
//! replaced by the mood proxy ([`Mood`](super::labels::Mood)). Transposition adds the same number of semitones
//! (−6..=5) to every note not on the drum channel (10, index 9); notes pushed outside
//! 0..=127 move by octaves back inside, which keeps their pitch class.

use std::path::Path;
use std::sync::Arc;

use midly::{MidiMessage, Smf, Timing, TrackEventKind};
use rustysynth::{SoundFont, Synthesizer, SynthesizerSettings};

use super::labels::Family;
use super::plan::RenderSpec;
use crate::{Error, Result};

/// The GM drum channel (channel 10, index 9): never transposed or re-programmed.
pub const DRUM_CHANNEL: u8 = 9;

/// Release tail rendered after the last note ends, in seconds.
pub const TAIL_SECONDS: f64 = 1.0;

/// One note of a score, in MIDI ticks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Note {
    pub start: u64,
    pub end: u64,
    pub channel: u8,
    pub key: u8,
}

/// The notes of a MIDI file, merged over tracks.
#[derive(Debug, Clone)]
pub struct Score {
    /// Ticks per quarter note.
    pub ppq: u32,
    /// Notes sorted by start.
    pub notes: Vec<Note>,
}

impl Score {
    /// Reads the notes of a Standard MIDI File (metrical timing only).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(Error::io(path))?;
        let err = |reason: String| Error::Midi {
            path: path.to_path_buf(),
            reason,
        };
        let smf = Smf::parse(&bytes).map_err(|e| err(e.to_string()))?;
        let ppq = match smf.header.timing {
            Timing::Metrical(t) => t.as_int() as u32,
            Timing::Timecode(..) => {
                return Err(err("SMPTE timecode timing is not supported".into()));
            }
        };
        if ppq == 0 {
            return Err(err("0 ticks per quarter note".into()));
        }
        let mut notes = Vec::new();
        for track in &smf.tracks {
            let mut now = 0u64;
            // Sounding notes per (channel, key), oldest first.
            let mut open: Vec<Vec<u64>> = vec![Vec::new(); 16 * 128];
            for event in track {
                now += event.delta.as_int() as u64;
                if let TrackEventKind::Midi { channel, message } = event.kind {
                    let ch = channel.as_int();
                    let (key, on) = match message {
                        MidiMessage::NoteOn { key, vel } => (key.as_int(), vel.as_int() > 0),
                        MidiMessage::NoteOff { key, .. } => (key.as_int(), false),
                        _ => continue,
                    };
                    let slot = &mut open[ch as usize * 128 + key as usize];
                    if on {
                        slot.push(now);
                    } else if !slot.is_empty() {
                        let start = slot.remove(0);
                        notes.push(Note {
                            start,
                            end: now,
                            channel: ch,
                            key,
                        });
                    }
                }
            }
            for (i, slot) in open.iter().enumerate() {
                for &start in slot {
                    notes.push(Note {
                        start,
                        end: now.max(start + 1),
                        channel: (i / 128) as u8,
                        key: (i % 128) as u8,
                    });
                }
            }
        }
        if notes.is_empty() {
            return Err(err("no notes".into()));
        }
        notes.sort_by_key(|n| (n.start, n.channel, n.key));
        Ok(Self { ppq, notes })
    }

    /// Melodic channels in use, ascending.
    pub fn melodic_channels(&self) -> Vec<u8> {
        let mut used = [false; 16];
        for n in &self.notes {
            used[n.channel as usize] = true;
        }
        (0..16u8)
            .filter(|&c| used[c as usize] && c != DRUM_CHANNEL)
            .collect()
    }
}

/// A timed synthesiser event.
#[derive(Debug, Clone, Copy)]
struct Event {
    /// Sample index at the render's rate.
    at: u64,
    /// 0 = note off, 1 = note on (offs first at equal times, so repeated notes retrigger).
    on: u8,
    channel: u8,
    key: u8,
    velocity: u8,
}

/// Moves `key` by octaves into 0..=127.
fn fold_into_range(mut key: i32) -> u8 {
    while key > 127 {
        key -= 12;
    }
    while key < 0 {
        key += 12;
    }
    key as u8
}

/// The GM program of each melodic channel for `family`: the i-th melodic channel in use gets
/// `family.programs()[i % len]`.
pub fn programs_for(channels: &[u8], family: Family) -> Vec<(u8, u8)> {
    let programs = family.programs();
    channels
        .iter()
        .enumerate()
        .map(|(i, &c)| (c, programs[i % programs.len()]))
        .collect()
}

/// Synthesises renders with one SoundFont. Cheap to clone (the SoundFont is shared).
#[derive(Clone)]
pub struct Renderer {
    soundfont: Arc<SoundFont>,
    sample_rate: u32,
    max_seconds: f64,
}

impl Renderer {
    /// Loads the SoundFont at `path`; renders at `sample_rate` and stop after `max_seconds`.
    pub fn new(path: &Path, sample_rate: u32, max_seconds: f64) -> Result<Self> {
        let mut file = std::fs::File::open(path)
            .map_err(|e| Error::SoundFont(format!("{}: {e}", path.display())))?;
        let soundfont = SoundFont::new(&mut file)
            .map_err(|e| Error::SoundFont(format!("{}: {e:?}", path.display())))?;
        Ok(Self {
            soundfont: Arc::new(soundfont),
            sample_rate,
            max_seconds,
        })
    }

    /// Renders `score` as `spec` says; `beat_quarters` is the piece's notated beat in quarter
    /// notes. Returns mono samples at the renderer's rate.
    pub fn render(&self, score: &Score, spec: &RenderSpec, beat_quarters: f64) -> Result<Vec<f32>> {
        let sr = self.sample_rate as f64;
        let qpm = spec.bpm as f64 * beat_quarters;
        let seconds_per_tick = 60.0 / (qpm * score.ppq as f64);
        let limit = (self.max_seconds * sr).round() as u64;
        let mood = spec.mood;
        let mut events = Vec::with_capacity(score.notes.len() * 4);
        let mut last_end = 0u64;
        for n in &score.notes {
            let start = n.start as f64 * seconds_per_tick;
            let written = (n.end - n.start) as f64 * seconds_per_tick;
            let sounding = (written * mood.articulation()).max(0.02);
            let at = (start * sr).round() as u64;
            if at >= limit {
                continue;
            }
            let off = ((start + sounding) * sr).round() as u64;
            last_end = last_end.max(off);
            let mut keys = Vec::with_capacity(2);
            if n.channel == DRUM_CHANNEL {
                keys.push(n.key);
            } else {
                let k = n.key as i32 + spec.transpose + mood.register();
                keys.push(fold_into_range(k));
                if mood.doubles() && k - 12 >= 0 {
                    keys.push((k - 12).min(127) as u8);
                }
            }
            for key in keys {
                events.push(Event {
                    at,
                    on: 1,
                    channel: n.channel,
                    key,
                    velocity: mood.velocity(),
                });
                events.push(Event {
                    at: off,
                    on: 0,
                    channel: n.channel,
                    key,
                    velocity: 0,
                });
            }
        }
        events.sort_by_key(|e| (e.at, e.on, e.channel, e.key));
        let total = (last_end + (TAIL_SECONDS * sr) as u64).min(limit) as usize;

        let settings = SynthesizerSettings::new(self.sample_rate as i32);
        let mut synth = Synthesizer::new(&self.soundfont, &settings)
            .map_err(|e| Error::SoundFont(format!("{e:?}")))?;
        for (channel, program) in programs_for(&score.melodic_channels(), spec.family) {
            synth.process_midi_message(channel as i32, 0xC0, program as i32, 0);
        }
        let mut out = Vec::with_capacity(total);
        let mut left = vec![0f32; 1024];
        let mut right = vec![0f32; 1024];
        let mut render_to = |synth: &mut Synthesizer, out: &mut Vec<f32>, end: usize| {
            while out.len() < end {
                let n = (end - out.len()).min(left.len());
                synth.render(&mut left[..n], &mut right[..n]);
                out.extend(
                    left[..n]
                        .iter()
                        .zip(&right[..n])
                        .map(|(l, r)| 0.5 * (l + r)),
                );
            }
        };
        for e in &events {
            let at = (e.at as usize).min(total);
            render_to(&mut synth, &mut out, at);
            if at >= total {
                break;
            }
            if e.on == 1 {
                synth.note_on(e.channel as i32, e.key as i32, e.velocity as i32);
            } else {
                synth.note_off(e.channel as i32, e.key as i32);
            }
        }
        render_to(&mut synth, &mut out, total);
        // Clip guard only (loudness is part of the mood proxy, so no normalisation).
        let peak = out.iter().fold(0f32, |m, &x| m.max(x.abs()));
        if peak > 0.99 {
            let g = 0.99 / peak;
            out.iter_mut().for_each(|x| *x *= g);
        }
        Ok(out)
    }
}
