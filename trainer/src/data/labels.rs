//! Label vocabularies and what each label means.
//!
//! Genre and era come from the score's corpus metadata (see `scripts/music21_export.py`);
//! tempo, key, instrument family and mood are properties of a render, chosen by the
//! [`plan`](super::plan) and applied by the [`render`](super::render)er, so they are true by
//! construction.

use serde::{Deserialize, Serialize};

/// Genres the score exporter produces. A manifest may only use these (or leave genre empty).
pub const GENRES: &[&str] = &[
    "chorale",
    "mass",
    "madrigal",
    "chanson",
    "string quartet",
    "piano piece",
    "lied",
    "reel",
    "jig",
    "hornpipe",
    "strathspey",
    "folk song",
];

/// Eras, cut by year of composition: medieval < 1400 ≤ renaissance < 1600 ≤ baroque < 1750 ≤
/// classical < 1820 ≤ romantic < 1900 ≤ 20th c.; oral-tradition folk music is "traditional".
pub const ERAS: &[&str] = &[
    "medieval",
    "renaissance",
    "baroque",
    "classical",
    "romantic",
    "20th c.",
    "traditional",
];

/// The slowest and fastest rendered tempo in beats per minute.
pub const TEMPO_RANGE: (f32, f32) = (60.0, 180.0);

/// A General MIDI instrument family. Every melodic channel of a render plays a program of
/// the one family (channel *i* gets `programs()[i % len]`, so ensembles stay within it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Piano,
    Organ,
    Guitar,
    Strings,
    Brass,
    Reeds,
    Pipe,
    Plucked,
}

impl Family {
    /// All families, in label order.
    pub const ALL: [Family; 8] = [
        Family::Piano,
        Family::Organ,
        Family::Guitar,
        Family::Strings,
        Family::Brass,
        Family::Reeds,
        Family::Pipe,
        Family::Plucked,
    ];

    /// The family's label.
    pub fn name(self) -> &'static str {
        match self {
            Family::Piano => "piano",
            Family::Organ => "organ",
            Family::Guitar => "guitar",
            Family::Strings => "strings",
            Family::Brass => "brass",
            Family::Reeds => "reeds",
            Family::Pipe => "pipe",
            Family::Plucked => "plucked",
        }
    }

    /// GM programs (0-based) used for the family, from its GM program group: piano 0–7,
    /// organ 16–23, guitar 24–31, strings 40–51, brass 56–63, reed 64–71, pipe 72–79; "plucked"
    /// is harp (46) with the plucked ethnic instruments (104–107).
    pub fn programs(self) -> &'static [u8] {
        match self {
            Family::Piano => &[0, 1, 0, 1],
            Family::Organ => &[19, 16, 19, 20],
            Family::Guitar => &[24, 25, 24, 25],
            Family::Strings => &[40, 40, 41, 42, 48],
            Family::Brass => &[56, 56, 60, 57, 58],
            Family::Reeds => &[68, 71, 69, 70, 65],
            Family::Pipe => &[73, 72, 74, 73, 75],
            Family::Plucked => &[46, 105, 107, 46],
        }
    }

    /// The family named `label` (case-insensitive).
    pub fn parse(label: &str) -> Option<Family> {
        let l = label.trim().to_ascii_lowercase();
        Family::ALL.into_iter().find(|f| f.name() == l)
    }
}

/// The mood **proxy**. No public score corpus has mood ground truth, so mood is defined as a
/// controlled performance manner applied at render time, independent of tempo and key (those
/// are drawn separately and held fixed when mood varies). Results on it are proxy results.
///
/// | mood | velocity | articulation (sounding / written length) | register | density |
/// |---|---|---|---|---|
/// | calm | 50 | legato 1.0 | as written | as written |
/// | tender | 36 | legato 1.0 | one octave up | as written |
/// | energetic | 96 | staccato 0.55 | as written | as written |
/// | aggressive | 122 | marcato 0.40 | as written | every melodic note doubled an octave below |
///
/// Octave shifts keep the pitch classes, so the key label holds. Drums (channel 10) keep
/// their notes; only their velocity follows the mood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mood {
    Calm,
    Tender,
    Energetic,
    Aggressive,
}

impl Mood {
    /// All moods, in label order.
    pub const ALL: [Mood; 4] = [Mood::Calm, Mood::Tender, Mood::Energetic, Mood::Aggressive];

    /// The mood's label.
    pub fn name(self) -> &'static str {
        match self {
            Mood::Calm => "calm",
            Mood::Tender => "tender",
            Mood::Energetic => "energetic",
            Mood::Aggressive => "aggressive",
        }
    }

    /// The mood named `label` (case-insensitive).
    pub fn parse(label: &str) -> Option<Mood> {
        let l = label.trim().to_ascii_lowercase();
        Mood::ALL.into_iter().find(|m| m.name() == l)
    }

    /// MIDI velocity of every note.
    pub fn velocity(self) -> u8 {
        match self {
            Mood::Calm => 50,
            Mood::Tender => 36,
            Mood::Energetic => 96,
            Mood::Aggressive => 122,
        }
    }

    /// Sounding length as a fraction of the written length.
    pub fn articulation(self) -> f64 {
        match self {
            Mood::Calm | Mood::Tender => 1.0,
            Mood::Energetic => 0.55,
            Mood::Aggressive => 0.40,
        }
    }

    /// Register shift of melodic notes in semitones (a whole number of octaves).
    pub fn register(self) -> i32 {
        match self {
            Mood::Tender => 12,
            _ => 0,
        }
    }

    /// Whether each melodic note is doubled an octave below.
    pub fn doubles(self) -> bool {
        self == Mood::Aggressive
    }
}

/// The vocabulary entry equal to `label` (case-insensitive, surrounding spaces ignored).
pub fn find_label<'a>(vocabulary: &[&'a str], label: &str) -> Option<&'a str> {
    let l = label.trim();
    vocabulary
        .iter()
        .copied()
        .find(|v| v.eq_ignore_ascii_case(l))
}
