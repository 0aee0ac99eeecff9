//! Conditional triplets (SPEC §3): which tracks are positives of each other in each dimension,
//! and semi-hard negative mining inside a batch.
//!
//! - genre, mood, instrument, era: the same label;
//! - tempo: within ±5 BPM, also any number of tempo octaves apart (×2, ×½, …) within that
//!   tolerance (checked both ways, up to ×8 / ⅛);
//! - key: the same tonic pitch class, which is the same key or its parallel key (C major ~ C
//!   minor); enharmonic spellings are the same pitch class (G# minor ~ Ab major).
//!
//! A track whose label is unknown takes no part in that dimension (neither anchor, positive nor
//! negative). A positive is always another track than the anchor; windows of the anchor's own
//! track are neither positives nor negatives.
//!
//! Real recordings (see [`real`](super::real)) have **relative** tempo and key labels
//! ([`Label::Relative`]): copies of one passage compare with each other only, so a real record
//! and a record of another passage group (or a synthetic record) are neither positives nor
//! negatives of each other in tempo and key ([`relation`] is `None`). Their mood, instrument
//! and era are unknown; their genre is the source label (a proxy).

use rand::Rng;

use super::dataset::Record;

/// The six dimensions of SPEC §2 in slice order.
pub const DIMENSIONS: [&str; 6] = ["genre", "mood", "instrument", "era", "tempo", "key"];
/// Tempo tolerance of a positive, BPM.
pub const TEMPO_TOLERANCE: f32 = 5.0;
/// Triplet margin (and the semi-hard window).
pub const MARGIN: f32 = 0.1;

/// A track's label in one dimension.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Label {
    /// Index of a categorical label (genre, mood, instrument, era).
    Class(u32),
    /// Tempo in BPM.
    Tempo(f32),
    /// Tonic pitch class of the key, 0 = C.
    Tonic(u8),
    /// A relative label of a real recording: the passage group (interned) and the copy's value
    /// in the dimension (tempo ratio × 1000, or the pitch shift modulo 12).
    Relative { group: u32, value: i32 },
}

/// A track's labels in the six dimensions (`None` = unknown).
pub type Labels = [Option<Label>; 6];

/// Pitch class of a key's tonic, by the engine's key parser: `"Eb minor"` → 3. `None` if it
/// does not parse.
pub fn tonic_pitch_class(key: &str) -> Option<u8> {
    key.parse::<kindred_engine::key::Key>()
        .ok()
        .map(|k| k.tonic)
}

/// Whether two tempi are positives: within ±5 BPM, up to tempo octaves.
pub fn tempo_positive(a: f32, b: f32) -> bool {
    (-3..=3).any(|k: i32| {
        let f = 2f32.powi(k);
        (a - b * f).abs() <= TEMPO_TOLERANCE || (b - a * f).abs() <= TEMPO_TOLERANCE
    })
}

/// How `a` relates to `b`: `Some(true)` positives, `Some(false)` negatives, `None` not
/// comparable (relative labels of different passage groups, or a relative label against an
/// absolute one).
pub fn relation(a: Label, b: Label) -> Option<bool> {
    match (a, b) {
        (Label::Class(x), Label::Class(y)) => Some(x == y),
        (Label::Tempo(x), Label::Tempo(y)) => Some(tempo_positive(x, y)),
        (Label::Tonic(x), Label::Tonic(y)) => Some(x == y),
        (Label::Relative { group: g, value: x }, Label::Relative { group: h, value: y }) => {
            (g == h).then_some(x == y)
        }
        (Label::Relative { .. }, _) | (_, Label::Relative { .. }) => None,
        _ => Some(false),
    }
}

/// Whether `a` and `b` are positives of each other.
pub fn positive(a: Label, b: Label) -> bool {
    relation(a, b) == Some(true)
}

/// Whether `b` is a negative of `a` (comparable and not a positive).
pub fn negative(a: Label, b: Label) -> bool {
    relation(a, b) == Some(false)
}

/// Interns categorical labels into class indices, per dimension.
#[derive(Debug, Default, Clone)]
pub struct Vocabulary {
    classes: [Vec<String>; 4],
    /// Passage groups of real recordings.
    groups: std::collections::HashMap<String, u32>,
}

impl Vocabulary {
    /// The labels of `record`, interning new categorical values.
    pub fn labels(&mut self, record: &Record) -> Labels {
        let cats = [&record.genre, &record.mood, &record.instrument, &record.era];
        let mut labels: Labels = [None; 6];
        for (d, value) in cats.into_iter().enumerate() {
            labels[d] = value.as_ref().map(|v| {
                let classes = &mut self.classes[d];
                let i = match classes.iter().position(|c| c == v) {
                    Some(i) => i,
                    None => {
                        classes.push(v.clone());
                        classes.len() - 1
                    }
                };
                Label::Class(i as u32)
            });
        }
        if let Some(real) = &record.real {
            let next = self.groups.len() as u32;
            let group = *self.groups.entry(real.group.clone()).or_insert(next);
            labels[4] = Some(Label::Relative {
                group,
                value: (real.tempo_ratio * 1000.0).round() as i32,
            });
            labels[5] = Some(Label::Relative {
                group,
                value: real.semitones.rem_euclid(12),
            });
            return labels;
        }
        labels[4] = record
            .tempo
            .filter(|t| t.is_finite() && *t > 0.0)
            .map(Label::Tempo);
        labels[5] = record
            .key
            .as_deref()
            .and_then(tonic_pitch_class)
            .map(Label::Tonic);
        labels
    }
}

/// One conditional triplet, indices into the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Triplet {
    pub anchor: usize,
    pub positive: usize,
    pub negative: usize,
}

/// A batch item's identity for mining: its track and its label in the dimension mined.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    pub track: usize,
    pub label: Option<Label>,
}

/// Semi-hard triplets of one dimension in a batch.
///
/// `dist` is the `n × n` row-major matrix of distances inside the dimension's slice. For every
/// anchor and every positive of it in the batch (another track), the negative is drawn among
/// the semi-hard ones (`d_ap < d_an < d_ap + margin`); failing that, the hardest negative
/// farther than the positive; failing that, any negative (drawn at random).
pub fn mine_semi_hard(
    dist: &[f32],
    items: &[Item],
    margin: f32,
    rng: &mut impl Rng,
) -> Vec<Triplet> {
    let n = items.len();
    assert_eq!(dist.len(), n * n);
    let mut triplets = Vec::new();
    let mut negatives = Vec::with_capacity(n);
    let mut semi = Vec::with_capacity(n);
    for a in 0..n {
        let Some(la) = items[a].label else { continue };
        negatives.clear();
        negatives.extend((0..n).filter(|&j| {
            items[j].track != items[a].track && items[j].label.is_some_and(|lj| negative(la, lj))
        }));
        if negatives.is_empty() {
            continue;
        }
        for p in 0..n {
            if items[p].track == items[a].track
                || !items[p].label.is_some_and(|lp| positive(la, lp))
            {
                continue;
            }
            let d_ap = dist[a * n + p];
            semi.clear();
            semi.extend(negatives.iter().copied().filter(|&j| {
                let d = dist[a * n + j];
                d > d_ap && d < d_ap + margin
            }));
            let negative = if !semi.is_empty() {
                semi[rng.random_range(0..semi.len())]
            } else if let Some(&j) = negatives
                .iter()
                .filter(|&&j| dist[a * n + j] > d_ap)
                .min_by(|&&x, &&y| dist[a * n + x].total_cmp(&dist[a * n + y]))
            {
                j
            } else {
                negatives[rng.random_range(0..negatives.len())]
            };
            triplets.push(Triplet {
                anchor: a,
                positive: p,
                negative,
            });
        }
    }
    triplets
}

/// Mean hinge `max(0, d_ap − d_an + margin)` over **all** valid triplets of a dimension in a
/// batch (no mining), with their count. Used for the validation loss, so that it is computed on
/// a fixed set of triplets and comparable between epochs.
pub fn all_triplets_loss(dist: &[f32], items: &[Item], margin: f32) -> (f64, usize) {
    let n = items.len();
    let mut sum = 0.0f64;
    let mut count = 0usize;
    for a in 0..n {
        let Some(la) = items[a].label else { continue };
        for p in 0..n {
            if items[p].track == items[a].track
                || !items[p].label.is_some_and(|lp| positive(la, lp))
            {
                continue;
            }
            let d_ap = dist[a * n + p];
            for j in 0..n {
                if items[j].track != items[a].track
                    && items[j].label.is_some_and(|lj| negative(la, lj))
                {
                    sum += f64::from((d_ap - dist[a * n + j] + margin).max(0.0));
                    count += 1;
                }
            }
        }
    }
    (if count > 0 { sum / count as f64 } else { 0.0 }, count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn positives() {
        assert_eq!(tonic_pitch_class("Eb minor"), Some(3));
        assert_eq!(tonic_pitch_class("G# minor"), tonic_pitch_class("Ab major"));
        assert_eq!(tonic_pitch_class("H major"), None);
        assert!(positive(Label::Tonic(0), Label::Tonic(0)));
        assert!(tempo_positive(120.0, 124.0));
        assert!(tempo_positive(120.0, 61.0));
        assert!(tempo_positive(60.0, 238.0));
        assert!(!tempo_positive(120.0, 128.0));
        assert!(!tempo_positive(120.0, 90.0));
        assert!(!positive(Label::Class(1), Label::Class(2)));
        let rel = |group, value| Label::Relative { group, value };
        assert_eq!(relation(rel(0, 800), rel(0, 800)), Some(true));
        assert_eq!(relation(rel(0, 800), rel(0, 1000)), Some(false));
        assert_eq!(relation(rel(0, 800), rel(1, 800)), None);
        assert_eq!(relation(rel(0, 1000), Label::Tempo(120.0)), None);
        assert!(!negative(Label::Tonic(3), rel(0, 3)));
    }

    #[test]
    fn mining_prefers_semi_hard_and_skips_unknown_and_same_track() {
        // items 0 and 1 positives (class 0), 2/3/4 negatives (class 1), 5 unknown, 6 same track as 0
        let items: Vec<Item> = [
            (0, Some(0)),
            (1, Some(0)),
            (2, Some(1)),
            (3, Some(1)),
            (4, Some(1)),
            (5, None),
            (0, Some(0)),
        ]
        .iter()
        .map(|&(t, l)| Item {
            track: t,
            label: l.map(Label::Class),
        })
        .collect();
        let n = items.len();
        let mut dist = vec![0.5f32; n * n];
        dist[1] = 0.3; // d(0,1)
        dist[2] = 0.35; // semi-hard for anchor 0
        dist[3] = 0.1; // hard
        dist[4] = 0.9; // easy
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let t = mine_semi_hard(&dist, &items, MARGIN, &mut rng);
        let from0: Vec<_> = t.iter().filter(|t| t.anchor == 0).collect();
        assert_eq!(from0.len(), 1);
        assert_eq!((from0[0].positive, from0[0].negative), (1, 2));
        assert!(
            t.iter()
                .all(|t| t.anchor != 5 && t.positive != 5 && t.negative != 5)
        );
        assert!(
            t.iter()
                .all(|t| items[t.anchor].track != items[t.positive].track)
        );
        let (loss, count) = all_triplets_loss(&dist, &items, MARGIN);
        assert!(count > 0 && loss > 0.0);
    }
}
