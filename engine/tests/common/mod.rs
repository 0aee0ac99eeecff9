//! Deterministic test signals with known tempo or key, synthesised at 22 050 Hz.
//!
//! Nothing here reads files or uses a random source other than the seeded [`Rng`], so every run
//! produces the same samples.

#![allow(dead_code)]

pub mod onnx;

use std::f64::consts::TAU;
use std::path::Path;

/// Writes `samples` as a 22 050 Hz mono float WAV.
pub fn write_wav(path: &Path, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SR as u32,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    samples
        .iter()
        .for_each(|&s| writer.write_sample(s).unwrap());
    writer.finalize().unwrap();
}

/// `seconds` of music: a backbeat at `bpm` under I–vi–IV–V chords in `tonic` (pitch class),
/// played by `timbre`, peak 0.8.
pub fn music(seconds: f64, bpm: f64, tonic: i32, timbre: Timbre) -> Vec<f32> {
    let mut out = rhythm(Pattern::Backbeat, bpm, 0.0, seconds, tonic as u64);
    let harmony = tonal(Material::PopProgression, tonic, timbre, seconds, 0);
    out.iter_mut()
        .zip(&harmony)
        .for_each(|(o, h)| *o = 0.5 * *o + *h);
    normalise(&mut out, 0.8);
    out
}

/// Sample rate of every signal here (SPEC §1).
pub const SR: f64 = 22_050.0;

/// SplitMix64: a tiny, seedable, well-mixed generator (Steele, Lea & Flood 2014).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [−1, 1).
    pub fn bipolar(&mut self) -> f64 {
        2.0 * self.uniform() - 1.0
    }
}

/// Adds `src` into `dst` starting at sample `at` (clipped at the end of `dst`).
fn mix_at(dst: &mut [f32], at: usize, src: &[f32], gain: f64) {
    if at >= dst.len() {
        return;
    }
    for (d, &s) in dst[at..].iter_mut().zip(src) {
        *d += (gain * s as f64) as f32;
    }
}

/// Scales `x` so its peak is `peak`.
pub fn normalise(x: &mut [f32], peak: f32) {
    let m = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if m > 0.0 {
        x.iter_mut().for_each(|v| *v *= peak / m);
    }
}

// ----------------------------------------------------------------------------------------------
// Percussion
// ----------------------------------------------------------------------------------------------

/// Drum sounds, rendered once per track.
pub struct Kit {
    pub kick: Vec<f32>,
    pub snare: Vec<f32>,
    pub hat: Vec<f32>,
    pub open_hat: Vec<f32>,
    pub click: Vec<f32>,
    pub click_accent: Vec<f32>,
}

impl Kit {
    pub fn new(rng: &mut Rng) -> Self {
        let n = |s: f64| (s * SR) as usize;
        // Kick: a sine whose pitch falls from ~150 Hz to 50 Hz, decaying in ~120 ms.
        let mut phase = 0.0;
        let kick = (0..n(0.3))
            .map(|i| {
                let t = i as f64 / SR;
                let f = 50.0 + 100.0 * (-t / 0.03).exp();
                phase += TAU * f / SR;
                (phase.sin() * (-t / 0.12).exp()) as f32
            })
            .collect();
        // Snare: a noise burst plus a 190 Hz body.
        let snare = (0..n(0.25))
            .map(|i| {
                let t = i as f64 / SR;
                (0.7 * rng.bipolar() * (-t / 0.06).exp()
                    + 0.4 * (TAU * 190.0 * t).sin() * (-t / 0.05).exp()) as f32
            })
            .collect();
        // Hats: first-differenced (high-passed) noise, short (closed) or longer (open).
        let hat_of = |rng: &mut Rng, len: f64, tau: f64| {
            let mut prev = 0.0;
            (0..n(len))
                .map(|i| {
                    let t = i as f64 / SR;
                    let w = rng.bipolar();
                    let v = 0.5 * (w - prev) * (-t / tau).exp();
                    prev = w;
                    v as f32
                })
                .collect::<Vec<f32>>()
        };
        let hat = hat_of(rng, 0.08, 0.015);
        let open_hat = hat_of(rng, 0.3, 0.08);
        // Metronome clicks: short decaying sines, higher and louder on the downbeat.
        let click_of = |f: f64| {
            (0..n(0.03))
                .map(|i| {
                    let t = i as f64 / SR;
                    ((TAU * f * t).sin() * (-t / 0.006).exp()) as f32
                })
                .collect::<Vec<f32>>()
        };
        Self {
            kick,
            snare,
            hat,
            open_hat,
            click: click_of(1500.0),
            click_accent: click_of(2500.0),
        }
    }
}

/// A rhythm pattern in 4/4; the tempo is the quarter-note rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// Metronome: a click on every beat, accented on beat 1.
    Click,
    /// Backbeat: kick on 1 and 3, snare on 2 and 4, closed hi-hat on every beat.
    Backbeat,
    /// Rock beat: kick on 1 and 3, snare on 2 and 4, closed hi-hat on every eighth note.
    Rock,
    /// Four-on-the-floor: kick on every beat, snare on 2 and 4, open hi-hat on the off-beats.
    FourOnFloor,
}

impl Pattern {
    pub const ALL: [Pattern; 4] = [
        Pattern::Click,
        Pattern::Backbeat,
        Pattern::Rock,
        Pattern::FourOnFloor,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Pattern::Click => "click",
            Pattern::Backbeat => "backbeat",
            Pattern::Rock => "rock",
            Pattern::FourOnFloor => "four-on-floor",
        }
    }
}

/// `seconds` of `pattern` at `bpm`, the first beat `phase` beats after the start (the pattern
/// runs from before the start so the signal is full from sample 0). Drum patterns get a small
/// human touch: ±4 ms timing jitter and ±15 % velocity, seeded.
pub fn rhythm(pattern: Pattern, bpm: f64, phase: f64, seconds: f64, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let kit = Kit::new(&mut rng);
    let len = (seconds * SR).round() as usize;
    let mut out = vec![0.0f32; len];
    let beat = 60.0 / bpm;
    let eighth = beat / 2.0;
    // Eighth-note grid index k: beat k/2 of the bar when k is even.
    let first = -((phase * 2.0).ceil() as i64) - 8;
    let mut k = first;
    loop {
        let t = (k as f64 + 2.0 * phase) * eighth;
        if t >= seconds {
            break;
        }
        let on_beat = k.rem_euclid(2) == 0;
        let beat_in_bar = k.div_euclid(2).rem_euclid(4);
        let human = pattern != Pattern::Click;
        let jitter = if human { 0.004 * rng.bipolar() } else { 0.0 };
        let mut hit = |sound: &[f32], gain: f64, rng: &mut Rng| {
            let tt = t + jitter;
            if tt < 0.0 {
                // The event started before sample 0: mix its tail.
                let skip = (-tt * SR).round() as usize;
                if skip < sound.len() {
                    let g = if human {
                        gain * (1.0 + 0.15 * rng.bipolar())
                    } else {
                        gain
                    };
                    mix_at(&mut out, 0, &sound[skip..], g);
                }
                return;
            }
            let g = if human {
                gain * (1.0 + 0.15 * rng.bipolar())
            } else {
                gain
            };
            mix_at(&mut out, (tt * SR).round() as usize, sound, g);
        };
        match pattern {
            Pattern::Click => {
                if on_beat {
                    if beat_in_bar == 0 {
                        hit(&kit.click_accent, 1.0, &mut rng);
                    } else {
                        hit(&kit.click, 0.6, &mut rng);
                    }
                }
            }
            Pattern::Backbeat => {
                if on_beat {
                    if beat_in_bar == 0 || beat_in_bar == 2 {
                        hit(&kit.kick, 1.0, &mut rng);
                    } else {
                        hit(&kit.snare, 0.8, &mut rng);
                    }
                    hit(&kit.hat, 0.35, &mut rng);
                }
            }
            Pattern::Rock => {
                if on_beat && (beat_in_bar == 0 || beat_in_bar == 2) {
                    hit(&kit.kick, 1.0, &mut rng);
                }
                if on_beat && (beat_in_bar == 1 || beat_in_bar == 3) {
                    hit(&kit.snare, 0.8, &mut rng);
                }
                hit(&kit.hat, if on_beat { 0.35 } else { 0.25 }, &mut rng);
            }
            Pattern::FourOnFloor => {
                if on_beat {
                    hit(&kit.kick, 1.0, &mut rng);
                    if beat_in_bar == 1 || beat_in_bar == 3 {
                        hit(&kit.snare, 0.6, &mut rng);
                    }
                } else {
                    hit(&kit.open_hat, 0.3, &mut rng);
                }
            }
        }
        k += 1;
    }
    normalise(&mut out, 0.8);
    out
}

// ----------------------------------------------------------------------------------------------
// Pitched material
// ----------------------------------------------------------------------------------------------

/// A note timbre.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timbre {
    /// A pure sine.
    Sine,
    /// Six harmonics at 1/k amplitude (a band-limited sawtooth).
    Saw,
    /// A plucked string: eight harmonics at 1/k, each decaying exponentially, higher ones faster.
    Pluck,
    /// An organ stop mix: the fundamental and its octaves (2, 4, 8 × f0), sustained.
    Organ,
    /// A clarinet-like reed: odd harmonics only, the 3rd (octave + fifth) nearly as strong as
    /// the fundamental (1, 0.9, 0.6, 0.4, 0.25 at harmonics 1, 3, 5, 7, 9), sustained. Not in
    /// [`Timbre::ALL`]; see [`Timbre::HARMONIC_RICH`].
    Reed,
    /// A brass-like tone: harmonics 1..=8 with the 2nd to 4th stronger than the fundamental
    /// (0.6, 1, 1, 0.8, 0.6, 0.45, 0.3, 0.2), sustained. Not in [`Timbre::ALL`].
    Brass,
}

impl Timbre {
    pub const ALL: [Timbre; 4] = [Timbre::Sine, Timbre::Saw, Timbre::Pluck, Timbre::Organ];
    /// Timbres whose harmonics outweigh the fundamental's pitch class, like the reeds and brass
    /// of a General MIDI rendering.
    pub const HARMONIC_RICH: [Timbre; 2] = [Timbre::Reed, Timbre::Brass];

    pub fn name(self) -> &'static str {
        match self {
            Timbre::Sine => "sine",
            Timbre::Saw => "saw",
            Timbre::Pluck => "pluck",
            Timbre::Organ => "organ",
            Timbre::Reed => "reed",
            Timbre::Brass => "brass",
        }
    }

    /// (harmonic number, amplitude, decay time constant in s or ∞).
    fn partials(self) -> Vec<(f64, f64, f64)> {
        match self {
            Timbre::Sine => vec![(1.0, 1.0, f64::INFINITY)],
            Timbre::Saw => (1..=6)
                .map(|k| (k as f64, 1.0 / k as f64, f64::INFINITY))
                .collect(),
            Timbre::Pluck => (1..=8)
                .map(|k| (k as f64, 1.0 / k as f64, 0.8 / (k as f64).sqrt()))
                .collect(),
            Timbre::Organ => vec![
                (1.0, 1.0, f64::INFINITY),
                (2.0, 0.7, f64::INFINITY),
                (4.0, 0.45, f64::INFINITY),
                (8.0, 0.25, f64::INFINITY),
            ],
            Timbre::Reed => [(1.0, 1.0), (3.0, 0.9), (5.0, 0.6), (7.0, 0.4), (9.0, 0.25)]
                .into_iter()
                .map(|(k, a)| (k, a, f64::INFINITY))
                .collect(),
            Timbre::Brass => [0.6, 1.0, 1.0, 0.8, 0.6, 0.45, 0.3, 0.2]
                .into_iter()
                .enumerate()
                .map(|(i, a)| ((i + 1) as f64, a, f64::INFINITY))
                .collect(),
        }
    }
}

/// Frequency of a MIDI note at A4 = 440 Hz.
pub fn midi_hz(midi: i32) -> f64 {
    440.0 * 2f64.powf((midi - 69) as f64 / 12.0)
}

/// Adds one note to `out`: `midi` from `start` for `dur` seconds, 10 ms attack and 40 ms release
/// (the release runs past `dur`), partials above 10 kHz dropped.
pub fn add_note(out: &mut [f32], start: f64, dur: f64, midi: i32, timbre: Timbre, amp: f64) {
    let f0 = midi_hz(midi);
    let attack = 0.01;
    let release = 0.04;
    let s0 = (start * SR).round() as usize;
    let n = ((dur + release) * SR).round() as usize;
    let end = (s0 + n).min(out.len());
    if s0 >= end {
        return;
    }
    for (k, a, tau) in timbre.partials() {
        let f = k * f0;
        if f > 10_000.0 {
            continue;
        }
        // Oscillator by complex rotation (exact up to rounding over a few seconds in f64).
        let (rs, rc) = (TAU * f / SR).sin_cos();
        let (mut s, mut c) = (0.0f64, 1.0f64);
        let decay = if tau.is_finite() {
            (-1.0 / (tau * SR)).exp()
        } else {
            1.0
        };
        let mut d = 1.0;
        for (i, o) in out[s0..end].iter_mut().enumerate() {
            let t = i as f64 / SR;
            let env = if t < attack {
                t / attack
            } else if t > dur {
                (1.0 - (t - dur) / release).max(0.0)
            } else {
                1.0
            };
            *o += (amp * a * d * env * s) as f32;
            let s2 = s * rc + c * rs;
            c = c * rc - s * rs;
            s = s2;
            d *= decay;
        }
    }
}

/// Major or minor, for the synthesiser's truth labels (0 = C … 11 = B).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Major,
    Minor,
}

/// Tonal material of a test item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Material {
    /// I–IV–V–I.
    MajorCadence,
    /// I–vi–IV–V.
    PopProgression,
    /// Major scale up and down.
    MajorScale,
    /// i–iv–V–i with the harmonic-minor (major) dominant.
    MinorCadence,
    /// Natural minor scale up and down.
    NaturalMinorScale,
    /// Harmonic minor scale up and down.
    HarmonicMinorScale,
}

impl Material {
    pub const MAJOR: [Material; 3] = [
        Material::MajorCadence,
        Material::PopProgression,
        Material::MajorScale,
    ];
    pub const MINOR: [Material; 3] = [
        Material::MinorCadence,
        Material::NaturalMinorScale,
        Material::HarmonicMinorScale,
    ];

    pub fn mode(self) -> Mode {
        if Self::MAJOR.contains(&self) {
            Mode::Major
        } else {
            Mode::Minor
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Material::MajorCadence => "I-IV-V-I",
            Material::PopProgression => "I-vi-IV-V",
            Material::MajorScale => "major scale",
            Material::MinorCadence => "i-iv-V-i",
            Material::NaturalMinorScale => "natural minor scale",
            Material::HarmonicMinorScale => "harmonic minor scale",
        }
    }
}

/// A triad on scale degree `root` (semitones above the tonic) with `third` (3 or 4) and a
/// perfect fifth.
struct Chord {
    root: i32,
    third: i32,
}

const fn chord(root: i32, third: i32) -> Chord {
    Chord { root, third }
}

/// `seconds` of `material` in the key with tonic `tonic` (pitch class), in `timbre`, moved up
/// by `register` semitones.
///
/// Chords last 1.5 s and loop; each is a root-position triad whose root lies in G3..F♯4 (MIDI
/// 55–66, plus `register`) over the root an octave lower. Scales run from the tonic in C4..B4
/// (plus `register`) up an octave and back down, notes 0.8 s long (15 notes = 12 s).
pub fn tonal(
    material: Material,
    tonic: i32,
    timbre: Timbre,
    seconds: f64,
    register: i32,
) -> Vec<f32> {
    let len = (seconds * SR).round() as usize;
    let mut out = vec![0.0f32; len];
    let progression: &[Chord] = match material {
        Material::MajorCadence => &[chord(0, 4), chord(5, 4), chord(7, 4), chord(0, 4)],
        Material::PopProgression => &[chord(0, 4), chord(9, 3), chord(5, 4), chord(7, 4)],
        Material::MinorCadence => &[chord(0, 3), chord(5, 3), chord(7, 4), chord(0, 3)],
        _ => &[],
    };
    if !progression.is_empty() {
        let dur = 1.5;
        let mut i = 0;
        while (i as f64) * dur < seconds {
            let c = &progression[i % progression.len()];
            let root_pc = (tonic + c.root).rem_euclid(12);
            let low = 55 + register;
            let root = low + (root_pc - low).rem_euclid(12);
            let start = i as f64 * dur;
            add_note(&mut out, start, dur - 0.05, root - 12, timbre, 0.5);
            for step in [0, c.third, 7] {
                add_note(&mut out, start, dur - 0.05, root + step, timbre, 0.4);
            }
            i += 1;
        }
    } else {
        let steps: [i32; 7] = match material {
            Material::MajorScale => [0, 2, 4, 5, 7, 9, 11],
            Material::NaturalMinorScale => [0, 2, 3, 5, 7, 8, 10],
            _ => [0, 2, 3, 5, 7, 8, 11],
        };
        let base = 60 + register + (tonic - register).rem_euclid(12);
        let up = steps.iter().map(|s| base + s).chain([base + 12]);
        let down = steps.iter().rev().map(|s| base + s);
        let notes: Vec<i32> = up.chain(down).collect();
        let dur = 0.8;
        let mut i = 0;
        while (i as f64) * dur < seconds {
            let midi = *notes.get(i).unwrap_or(&base);
            add_note(&mut out, i as f64 * dur, dur - 0.02, midi, timbre, 0.6);
            i += 1;
        }
    }
    normalise(&mut out, 0.8);
    out
}
