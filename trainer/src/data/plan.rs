//! The factorial render design and the split by piece, both drawn from one seed.
//!
//! **Design (one-factor-at-a-time around a balanced base).** Each piece gets a *base* render:
//! tempo uniform in 60–180 BPM (from a ChaCha8 RNG seeded by the dataset seed and the piece
//! id), and an instrument family, a mood and a transposition (to one of the 12 keys of the
//! piece's mode, so minor and major pieces together cover all 24 keys) taken in turn, by the
//! piece's position in the index (the key: among the pieces of its mode), from seeded permutations of the families, moods and
//! transpositions — so base labels are balanced over pieces, and family × mood combinations
//! rotate. Then, `per_factor` times for each factor in turn
//! (tempo, key, instrument, mood), a render that changes only that factor from the base:
//! a tempo at least 20 BPM away, a different key, family or mood. Each dimension therefore
//! varies while all others are held, which is what conditional triplets need to disentangle
//! them. With `per_factor = 1` a piece has 5 renders.
//!
//! **Splits.** Pieces are grouped by genre, shuffled within the group, and visited genre by
//! genre; each goes to the split (train / validation / test) that is furthest below its
//! target fraction so far. No piece is in two splits, and every genre is spread over the
//! splits in proportion as far as its count allows.

use std::collections::BTreeMap;

use kindred_engine::key::Key;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::labels::{Family, Mood, TEMPO_RANGE};
use super::pieces::Piece;
use crate::Result;

/// Which split a piece (and all its renders) belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Validation,
    Test,
}

impl Split {
    /// All splits in order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    /// The split's name.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

/// What a render holds fixed and what it changes relative to its piece's base render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variation {
    Base,
    Tempo,
    Key,
    Instrument,
    Mood,
}

/// Everything that defines one render; equal specs give bit-identical audio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderSpec {
    /// `<piece id>__r<index>`.
    pub id: String,
    pub piece: String,
    pub index: u32,
    pub variation: Variation,
    /// Beats per minute, the beat being the piece's notated beat (`beat_quarters` quarters).
    pub bpm: f32,
    /// Semitones added to every melodic note, in −6..=5.
    pub transpose: i32,
    /// The rendered key (the piece's key transposed), e.g. "D minor".
    pub key: String,
    pub family: Family,
    pub mood: Mood,
}

/// Number of renders per piece for `per_factor` variations of each of the four factors.
pub fn renders_per_piece(per_factor: u32) -> u32 {
    1 + 4 * per_factor
}

/// A stable 64-bit hash (FNV-1a) of `s`, to derive per-piece seeds.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn draw_bpm(rng: &mut ChaCha8Rng) -> f32 {
    // Whole BPM keeps labels readable and the MIDI tempo exact to 1 µs per quarter.
    rng.random_range(TEMPO_RANGE.0 as u32..=TEMPO_RANGE.1 as u32) as f32
}

/// The seeded rotations that balance base renders over pieces.
#[derive(Debug, Clone)]
pub struct BaseRotation {
    families: Vec<Family>,
    moods: Vec<Mood>,
    shifts: Vec<i32>,
}

impl BaseRotation {
    /// Permutations of the families, moods and tonic offsets drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xba5e_0000_ba5e);
        let mut families = Family::ALL.to_vec();
        let mut moods = Mood::ALL.to_vec();
        let mut shifts: Vec<i32> = (0..12).collect();
        families.shuffle(&mut rng);
        moods.shuffle(&mut rng);
        shifts.shuffle(&mut rng);
        Self {
            families,
            moods,
            shifts,
        }
    }

    /// (family, mood, tonic offset 0..12) of the base render of the piece at `position`. The
    /// mood advances once per family cycle as well, so all 32 family × mood pairs occur; the
    /// key rotates per mode, so each mode's pieces cover its 12 keys evenly.
    fn base(&self, position: Position) -> (Family, Mood, i32) {
        let f = self.families.len();
        let i = position.index;
        (
            self.families[i % f],
            self.moods[(i + i / f) % self.moods.len()],
            self.shifts[position.index_in_mode % self.shifts.len()],
        )
    }
}

/// Where a piece stands in the index: its position, and its position among the pieces of its
/// mode (major or minor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub index: usize,
    pub index_in_mode: usize,
}

/// The [`Position`] of every piece of `pieces`, in order.
pub fn positions(pieces: &[&Piece]) -> Result<Vec<Position>> {
    let mut per_mode = [0usize; 2];
    pieces
        .iter()
        .enumerate()
        .map(|(index, p)| {
            let m = p.written_key()?.mode as usize;
            per_mode[m] += 1;
            Ok(Position {
                index,
                index_in_mode: per_mode[m] - 1,
            })
        })
        .collect()
}

/// The renders of `piece`, at `position` in the index.
pub fn plan_piece(
    piece: &Piece,
    position: Position,
    rotation: &BaseRotation,
    seed: u64,
    per_factor: u32,
) -> Result<Vec<RenderSpec>> {
    let written = piece.written_key()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ fnv1a(&piece.id));
    let key_for = |shift: i32| -> Key { written.transpose(shift) };
    // Transposition to tonic offset t (0..12) in the nearest direction: −6..=5.
    let shift_of = |t: i32| -> i32 { if t >= 6 { t - 12 } else { t } };
    let base_bpm = draw_bpm(&mut rng);
    let (base_family, base_mood, base_offset) = rotation.base(position);
    let base_shift = shift_of(base_offset);
    let mut specs = Vec::new();
    let mut push = |variation, bpm, shift: i32, family, mood| {
        let index = specs.len() as u32;
        specs.push(RenderSpec {
            id: format!("{}__r{index}", piece.id),
            piece: piece.id.clone(),
            index,
            variation,
            bpm,
            transpose: shift,
            key: key_for(shift).to_string(),
            family,
            mood,
        });
    };
    push(
        Variation::Base,
        base_bpm,
        base_shift,
        base_family,
        base_mood,
    );
    for _ in 0..per_factor {
        let bpm = loop {
            let b = draw_bpm(&mut rng);
            if (b - base_bpm).abs() >= 20.0 {
                break b;
            }
        };
        push(Variation::Tempo, bpm, base_shift, base_family, base_mood);
        let shift = loop {
            let s = shift_of(rng.random_range(0..12));
            if s != base_shift {
                break s;
            }
        };
        push(Variation::Key, base_bpm, shift, base_family, base_mood);
        let family = loop {
            let f = Family::ALL[rng.random_range(0..Family::ALL.len())];
            if f != base_family {
                break f;
            }
        };
        push(
            Variation::Instrument,
            base_bpm,
            base_shift,
            family,
            base_mood,
        );
        let mood = loop {
            let m = Mood::ALL[rng.random_range(0..Mood::ALL.len())];
            if m != base_mood {
                break m;
            }
        };
        push(Variation::Mood, base_bpm, base_shift, base_family, mood);
    }
    Ok(specs)
}

/// Assigns each item (id, stratum) a split with target `fractions` (train, validation, test),
/// stratified by stratum, seeded. Returns the split of each item in input order.
pub fn assign_splits(items: &[(String, String)], fractions: [f64; 3], seed: u64) -> Vec<Split> {
    let mut by_stratum: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (_, stratum)) in items.iter().enumerate() {
        by_stratum.entry(stratum.as_str()).or_default().push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5111_7000_5111_7000);
    let total: f64 = fractions.iter().sum();
    let mut counts = [0usize; 3];
    let mut out = vec![Split::Train; items.len()];
    let mut assigned = 0usize;
    for (_, mut members) in by_stratum {
        members.sort_by(|&a, &b| items[a].0.cmp(&items[b].0));
        members.shuffle(&mut rng);
        for i in members {
            assigned += 1;
            let deficit = |s: usize| fractions[s] / total * assigned as f64 - counts[s] as f64;
            let best = (0..3)
                .max_by(|&a, &b| deficit(a).total_cmp(&deficit(b)).then(b.cmp(&a)))
                .unwrap_or(0);
            counts[best] += 1;
            out[i] = Split::ALL[best];
        }
    }
    out
}
