//! Musical key estimate (tonic + major/minor) with key profiles (SPEC §1, "Also from the
//! features"), and the key arithmetic the rest of Kindred needs (relative, parallel,
//! transposition, Camelot-wheel compatibility, parsing and display).
//!
//! # Method
//!
//! The Krumhansl–Schmuckler key-finding algorithm (Krumhansl 1990, *Cognitive Foundations of
//! Musical Pitch*, ch. 4): sum a pitch-class profile over frames, correlate it (Pearson) with a
//! key profile rotated to each of the 12 tonics, for major and for minor, and take the best of
//! the 24. Krumhansl–Kessler profiles are the default ([`KeyProfile`]).
//!
//! # Which pitch-class profile
//!
//! SPEC §1 names chroma. The window's librosa chroma (`chroma_stft` at n_fft 512) is built
//! for the network and is a poor key feature below ~700 Hz: there one 43 Hz FFT bin is wider
//! than a semitone, and the chroma filterbank spreads each bin over a Gaussian as wide as the
//! bin spacing, so a note in octave 4 lands on two or three neighbouring pitch classes (E4 at
//! 329.6 Hz sits midway between bins at 301 Hz and 345 Hz, i.e. on D/D♯ and F). By default the
//! key is therefore estimated from a chroma of the same STFT built for pitch accuracy, an
//! HPCP-style profile of spectral peaks (Gómez 2006, *Tonal description of music audio
//! signals*, ch. 3; the key feature of Essentia's key extractor): every local maximum of the
//! power spectrum between 100 Hz and 5 kHz, within 60 dB of the frame's strongest bin, is
//! placed at its parabolically interpolated frequency and adds its amplitude to the nearest
//! pitch classes through a cos² window 4/3 semitone wide. Interpolation recovers the pitch of
//! any partial that is resolved (≥ 2 bins from its neighbours) to a few cents, whatever bin it
//! falls in. Frames are not normalised, so a loud frame counts more than a quiet one, in
//! proportion to amplitude.
//!
//! On the synthetic test set of `tests/accuracy.rs` the peak profile is never worse than the
//! chroma and much better in low registers; Krumhansl–Kessler beats Temperley (whose minor
//! profile treats a natural-minor scale as its relative major) — the figures are in that test.
//! [`KeyEstimator::estimate_chroma`] and [`KeyAccumulator::estimate_chroma`] keep the literal
//! chroma method for comparison.
//!
//! # Harmonic templates
//!
//! A spectral profile holds every resolved partial of every note, not just the fundamentals:
//! harmonics 3 and 6 add to the note's fifth, harmonic 5 to its major third. With real
//! instruments (reeds, brass, bowed strings, most General MIDI patches) this weight on the fifth
//! pulls a plain Krumhansl–Kessler correlation to the dominant key. The templates are therefore
//! the key profiles *as a spectral profile shows them* (Gómez 2006, §4.2, templates with
//! harmonics): each pitch class of the profile also sounds harmonics 2..=6 with amplitude
//! 0.8^(h−1) (`with_harmonics`), and the 24 correlations are with those. The pitch-class profile
//! itself is untouched (the chroma method shares the templates).
//!
//! Measured on General MIDI renders of music21 scores (FluidR3_GM, true keys by construction;
//! `kindred-train dataset --per-factor 1 --keep-audio`, 30 s per render, 5 renders per piece
//! across 8 instrument families), exact key before → after:
//!
//! | set | all | brass | guitar | organ | piano | pipe | plucked | reeds | strings |
//! |---|---|---|---|---|---|---|---|---|---|
//! | pieces 1–40, seed 3 (200 renders; decay chosen here) | 38 → 72 % | 11 → 50 | 42 → 77 | 42 → 62 | 55 → 68 | 67 → 88 | 32 → 84 | 17 → 70 | 39 → 82 |
//! | pieces 41–80, seed 7 (200 renders; held out) | 39 → 58 % | 29 → 46 | 37 → 63 | 40 → 52 | 54 → 73 | 35 → 54 | 33 → 54 | 30 → 48 | 52 → 72 |
//!
//! Dominant (fifth-up) errors fell from 69 to 24 and from 59 to 36 of 200. The decay 0.8 is the
//! largest that does not cost the synthetic set (`tests/accuracy.rs`; 0.9 scores more on the
//! renders but over-corrects the synthetic timbres to the subdominant): there, 278 → 287 of 288
//! exact, low register 241 → 251, and harmonic-rich synthetic timbres (a clarinet-like reed, a
//! brass tone) 97 → 139 of 144. Temperley's profiles, not the default, lose with the harmonic
//! templates (240 → 207 of 288), as does the literal chroma with Krumhansl–Kessler (277 → 264).
//! Suppressing peaks explained as harmonics of a lower peak before folding was measured too and
//! helped less (38 → 50–52 % on the first set).
//!
//! A whole track is estimated from the sum of its windows' profiles ([`KeyAccumulator`]), which
//! is the profile of the whole track. Nothing allocates per call.

use std::fmt;
use std::str::FromStr;

use ndarray::{ArrayView2, s};

use crate::config::FrontEndConfig;

/// Major or minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    Major,
    Minor,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Major => "major",
            Mode::Minor => "minor",
        })
    }
}

/// A key: tonic pitch class and mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// Pitch class of the tonic, 0 = C, 1 = C♯/D♭, …, 11 = B.
    pub tonic: u8,
    /// Major or minor.
    pub mode: Mode,
}

/// Tonic spellings used by [`Key`]'s `Display`: the conventional name of each key in
/// Western notation (fewest accidentals; F♯ for the six-accidental major, E♭ for the minor).
const MAJOR_NAMES: [&str; 12] = [
    "C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
];
const MINOR_NAMES: [&str; 12] = [
    "C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B",
];

impl Key {
    /// A key from a tonic (taken modulo 12) and a mode.
    pub const fn new(tonic: u8, mode: Mode) -> Self {
        Self {
            tonic: tonic % 12,
            mode,
        }
    }

    /// Index 0..24: majors C..B are 0..12, minors C..B are 12..24.
    pub const fn index(self) -> usize {
        self.tonic as usize
            + match self.mode {
                Mode::Major => 0,
                Mode::Minor => 12,
            }
    }

    /// Inverse of [`index`](Self::index) (taken modulo 24).
    pub const fn from_index(index: usize) -> Self {
        let i = index % 24;
        let mode = if i < 12 { Mode::Major } else { Mode::Minor };
        Self::new((i % 12) as u8, mode)
    }

    /// The key sharing this key's scale with the other mode: C major ↔ A minor.
    pub const fn relative(self) -> Self {
        match self.mode {
            Mode::Major => Self::new(self.tonic + 9, Mode::Minor),
            Mode::Minor => Self::new(self.tonic + 3, Mode::Major),
        }
    }

    /// The key with the same tonic and the other mode: C major ↔ C minor.
    pub const fn parallel(self) -> Self {
        match self.mode {
            Mode::Major => Self::new(self.tonic, Mode::Minor),
            Mode::Minor => Self::new(self.tonic, Mode::Major),
        }
    }

    /// This key moved by `semitones` (any sign): C major transposed by 2 is D major, by −1 B major.
    pub const fn transpose(self, semitones: i32) -> Self {
        Self::new(
            (self.tonic as i32 + semitones).rem_euclid(12) as u8,
            self.mode,
        )
    }

    /// Position on the Camelot wheel: number 1..=12 and letter `'B'` (major) or `'A'` (minor).
    /// C major is 8B, A minor 8A; one step clockwise is a fifth up (G major 9B).
    pub const fn camelot(self) -> (u8, char) {
        // Relative keys share a number; the major's number rises by one per fifth (7 semitones).
        let major_tonic = match self.mode {
            Mode::Major => self.tonic,
            Mode::Minor => (self.tonic + 3) % 12,
        };
        let number = ((major_tonic as u32 * 7 + 7) % 12 + 1) as u8;
        let letter = match self.mode {
            Mode::Major => 'B',
            Mode::Minor => 'A',
        };
        (number, letter)
    }

    /// Inverse of [`camelot`](Self::camelot); `None` unless `number` is 1..=12 and `letter` is
    /// A/B (either case).
    pub fn from_camelot(number: u8, letter: char) -> Option<Self> {
        if !(1..=12).contains(&number) {
            return None;
        }
        let mode = match letter.to_ascii_uppercase() {
            'B' => Mode::Major,
            'A' => Mode::Minor,
            _ => return None,
        };
        // number = (7·t + 7) mod 12 + 1  ⇒  t = 7·(number − 8) mod 12 (7 is its own inverse mod 12).
        let major_tonic = (7 * (number as i32 - 8)).rem_euclid(12) as u8;
        let major = Self::new(major_tonic, Mode::Major);
        Some(match mode {
            Mode::Major => major,
            Mode::Minor => major.relative(),
        })
    }

    /// Whether two keys mix harmonically: the same key, its relative (same Camelot number),
    /// its parallel (same tonic), or a fifth neighbour in the same mode (Camelot number ±1, e.g.
    /// C major with F and G major, A minor with D and E minor).
    ///
    /// These are the Camelot-wheel adjacencies DJs use for harmonic mixing, plus the parallel
    /// key, which SPEC §3 already treats as similar (key positives are same or parallel key).
    /// The relation is symmetric.
    pub fn is_compatible(&self, other: &Key) -> bool {
        let (n1, l1) = self.camelot();
        let (n2, l2) = other.camelot();
        let step = (n1 as i32 - n2 as i32).rem_euclid(12);
        let same_number = step == 0;
        let neighbour = l1 == l2 && (step == 1 || step == 11);
        // Same number: the same key or its relative.
        same_number || neighbour || self.tonic == other.tonic
    }

    /// All 24 keys in [`index`](Self::index) order.
    pub fn all() -> impl Iterator<Item = Key> {
        (0..24).map(Key::from_index)
    }
}

impl fmt::Display for Key {
    /// `"C major"`, `"F# minor"`, `"Bb major"`: the conventional spelling of each key (fewest
    /// accidentals; F♯ major, E♭ minor), with ASCII `#` and `b`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = match self.mode {
            Mode::Major => &MAJOR_NAMES,
            Mode::Minor => &MINOR_NAMES,
        };
        write!(f, "{} {}", names[self.tonic as usize % 12], self.mode)
    }
}

/// Why a string is not a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a key: {0:?} (expected e.g. \"F# minor\", \"F#m\", \"Gb major\", \"a minor\", \"8B\")"
)]
pub struct ParseKeyError(pub String);

impl FromStr for Key {
    type Err = ParseKeyError;

    /// Parses a key name. Accepted forms, with optional spaces between the parts:
    ///
    /// * a note letter A–G in either case, then any number of accidentals `#`, `♯`, `b`, `♭`
    ///   (so `E#` is F and `Cb` is B);
    /// * then a mode: `major`, `maj`, `M`, `minor`, `min`, `m` (words in any case; a bare `m`
    ///   is minor and a bare `M` major), or nothing, which means **major** whatever the case of
    ///   the letter (`"a"` is A major; write `"a minor"` or `"am"` for A minor);
    /// * or a Camelot code `1A`..`12B` (see [`Key::camelot`]).
    ///
    /// Examples: `"F#m"`, `"F# minor"`, `"Gb major"`, `"a minor"`, `"Bbmaj"`, `"8A"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseKeyError(s.to_string());
        let t = s.trim();
        if let Some(key) = parse_camelot(t) {
            return Ok(key);
        }
        let mut chars = t.chars();
        let letter = chars.next().ok_or_else(err)?;
        let mut tonic: i32 = match letter.to_ascii_uppercase() {
            'C' => 0,
            'D' => 2,
            'E' => 4,
            'F' => 5,
            'G' => 7,
            'A' => 9,
            'B' => 11,
            _ => return Err(err()),
        };
        let mut rest = chars.as_str();
        loop {
            // A 'b' is a flat only if what follows is not a word starting with 'b' — no mode
            // word starts with 'b', so every leading 'b' is a flat.
            let mut cs = rest.chars();
            match cs.next() {
                Some('#' | '♯') => tonic += 1,
                Some('b' | '♭') => tonic -= 1,
                _ => break,
            }
            rest = cs.as_str();
        }
        let mode = match rest.trim() {
            "" | "M" => Mode::Major,
            "m" => Mode::Minor,
            word => match word.to_ascii_lowercase().as_str() {
                "major" | "maj" => Mode::Major,
                "minor" | "min" => Mode::Minor,
                _ => return Err(err()),
            },
        };
        Ok(Key::new(tonic.rem_euclid(12) as u8, mode))
    }
}

fn parse_camelot(t: &str) -> Option<Key> {
    let letter = t.chars().last()?;
    let digits = &t[..t.len() - letter.len_utf8()];
    if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Key::from_camelot(digits.parse().ok()?, letter)
}

/// The key profile set correlated against the pitch-class profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyProfile {
    /// Krumhansl & Kessler (1982) probe-tone ratings, the profiles of the original
    /// Krumhansl–Schmuckler algorithm. The default: best on our test set (see the module doc).
    #[default]
    KrumhanslKessler,
    /// Temperley (1999, "What's key for key? The Krumhansl–Schmuckler key-finding algorithm
    /// reconsidered"), the revised CBMS profiles. Its minor profile assumes the raised leading
    /// tone of harmonic minor, so natural-minor material reads as the relative major.
    Temperley,
}

impl KeyProfile {
    /// The (major, minor) profile with index 0 = tonic.
    pub const fn weights(self) -> ([f32; 12], [f32; 12]) {
        match self {
            KeyProfile::KrumhanslKessler => (
                [
                    6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88,
                ],
                [
                    6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17,
                ],
            ),
            KeyProfile::Temperley => (
                [5.0, 2.0, 3.5, 2.0, 4.5, 4.0, 2.0, 4.5, 2.0, 3.5, 1.5, 4.0],
                [5.0, 2.0, 3.5, 4.5, 2.0, 4.0, 2.0, 4.5, 3.5, 2.0, 1.5, 4.0],
            ),
        }
    }
}

/// A key estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyEstimate {
    /// The best-correlating key; [`KeyEstimate::NONE`]'s C major when there is no pitch
    /// content (then `confidence` is 0).
    pub key: Key,
    /// The Pearson correlation of the pitch-class profile with the chosen key's profile, in
    /// [−1, 1]; 0 with no pitch content.
    pub correlation: f32,
    /// How clearly the best key beats the runner-up, in [0, 1]:
    /// `(r₁ − r₂) / (1 − r₂)`, where r₁ and r₂ are the best and second-best of the 24
    /// correlations — the fraction of the runner-up's distance to a perfect correlation that
    /// the winner covers. 0 means a tie (or no pitch content: silence, or a flat profile such as
    /// white noise); 1 means the profile matches the key's profile exactly. The runner-up is
    /// usually the relative, parallel or a fifth-related key, so values around 0.1–0.5 are
    /// typical of clear tonal music; below ~0.05 the estimate is a coin toss between two keys.
    pub confidence: f32,
}

impl KeyEstimate {
    /// The estimate given when there is no pitch content.
    pub const NONE: Self = Self {
        key: Key::new(0, Mode::Major),
        correlation: 0.0,
        confidence: 0.0,
    };
}

/// Lowest and highest frequency searched for spectral peaks (HPCP's usual 5 kHz top; below
/// 100 Hz a bin spans more than 5 semitones).
const PEAK_MIN_HZ: f32 = 100.0;
const PEAK_MAX_HZ: f32 = 5000.0;
/// Peaks weaker than this fraction of the frame's strongest bin's power (−60 dB) are ignored.
const PEAK_FLOOR: f32 = 1e-6;
/// Half-width of the cos² window that spreads a peak over pitch classes, in semitones
/// (HPCP's 4/3-semitone window for 12 bins).
const PEAK_HALF_WIDTH: f32 = 2.0 / 3.0;
/// C4 at A4 = 440 Hz: the pitch-class reference (tuning fixed at 0 as for the chroma, SPEC §1).
const C4_HZ: f32 = 261.625_58;
/// Frames the peak picker reads together (their floors live on the stack).
const FRAME_CHUNK: usize = 64;

/// The spectral-peak pitch-class profile of the module doc, for one STFT shape.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PeakPicker {
    /// Hz per FFT bin.
    bin_hz: f32,
    /// Number of power rows (`1 + n_fft/2`).
    bins: usize,
    /// First and last bin searched for peaks (both have neighbours).
    lo: usize,
    hi: usize,
}

impl PeakPicker {
    fn new(cfg: &FrontEndConfig) -> Self {
        let bins = cfg.bins();
        let bin_hz = cfg.sample_rate as f32 / cfg.n_fft as f32;
        Self {
            bin_hz,
            bins,
            lo: ((PEAK_MIN_HZ / bin_hz).floor() as usize).max(1),
            hi: ((PEAK_MAX_HZ / bin_hz).ceil() as usize).min(bins.saturating_sub(2)),
        }
    }

    /// Adds the spectral-peak pitch-class profile of every frame of `power` to `pcp`.
    ///
    /// Works on [`FRAME_CHUNK`] frames at a time and reads the power row by row, because rows
    /// are contiguous and columns (frames) are not: read frame by frame down the 257 bins, the
    /// peak search took 6 % of all indexing time.
    fn add(&self, pcp: &mut [f64; 12], power: ArrayView2<f32>) {
        assert_eq!(
            power.nrows(),
            self.bins,
            "power has {} bins, the key estimator expects {} (build it from the same FrontEndConfig)",
            power.nrows(),
            self.bins
        );
        let frames = power.ncols();
        let mut f0 = 0;
        while f0 < frames {
            let n = (frames - f0).min(FRAME_CHUNK);
            let chunk = power.slice(s![.., f0..f0 + n]);
            // Each frame's peak floor from its strongest bin; a frame without a finite,
            // positive maximum has no peaks (an infinite floor).
            let mut floor = [0.0f32; FRAME_CHUNK];
            for row in chunk.rows() {
                for (m, &v) in floor[..n].iter_mut().zip(row) {
                    *m = m.max(v);
                }
            }
            for m in &mut floor[..n] {
                *m = if m.is_finite() && *m > 0.0 {
                    *m * PEAK_FLOOR
                } else {
                    f32::INFINITY
                };
            }
            for k in self.lo..=self.hi {
                let (below, at, above) = (chunk.row(k - 1), chunk.row(k), chunk.row(k + 1));
                let bins = below.iter().zip(&at).zip(&above).zip(&floor[..n]);
                for (((&a, &b), &c), &floor) in bins {
                    if b > a && b >= c && b > floor {
                        self.spread(pcp, k, a, b, c);
                    }
                }
            }
            f0 += n;
        }
    }

    /// Adds the peak at bin `k` (power `b`, neighbours `a` and `c`) to the pitch classes
    /// around its frequency.
    fn spread(&self, pcp: &mut [f64; 12], k: usize, a: f32, b: f32, c: f32) {
        // Parabola through the log power: offset of the vertex and its height.
        let (la, lb, lc) = (a.max(1e-30).ln(), b.ln(), c.max(1e-30).ln());
        let denom = la - 2.0 * lb + lc;
        let delta = if denom < 0.0 {
            (0.5 * (la - lc) / denom).clamp(-0.5, 0.5)
        } else {
            0.0
        };
        let amplitude = (0.5 * (lb - 0.25 * (la - lc) * delta)).exp();
        let hz = (k as f32 + delta) * self.bin_hz;
        let pc = (12.0 * (hz / C4_HZ).log2()).rem_euclid(12.0);
        let nearest = pc.round();
        for bin in [nearest - 1.0, nearest, nearest + 1.0] {
            let d = (pc - bin).abs();
            if d < PEAK_HALF_WIDTH {
                let g = (std::f32::consts::FRAC_PI_2 * d / PEAK_HALF_WIDTH).cos();
                pcp[(bin as i32).rem_euclid(12) as usize] += (amplitude * g * g) as f64;
            }
        }
    }
}

/// Estimates keys with one [`KeyProfile`] from the features of one [`FrontEndConfig`]. Build
/// it once; it is `Send + Sync`, and estimation takes `&self` and allocates nothing.
#[derive(Debug, Clone)]
pub struct KeyEstimator {
    profile: KeyProfile,
    /// The 24 rotated profiles, centred and scaled to unit norm, in [`Key::index`] order, so
    /// that a dot product with a centred, unit-norm pitch-class profile is the Pearson
    /// correlation.
    templates: [[f32; 12]; 24],
    peaks: PeakPicker,
}

impl Default for KeyEstimator {
    /// The default profile for the default (SPEC §1) front end.
    fn default() -> Self {
        Self::new(&FrontEndConfig::default())
    }
}

impl KeyEstimator {
    /// An estimator with the default profile ([`KeyProfile::KrumhanslKessler`]).
    pub fn new(cfg: &FrontEndConfig) -> Self {
        Self::with_profile(cfg, KeyProfile::default())
    }

    /// An estimator correlating against `profile`.
    pub fn with_profile(cfg: &FrontEndConfig, profile: KeyProfile) -> Self {
        let (major, minor) = profile.weights();
        let (major, minor) = (with_harmonics(&major), with_harmonics(&minor));
        let mut templates = [[0.0f32; 12]; 24];
        for (index, template) in templates.iter_mut().enumerate() {
            let key = Key::from_index(index);
            let base = match key.mode {
                Mode::Major => &major,
                Mode::Minor => &minor,
            };
            for (pc, t) in template.iter_mut().enumerate() {
                *t = base[(pc + 12 - key.tonic as usize) % 12];
            }
            centre_unit(template);
        }
        Self {
            profile,
            templates,
            peaks: PeakPicker::new(cfg),
        }
    }

    /// The profile set in use.
    pub fn profile(&self) -> KeyProfile {
        self.profile
    }

    /// Estimates the key of one window from its STFT power `[1 + n_fft/2, frames]`
    /// (`Features::power`), through the spectral-peak profile of the module doc.
    ///
    /// # Panics
    /// If `power` does not have `1 + n_fft/2` rows.
    pub fn estimate(&self, power: ArrayView2<f32>) -> KeyEstimate {
        let mut pcp = [0.0f64; 12];
        self.peaks.add(&mut pcp, power);
        self.estimate_profile(&to_f32(&pcp))
    }

    /// Estimates the key of one window from its librosa chroma `[12, frames]` summed over
    /// frames (the literal chroma method; see the module doc for why it is not the default).
    ///
    /// # Panics
    /// If `chroma` does not have 12 rows.
    pub fn estimate_chroma(&self, chroma: ArrayView2<f32>) -> KeyEstimate {
        let mut pcp = [0.0f64; 12];
        add_chroma(&mut pcp, chroma);
        self.estimate_profile(&to_f32(&pcp))
    }

    /// The Pearson correlation of a pitch-class profile (index 0 = C) with each of the 24 key
    /// profiles, in [`Key::index`] order; all 0 when the profile is constant (no pitch content).
    pub fn correlations(&self, pcp: &[f32; 12]) -> [f32; 24] {
        let mut x = *pcp;
        for v in &mut x {
            if !v.is_finite() {
                *v = 0.0;
            }
        }
        if !centre_unit(&mut x) {
            return [0.0; 24];
        }
        self.templates.map(|t| {
            t.iter()
                .zip(&x)
                .map(|(a, b)| a * b)
                .sum::<f32>()
                .clamp(-1.0, 1.0)
        })
    }

    /// Estimates the key of a pitch-class profile (index 0 = C; any scale).
    pub fn estimate_profile(&self, pcp: &[f32; 12]) -> KeyEstimate {
        let r = self.correlations(pcp);
        if r.iter().all(|&v| v == 0.0) {
            return KeyEstimate::NONE;
        }
        let (mut best, mut second) = (0usize, 1usize);
        if r[1] > r[0] {
            (best, second) = (1, 0);
        }
        for i in 2..24 {
            if r[i] > r[best] {
                second = best;
                best = i;
            } else if r[i] > r[second] {
                second = i;
            }
        }
        let (r1, r2) = (r[best], r[second]);
        let confidence = if r2 < 1.0 {
            ((r1 - r2) / (1.0 - r2)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        KeyEstimate {
            key: Key::from_index(best),
            correlation: r1,
            confidence,
        }
    }
}

/// Harmonics 1..=6 of a note (pitch-class offset from the fundamental, relative weight
/// [`HARMONIC_DECAY`]^(h−1)): the unison, octave, octave + fifth, two octaves, two octaves +
/// major third, two octaves + fifth.
const HARMONIC_INTERVALS: [usize; 6] = [0, 0, 7, 0, 4, 7];
/// Amplitude of harmonic h relative to harmonic h − 1 in the template's harmonic-series model.
const HARMONIC_DECAY: f32 = 0.8;

/// A key profile as it appears in a spectral pitch-class profile: every pitch class of
/// `profile` also sounds its harmonics 2..=6, each weighted by its amplitude in a harmonic
/// series decaying by [`HARMONIC_DECAY`] per harmonic (Gómez 2006, §4.2, templates with
/// harmonics).
fn with_harmonics(profile: &[f32; 12]) -> [f32; 12] {
    let mut out = [0.0f32; 12];
    let mut weight = 1.0f32;
    for interval in HARMONIC_INTERVALS {
        for (pc, &v) in profile.iter().enumerate() {
            out[(pc + interval) % 12] += weight * v;
        }
        weight *= HARMONIC_DECAY;
    }
    out
}

fn to_f32(pcp: &[f64; 12]) -> [f32; 12] {
    let max = pcp.iter().fold(0.0f64, |m, &v| m.max(v));
    if max > 0.0 && max.is_finite() {
        pcp.map(|v| (v / max) as f32)
    } else {
        [0.0; 12]
    }
}

/// Centres `v` and scales it to unit norm; false when it is constant (to float precision).
fn centre_unit(v: &mut [f32; 12]) -> bool {
    let scale = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let mean = v.iter().sum::<f32>() / 12.0;
    v.iter_mut().for_each(|x| *x -= mean);
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    // Relative threshold: a profile that is flat to float precision has no pitch content.
    if !norm.is_finite() || norm <= 1e-5 * scale || norm == 0.0 {
        return false;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    true
}

/// Adds the frames of `chroma` to `pcp` (librosa `chroma.sum(axis=1)`), skipping non-finite
/// values.
fn add_chroma(pcp: &mut [f64; 12], chroma: ArrayView2<f32>) {
    assert_eq!(chroma.nrows(), 12, "chroma must have 12 rows");
    for (acc, row) in pcp.iter_mut().zip(chroma.rows()) {
        *acc += row
            .iter()
            .filter(|v| v.is_finite())
            .map(|&v| v as f64)
            .sum::<f64>();
    }
}

/// Accumulates a whole track's pitch-class profiles window by window: the spectral-peak
/// profile (the default method) and, for comparison, the librosa chroma frame sum. Fixed size;
/// adding a window allocates nothing.
#[derive(Debug, Clone)]
pub struct KeyAccumulator {
    peaks: PeakPicker,
    peak_pcp: [f64; 12],
    chroma_pcp: [f64; 12],
    windows: usize,
}

impl Default for KeyAccumulator {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyAccumulator {
    /// An empty accumulator for the default (SPEC §1) front end.
    pub fn new() -> Self {
        Self::for_config(&FrontEndConfig::default())
    }

    /// An empty accumulator for features computed with `cfg`.
    pub fn for_config(cfg: &FrontEndConfig) -> Self {
        Self {
            peaks: PeakPicker::new(cfg),
            peak_pcp: [0.0; 12],
            chroma_pcp: [0.0; 12],
            windows: 0,
        }
    }

    /// Forgets every window added so far.
    pub fn reset(&mut self) {
        self.peak_pcp = [0.0; 12];
        self.chroma_pcp = [0.0; 12];
        self.windows = 0;
    }

    /// Number of windows added since creation or the last reset.
    pub fn windows(&self) -> usize {
        self.windows
    }

    /// Adds one window: its librosa chroma `[12, frames]` and STFT power `[1 + n_fft/2,
    /// frames]` (`Features::chroma`, `Features::power`).
    ///
    /// # Panics
    /// If `chroma` does not have 12 rows or `power` does not have the configured bin count.
    pub fn add(&mut self, chroma: ArrayView2<f32>, power: ArrayView2<f32>) {
        self.peaks.add(&mut self.peak_pcp, power);
        add_chroma(&mut self.chroma_pcp, chroma);
        self.windows += 1;
    }

    /// The track's spectral-peak pitch-class profile so far (index 0 = C), scaled to a maximum
    /// of 1 (all 0 with no pitch content).
    pub fn profile(&self) -> [f32; 12] {
        to_f32(&self.peak_pcp)
    }

    /// The track's chroma frame sum so far (index 0 = C), scaled to a maximum of 1.
    pub fn chroma_profile(&self) -> [f32; 12] {
        to_f32(&self.chroma_pcp)
    }

    /// The track's key (from [`profile`](Self::profile)).
    pub fn estimate(&self, estimator: &KeyEstimator) -> KeyEstimate {
        estimator.estimate_profile(&self.profile())
    }

    /// The track's key by the literal chroma method (from
    /// [`chroma_profile`](Self::chroma_profile)), for comparison.
    pub fn estimate_chroma(&self, estimator: &KeyEstimator) -> KeyEstimate {
        estimator.estimate_profile(&self.chroma_profile())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn key(s: &str) -> Key {
        s.parse().unwrap()
    }

    #[test]
    fn display_and_parse_round_trip() {
        for k in Key::all() {
            assert_eq!(key(&k.to_string()), k, "{k}");
            let (n, l) = k.camelot();
            assert_eq!(Key::from_camelot(n, l), Some(k), "{k}");
        }
        assert_eq!(Key::new(0, Mode::Major).to_string(), "C major");
        assert_eq!(Key::new(6, Mode::Minor).to_string(), "F# minor");
        assert_eq!(Key::new(10, Mode::Major).to_string(), "Bb major");
    }

    #[test]
    fn parses_common_spellings() {
        let fs_minor = Key::new(6, Mode::Minor);
        assert_eq!(key("F#m"), fs_minor);
        assert_eq!(key("F# minor"), fs_minor);
        assert_eq!(key("f# Minor"), fs_minor);
        assert_eq!(key("Gbmin"), fs_minor);
        assert_eq!(key("F♯ m"), fs_minor);
        assert_eq!(key("Gb major"), Key::new(6, Mode::Major));
        assert_eq!(key("a minor"), Key::new(9, Mode::Minor));
        assert_eq!(key("Am"), Key::new(9, Mode::Minor));
        assert_eq!(key("A"), Key::new(9, Mode::Major));
        assert_eq!(key("Bbmaj"), Key::new(10, Mode::Major));
        assert_eq!(key("B♭ major"), Key::new(10, Mode::Major));
        assert_eq!(key("Cb major"), Key::new(11, Mode::Major));
        assert_eq!(key("E#m"), Key::new(5, Mode::Minor));
        assert_eq!(key("  D  "), Key::new(2, Mode::Major));
        assert_eq!(key("8B"), Key::new(0, Mode::Major));
        assert_eq!(key("8A"), Key::new(9, Mode::Minor));
        assert_eq!(key("12b"), Key::new(4, Mode::Major));
        for bad in ["", "H", "C mayor", "13A", "0B", "Cx", "m"] {
            assert!(bad.parse::<Key>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn relatives_parallels_transposition() {
        assert_eq!(key("C").relative(), key("Am"));
        assert_eq!(key("Am").relative(), key("C"));
        assert_eq!(key("F#m").relative(), key("A"));
        assert_eq!(key("C").parallel(), key("Cm"));
        assert_eq!(key("C").transpose(2), key("D"));
        assert_eq!(key("C").transpose(-1), key("B"));
        assert_eq!(key("Am").transpose(27), key("Cm"));
        for k in Key::all() {
            assert_eq!(k.relative().relative(), k);
            assert_eq!(k.parallel().parallel(), k);
            assert_eq!(k.transpose(12), k);
        }
    }

    #[test]
    fn camelot_numbers() {
        assert_eq!(key("C").camelot(), (8, 'B'));
        assert_eq!(key("G").camelot(), (9, 'B'));
        assert_eq!(key("F").camelot(), (7, 'B'));
        assert_eq!(key("Am").camelot(), (8, 'A'));
        assert_eq!(key("Em").camelot(), (9, 'A'));
        assert_eq!(key("Abm").camelot(), (1, 'A'));
        assert_eq!(key("B").camelot(), (1, 'B'));
        assert_eq!(key("E").camelot(), (12, 'B'));
    }

    #[test]
    fn compatibility_is_camelot_adjacency_plus_parallel() {
        let c = key("C");
        let compatible: Vec<String> = Key::all()
            .filter(|k| c.is_compatible(k))
            .map(|k| k.to_string())
            .collect();
        assert_eq!(
            compatible,
            ["C major", "F major", "G major", "C minor", "A minor"]
        );
        assert!(key("Am").is_compatible(&key("Em")));
        assert!(key("Am").is_compatible(&key("Dm")));
        assert!(key("B").is_compatible(&key("F#")));
        assert!(key("B").is_compatible(&key("E")));
        assert!(!c.is_compatible(&key("D")));
        assert!(!c.is_compatible(&key("Em")));
        for a in Key::all() {
            for b in Key::all() {
                assert_eq!(a.is_compatible(&b), b.is_compatible(&a));
            }
            // Itself, two fifth neighbours, relative, parallel.
            assert_eq!(Key::all().filter(|b| a.is_compatible(b)).count(), 5);
        }
    }

    /// Pitch-class profile of a set of (pitch class, weight) pairs.
    fn pcp(notes: &[(usize, f32)]) -> [f32; 12] {
        let mut p = [0.0; 12];
        for &(pc, w) in notes {
            p[pc % 12] += w;
        }
        p
    }

    fn cfg() -> FrontEndConfig {
        FrontEndConfig::default()
    }

    #[test]
    fn scales_and_triads_find_their_keys() {
        for profile in [KeyProfile::KrumhanslKessler, KeyProfile::Temperley] {
            let e = KeyEstimator::with_profile(&cfg(), profile);
            for tonic in 0..12usize {
                // Major scale with tonic triad emphasis.
                let mut major = pcp(&[0, 2, 4, 5, 7, 9, 11].map(|d| (tonic + d, 1.0)));
                for d in [0, 4, 7] {
                    major[(tonic + d) % 12] += 1.0;
                }
                let est = e.estimate_profile(&major);
                assert_eq!(est.key, Key::new(tonic as u8, Mode::Major), "{profile:?}");
                assert!(est.confidence > 0.0 && est.correlation > 0.8, "{est:?}");
                // Harmonic minor scale with tonic triad emphasis.
                let mut minor = pcp(&[0, 2, 3, 5, 7, 8, 11].map(|d| (tonic + d, 1.0)));
                for d in [0, 3, 7] {
                    minor[(tonic + d) % 12] += 1.0;
                }
                let est = e.estimate_profile(&minor);
                assert_eq!(est.key, Key::new(tonic as u8, Mode::Minor), "{profile:?}");
            }
        }
    }

    #[test]
    fn profile_itself_is_a_perfect_match() {
        let e = KeyEstimator::with_profile(&cfg(), KeyProfile::KrumhanslKessler);
        let (_, minor) = KeyProfile::KrumhanslKessler.weights();
        // The template is the profile with its harmonics (module doc, harmonic templates).
        let minor = with_harmonics(&minor);
        // A minor: rotate the minor profile so index 0 (the tonic) lands on A.
        let a_minor: [f32; 12] = std::array::from_fn(|pc| minor[(pc + 3) % 12]);
        let est = e.estimate_profile(&a_minor);
        assert_eq!(est.key, key("Am"));
        assert!((est.correlation - 1.0).abs() < 1e-5);
        assert!((est.confidence - 1.0).abs() < 1e-3, "{est:?}");
    }

    /// STFT power `[257, frames]` of `signal` (Hann, n_fft 512, hop 256, no centring) by a
    /// naive DFT — enough for a handful of frames.
    fn power_of(signal: &[f32], frames: usize) -> Array2<f32> {
        let n = 512;
        let mut power = Array2::zeros((n / 2 + 1, frames));
        for t in 0..frames {
            let frame: Vec<f64> = (0..n)
                .map(|i| {
                    let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos();
                    w * signal[t * 256 + i] as f64
                })
                .collect();
            for k in 0..=n / 2 {
                let (mut re, mut im) = (0.0, 0.0);
                for (i, x) in frame.iter().enumerate() {
                    let ph = std::f64::consts::TAU * (k * i) as f64 / n as f64;
                    re += x * ph.cos();
                    im -= x * ph.sin();
                }
                power[[k, t]] = (re * re + im * im) as f32;
            }
        }
        power
    }

    fn tone(freqs: &[f64], len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let t = i as f64 / 22_050.0;
                freqs
                    .iter()
                    .map(|f| (std::f64::consts::TAU * f * t).sin())
                    .sum::<f64>() as f32
            })
            .collect()
    }

    fn hz(midi: i32) -> f64 {
        440.0 * 2f64.powf((midi - 69) as f64 / 12.0)
    }

    #[test]
    fn spectral_peaks_place_a_note_between_bins_on_its_pitch_class() {
        // E4 = 329.6 Hz lies midway between bins 7 (301 Hz) and 8 (345 Hz).
        let power = power_of(&tone(&[hz(64)], 512 + 256 * 3), 4);
        let chroma = Array2::<f32>::zeros((12, 4));
        let mut acc = KeyAccumulator::new();
        acc.add(chroma.view(), power.view());
        let p = acc.profile();
        assert_eq!(p[4], 1.0, "{p:?}");
        assert!(
            p.iter().enumerate().all(|(i, &v)| i == 4 || v < 0.05),
            "{p:?}"
        );
    }

    #[test]
    fn spectral_peaks_find_a_triad_in_octave_five() {
        // A minor triad A5 C6 E6 over A4: relative-major ambiguity is broken by the tonic weight.
        let freqs = [hz(69), hz(81), hz(84), hz(88)];
        let power = power_of(&tone(&freqs, 512 + 256 * 3), 4);
        let e = KeyEstimator::new(&cfg());
        let est = e.estimate(power.view());
        assert_eq!(est.key, key("Am"), "{est:?}");
        assert!(est.confidence > 0.0);
    }

    #[test]
    fn silence_and_flat_profiles_have_no_key() {
        let e = KeyEstimator::new(&cfg());
        assert_eq!(e.estimate_profile(&[0.0; 12]), KeyEstimate::NONE);
        assert_eq!(e.estimate_profile(&[0.7; 12]), KeyEstimate::NONE);
        let mut nan = [1.0f32; 12];
        nan[3] = f32::NAN;
        let est = e.estimate_profile(&nan);
        assert!(!est.confidence.is_nan() && !est.correlation.is_nan());
        let chroma = Array2::<f32>::zeros((12, 259));
        let power = Array2::<f32>::zeros((257, 259));
        assert_eq!(e.estimate(power.view()), KeyEstimate::NONE);
        assert_eq!(e.estimate_chroma(chroma.view()), KeyEstimate::NONE);
        let mut acc = KeyAccumulator::new();
        assert_eq!(acc.estimate(&e), KeyEstimate::NONE);
        acc.add(chroma.view(), power.view());
        acc.add(chroma.view(), power.view());
        assert_eq!(acc.windows(), 2);
        assert_eq!(acc.estimate(&e), KeyEstimate::NONE);
        assert_eq!(acc.estimate_chroma(&e), KeyEstimate::NONE);
        let inf = Array2::<f32>::from_elem((257, 259), f32::INFINITY);
        assert_eq!(e.estimate(inf.view()), KeyEstimate::NONE);
    }

    #[test]
    fn chroma_method_sums_frames() {
        let mut chroma = Array2::<f32>::zeros((12, 8));
        for t in 0..8 {
            for pc in [7, 11, 2] {
                chroma[[pc, t]] = 1.0;
            }
            chroma[[7, t]] = 1.0;
            chroma[[0, t]] = 0.3;
            chroma[[4, t]] = 0.3;
        }
        let e = KeyEstimator::new(&cfg());
        assert_eq!(e.estimate_chroma(chroma.view()).key, key("G"));
        let power = Array2::<f32>::zeros((257, 8));
        let mut acc = KeyAccumulator::new();
        acc.add(chroma.view(), power.view());
        acc.reset();
        assert_eq!(acc.windows(), 0);
        acc.add(chroma.view(), power.view());
        assert_eq!(acc.estimate_chroma(&e).key, key("G"));
        assert_eq!(acc.estimate(&e), KeyEstimate::NONE);
    }
}
