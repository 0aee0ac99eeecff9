//! A user's own labelled library: `labels.csv` with the header
//! `path,genre,mood,instrument,era,tempo,key`. An empty cell means "unknown"; an unknown tempo
//! or key is filled by the engine's estimators when the file is analysed.
//!
//! Rows are checked one by one. A row with a problem — a file that does not exist, a label
//! outside the vocabulary (see [`labels`](super::labels)), a tempo or key that does not parse,
//! a path already listed — is reported with its row number and reason and left out; every
//! other row is used. (Files that exist but are not audio are found when they are decoded,
//! and reported the same way by the build.) Row numbers count the header as row 1, as a
//! spreadsheet shows them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kindred_engine::key::Key;
use serde::{Deserialize, Serialize};

use super::labels::{ERAS, Family, GENRES, Mood, TEMPO_RANGE, find_label};
use crate::{Error, Result};

/// Columns, in order.
pub const COLUMNS: [&str; 7] = ["path", "genre", "mood", "instrument", "era", "tempo", "key"];

/// One usable manifest row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Spreadsheet row number (header = 1).
    pub row: usize,
    /// The file, resolved against the manifest's directory.
    pub path: PathBuf,
    /// The path as the manifest lists it.
    pub listed: String,
    pub genre: Option<String>,
    pub mood: Option<String>,
    pub instrument: Option<String>,
    pub era: Option<String>,
    pub tempo: Option<f32>,
    /// Key as the engine prints it ("A minor").
    pub key: Option<String>,
}

/// A row that was left out, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowError {
    pub row: usize,
    pub path: String,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "row {}: {}: {}", self.row, self.path, self.reason)
    }
}

/// The manifest's usable rows and its rejected rows.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    pub entries: Vec<ManifestEntry>,
    pub errors: Vec<RowError>,
}

fn vocab_label(vocabulary: &[&str], what: &str, value: &str) -> Result<Option<String>, String> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    find_label(vocabulary, value)
        .map(|v| Some(v.to_string()))
        .ok_or_else(|| {
            format!(
                "unknown {what} {value:?} (known: {})",
                vocabulary.join(", ")
            )
        })
}

impl Manifest {
    /// Reads and checks `path`. Only an unreadable file or a wrong header is an error; bad
    /// rows go to [`Manifest::errors`].
    pub fn load(path: &Path) -> Result<Self> {
        let base = path.parent().unwrap_or(Path::new("."));
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_path(path)
            .map_err(|e| Error::Parse {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| Error::Parse {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        if header != COLUMNS {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                reason: format!(
                    "header is {:?}, expected {}",
                    header.join(","),
                    COLUMNS.join(",")
                ),
            });
        }
        let moods: Vec<&'static str> = Mood::ALL.iter().map(|m| m.name()).collect();
        let families: Vec<&'static str> = Family::ALL.iter().map(|f| f.name()).collect();
        let mut out = Manifest::default();
        let mut seen: HashMap<PathBuf, usize> = HashMap::new();
        for (i, record) in reader.records().enumerate() {
            let row = i + 2;
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    out.errors.push(RowError {
                        row,
                        path: String::new(),
                        reason: format!("unreadable CSV row: {e}"),
                    });
                    continue;
                }
            };
            let cell = |c: usize| record.get(c).unwrap_or("").to_string();
            let raw_path = cell(0);
            let fail = |reason: String| RowError {
                row,
                path: raw_path.clone(),
                reason,
            };
            if record.len() != COLUMNS.len() {
                out.errors.push(fail(format!(
                    "{} columns, expected {}",
                    record.len(),
                    COLUMNS.len()
                )));
                continue;
            }
            if raw_path.is_empty() {
                out.errors.push(fail("empty path".into()));
                continue;
            }
            let path = base.join(&raw_path);
            if !path.is_file() {
                out.errors.push(fail(if path.exists() {
                    "not a file".into()
                } else {
                    "file not found".into()
                }));
                continue;
            }
            let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
            if let Some(first) = seen.get(&canonical) {
                out.errors.push(fail(format!(
                    "duplicate path (first listed in row {first})"
                )));
                continue;
            }
            let parsed = (|| -> Result<ManifestEntry, String> {
                let tempo = match cell(5).as_str() {
                    "" => None,
                    t => {
                        let bpm: f32 = t
                            .parse()
                            .map_err(|_| format!("tempo {t:?} is not a number"))?;
                        if !(20.0..=400.0).contains(&bpm) {
                            return Err(format!(
                                "tempo {bpm} BPM is outside 20–400 (renders use {}–{})",
                                TEMPO_RANGE.0, TEMPO_RANGE.1
                            ));
                        }
                        Some(bpm)
                    }
                };
                let key = match cell(6).as_str() {
                    "" => None,
                    k => Some(
                        k.parse::<Key>()
                            .map_err(|_| format!("key {k:?} is not a key such as \"A minor\""))?
                            .to_string(),
                    ),
                };
                Ok(ManifestEntry {
                    row,
                    path: path.clone(),
                    listed: raw_path.clone(),
                    genre: vocab_label(GENRES, "genre", &cell(1))?,
                    mood: vocab_label(&moods, "mood", &cell(2))?,
                    instrument: vocab_label(&families, "instrument", &cell(3))?,
                    era: vocab_label(ERAS, "era", &cell(4))?,
                    tempo,
                    key,
                })
            })();
            match parsed {
                Ok(entry) => {
                    seen.insert(canonical, row);
                    out.entries.push(entry);
                }
                Err(reason) => out.errors.push(fail(reason)),
            }
        }
        Ok(out)
    }
}
