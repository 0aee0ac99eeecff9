//! The score index `pieces.json` written by `scripts/music21_export.py`: one record per
//! exported piece with its corpus provenance, genre and era labels (and how they were
//! derived), its key (from music21's analysis of the score) and its notated beat.

use std::path::{Path, PathBuf};

use kindred_engine::key::Key;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One exported score.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Piece {
    /// Stable identifier; also the split unit (all renders of a piece share a split).
    pub id: String,
    /// MIDI file, relative to the index's directory.
    pub midi: String,
    /// Path inside the music21 corpus.
    pub corpus_path: String,
    /// Tune number inside a multi-tune ABC file.
    #[serde(default)]
    pub number: Option<u32>,
    pub title: String,
    pub composer: String,
    pub genre: String,
    pub genre_source: String,
    pub era: String,
    #[serde(default)]
    pub year: Option<i32>,
    pub era_source: String,
    /// The piece's key, e.g. "F major" (parsed by [`Key::from_str`](std::str::FromStr)):
    /// music21's key analysis of the score, see `key_source`.
    pub key: String,
    pub key_source: String,
    /// The first key signature as encoded, for reference (not used for labels).
    #[serde(default)]
    pub key_signature: Option<String>,
    /// The notated beat in quarter notes (1 in 4/4, 1.5 in 6/8, 2 in 2/2).
    pub beat_quarters: f64,
    pub licence: String,
}

impl Piece {
    /// The piece's key (before any transposition).
    pub fn written_key(&self) -> Result<Key> {
        self.key
            .parse()
            .map_err(|e| Error::Invalid(format!("piece {}: key {:?}: {e}", self.id, self.key)))
    }
}

/// The whole index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PieceIndex {
    pub format: String,
    pub music21_version: String,
    pub seed: u64,
    pub corpus_licence: String,
    pub pieces: Vec<Piece>,
    /// Directory of `pieces.json` (MIDI paths are relative to it).
    #[serde(skip)]
    pub dir: PathBuf,
}

impl PieceIndex {
    /// Reads `path` (a `pieces.json`, or a directory holding one).
    pub fn load(path: &Path) -> Result<Self> {
        let file = if path.is_dir() {
            path.join("pieces.json")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(Error::io(&file))?;
        let mut index: PieceIndex = serde_json::from_str(&text).map_err(|e| Error::Parse {
            path: file.clone(),
            reason: e.to_string(),
        })?;
        if !index.format.starts_with("kindred-pieces/1") {
            return Err(Error::Parse {
                path: file,
                reason: format!("format {:?}, expected kindred-pieces/1", index.format),
            });
        }
        index.dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        for p in &index.pieces {
            p.written_key()?;
        }
        Ok(index)
    }

    /// The MIDI file of `piece`.
    pub fn midi_path(&self, piece: &Piece) -> PathBuf {
        self.dir.join(&piece.midi)
    }
}
