//! The reference library (SPEC §5): one file per indexed collection holding, per track, its
//! path and file stamp, a content hash, duration, tempo and key estimates, the embedding of
//! every 3 s window and the track's mean embedding (SPEC §4), plus the files that could not be
//! indexed and why. An open [`Library`] holds everything but the window embeddings in memory;
//! those stay in the file until [`Library::windows`] reads one track's (segment matching
//! needs them for a handful of tracks, search needs only the means).
//!
//! # Why a journal
//!
//! Indexing a large collection takes hours, and users stop it (Ctrl-C, kill -9, a crash, a
//! closed laptop). The file is therefore an **append-only journal**: every finished track is
//! appended as one length-prefixed, checksummed record and `fdatasync`ed before the next, so a
//! crash loses at most the track being written. Replacing or removing a track appends a
//! replacement or tombstone record; [`Library::compact`] rewrites the live records into a fresh
//! file (temporary file in the same folder, fsync, rename, fsync of the folder), and runs by
//! itself once dead records exceed half of the file's records.
//!
//! # On open
//!
//! * A **torn last record** — the crash case — is dropped and reported
//!   ([`LibraryInfo::recovered`]): fewer bytes left than the record's frame or its declared
//!   length, a checksum failure of the *last* record (indistinguishable from a power loss during
//!   its write), or a tail of zero bytes (what some file systems leave after a power loss).
//!   The file is not touched by opening; the torn bytes are cut off by the first write.
//! * Anything else that fails — the header, a length check or checksum of a record that is
//!   followed by more data, an undecodable record — is [`Error::Corrupt`] naming the file and
//!   the byte offset, and the file is left unchanged: nothing is ever silently thrown away
//!   from the middle of a library.
//! * A library built with another model (id or [`EmbeddingLayout`]) is refused by
//!   [`Library::open_for`] and [`Library::open_or_create`] with a message saying to re-index.
//!
//! # File format, version 1 (all integers and floats little-endian)
//!
//! ```text
//! file    = header record*
//! header  = magic "KINDRLIB" (8 bytes) · version u32 (= 1) · meta_len u32
//!           · meta (meta_len bytes of UTF-8 JSON: {"model_id", "layout", "window_seconds"})
//!           · crc32 u32 of every header byte before it
//! record  = len u32 · len_crc u32 (crc32 of the 4 len bytes) · crc u32 (crc32 of payload)
//!           · payload (len bytes)
//! payload = kind u8 · body
//!   1 track   : path · size u64 · mtime_ns i64 · xxh3 u64 · duration_s f64
//!               · bpm f32 · tempo_confidence f32 · key u8 (Key::index, 0..24)
//!               · key_correlation f32 · key_confidence f32
//!               · n_windows u32 · windows (n_windows × D f32, row-major) · mean (D f32)
//!   2 remove  : path                                   (tombstone for a track or a failure)
//!   3 failure : path · size u64 · mtime_ns i64 · message (u32 length · UTF-8)
//!   4 touch   : path · size u64 · mtime_ns i64          (new stamp, content hash unchanged)
//! path    = u32 length · bytes (the OS bytes on Unix, UTF-8 elsewhere)
//! ```
//!
//! `len_crc` lets a damaged length be told from a torn tail: a length that passes its check is
//! trusted, so a record that then runs past the end of the file really is the unfinished last
//! one. D is `layout.embedding_size()`. The checksums are CRC-32 (IEEE, `crc32fast`); the
//! content hash is XXH3-64 of the file's bytes (`xxhash-rust`), fast enough (≈ 10 GB/s) that
//! hashing is never the bottleneck of indexing.
//!
//! # Incremental indexing
//!
//! A file whose size and modification time match its entry is unchanged and skipped. If only
//! the modification time differs, the content hash decides: an equal hash records the new stamp
//! (a small `touch` record) instead of re-indexing ([`Library::check_file`]). A file recorded as
//! failed is retried only when its stamp changes.
//!
//! # Concurrency
//!
//! Any number of readers may open a library. The first write takes an exclusive OS lock on
//! `<library>.lock` (released when the [`Library`] is dropped or the process dies), so two
//! indexers cannot interleave records; a write also refuses to go on if the file has grown
//! since it was read (another process appended to it).

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ndarray::{Array2, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::contract::EmbeddingLayout;
use crate::embedding::track_embedding;
use crate::key::{Key, KeyEstimate};
use crate::tempo::TempoEstimate;
use crate::{Error, Result};

/// First 8 bytes of every library file.
pub const MAGIC: [u8; 8] = *b"KINDRLIB";
/// The format version this engine reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Length of analysis windows in seconds (SPEC §4: non-overlapping 3 s windows); window `i`
/// starts at `i · WINDOW_SECONDS`.
pub const WINDOW_SECONDS: f64 = 3.0;
/// Bytes in front of each record's payload: `len`, `len_crc`, `crc`.
pub const RECORD_FRAME: u64 = 12;
/// Auto-compaction is not considered below this many records.
const AUTO_COMPACT_MIN_RECORDS: u64 = 64;

const KIND_TRACK: u8 = 1;
const KIND_REMOVE: u8 = 2;
const KIND_FAILURE: u8 = 3;
const KIND_TOUCH: u8 = 4;

/// A file's size and modification time, the cheap "has it changed?" test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStamp {
    /// Size in bytes.
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch (negative before it).
    pub mtime_ns: i64,
}

impl FileStamp {
    /// The stamp of `path` (follows symlinks).
    pub fn of(path: &Path) -> Result<Self> {
        let meta = fs::metadata(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self::from_metadata(&meta))
    }

    /// The stamp of already fetched metadata (a missing mtime counts as the epoch).
    pub fn from_metadata(meta: &fs::Metadata) -> Self {
        Self {
            size: meta.len(),
            mtime_ns: meta.modified().map(system_time_ns).unwrap_or(0),
        }
    }
}

/// `t` in nanoseconds since the Unix epoch, saturating at ±292 years.
pub fn system_time_ns(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// XXH3-64 of `bytes`: the content hash stored per track.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// XXH3-64 of the file at `path`, streamed in 1 MiB blocks (equal to [`hash_bytes`] of its
/// contents).
pub fn hash_file(path: &Path) -> Result<u64> {
    let io_err = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hasher.digest())
}

/// What indexing found about one audio file: everything the library keeps of a track besides
/// its embeddings.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackInfo {
    /// Absolute path of the audio file.
    pub path: PathBuf,
    /// Size and modification time when it was indexed.
    pub stamp: FileStamp,
    /// XXH3-64 of the file's bytes ([`hash_file`]).
    pub hash: u64,
    /// Duration in seconds.
    pub duration_s: f64,
    /// Tempo estimate of the whole track.
    pub tempo: TempoEstimate,
    /// Key estimate of the whole track (confidence 0: no key).
    pub key: KeyEstimate,
}

/// A freshly indexed track for [`Library::upsert`]. The library computes the track embedding
/// (the mean of the windows) itself.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedTrack {
    pub info: TrackInfo,
    /// Embedding of every non-overlapping 3 s window, `[n_windows, D]`; window `i` starts at
    /// `i · WINDOW_SECONDS`.
    pub windows: Array2<f32>,
}

/// One track as an open library holds it in memory: everything but the window embeddings,
/// which stay in the file until [`Library::windows`] reads them — they are 60 rows per
/// 3-minute track against one mean, so a library of 100 000 tracks opens in about 0.2 GB
/// instead of about 9 GB.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackEntry {
    pub info: TrackInfo,
    /// The track embedding: mean of the window embeddings (SPEC §4), `D` values.
    pub mean: Vec<f32>,
    /// Number of windows.
    n_windows: usize,
    /// Byte offset in the library file of the first window's first value.
    windows_at: u64,
}

impl TrackEntry {
    /// Number of windows.
    pub fn n_windows(&self) -> usize {
        self.n_windows
    }

    /// The key, or `None` when the estimate has no confidence (no pitch content).
    pub fn key(&self) -> Option<Key> {
        (self.info.key.confidence > 0.0).then_some(self.info.key.key)
    }
}

/// A file that could not be indexed, kept so `kindred library info` can list it; retried once
/// its stamp changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub path: PathBuf,
    /// Stamp of the file when it failed.
    pub stamp: FileStamp,
    /// The error, as printed.
    pub message: String,
}

/// Why a file has to be (re)indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Not in the library.
    New,
    /// Its content differs from the indexed one (size or hash).
    Modified,
    /// Same size, different modification time: only the content hash can tell. Returned by
    /// [`Library::needs_indexing`], which does not read files; [`Library::check_file`] resolves
    /// it to [`Reason::Modified`] or to "unchanged".
    StampChanged,
    /// It failed before and has changed since.
    Retry,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reason::New => "new",
            Reason::Modified => "modified",
            Reason::StampChanged => "modification time changed",
            Reason::Retry => "failed before and changed since",
        })
    }
}

/// What opening found at the end of the file after a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    /// Byte offset of the dropped, unfinished record (the valid length of the file).
    pub offset: u64,
    /// Bytes dropped from there to the end of the file.
    pub dropped_bytes: u64,
}

/// The model a library was built with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Meta {
    model_id: String,
    layout: EmbeddingLayout,
    window_seconds: f64,
}

/// A summary for `kindred library info`.
#[derive(Debug, Clone, PartialEq)]
pub struct LibraryInfo {
    pub path: PathBuf,
    pub format_version: u32,
    pub model_id: String,
    pub layout: EmbeddingLayout,
    pub window_seconds: f64,
    pub tracks: usize,
    /// Windows over all tracks.
    pub windows: usize,
    /// Total duration of all tracks in seconds.
    pub duration_s: f64,
    pub failures: usize,
    /// Records in the file, live and dead.
    pub records: u64,
    /// Records superseded by later ones (reclaimed by [`Library::compact`]).
    pub dead_records: u64,
    /// Bytes of valid records and header.
    pub file_bytes: u64,
    /// A torn last record found (and dropped) on open.
    pub recovered: Option<Recovery>,
}

/// The open write side: the library file in append mode and the held lock file.
#[derive(Debug)]
struct Writer {
    file: File,
    _lock: File,
}

/// A reference library: the file and its contents in memory.
///
/// Tracks are kept in a `Vec` in no particular order (removal moves the last track into the
/// hole); positions are stable until the next `upsert`/`remove`/`retain_existing`, so build a
/// search index ([`crate::search::FlatIndex::from_library`]) after changes, not before.
#[derive(Debug)]
pub struct Library {
    path: PathBuf,
    meta: Meta,
    tracks: Vec<TrackEntry>,
    by_path: HashMap<PathBuf, usize>,
    failures: BTreeMap<PathBuf, Failure>,
    /// Records in the file (live and dead).
    records: u64,
    /// Bytes of header and valid records: where the next record goes.
    valid_len: u64,
    /// Length of the file when it was read (may exceed `valid_len` by a torn tail).
    seen_len: u64,
    recovered: Option<Recovery>,
    /// A read handle on the file the tracks' `windows_at` point into (kept open, so a file
    /// compacted by another process does not pull the data away from under us).
    reader: File,
    writer: Option<Writer>,
    auto_compact: bool,
}

fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        source,
    }
}

fn write_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Write {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_owned(),
        offset,
        reason: reason.into(),
    }
}

fn describe_layout(layout: &EmbeddingLayout) -> String {
    format!("{} × {}", layout.dimensions.join(", "), layout.slice_width)
}

impl Library {
    /// Creates a new, empty library at `path` (and its folder if missing) for the model
    /// `model_id` with `layout`. The file appears complete or not at all (written to a
    /// temporary file, then renamed); an existing file is an error.
    pub fn create(path: &Path, model_id: &str, layout: &EmbeddingLayout) -> Result<Self> {
        if layout.embedding_size() == 0 {
            return Err(Error::Invalid(
                "a library needs an embedding layout with at least one value".into(),
            ));
        }
        if path.exists() {
            return Err(Error::Library {
                path: path.to_owned(),
                reason: "already exists; open it, or delete it to start over".into(),
            });
        }
        let meta = Meta {
            model_id: model_id.to_owned(),
            layout: layout.clone(),
            window_seconds: WINDOW_SECONDS,
        };
        let header = encode_header(&meta);
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(folder).map_err(|e| io_error(folder, e))?;
        }
        write_atomically(path, |w| w.write_all(&header))?;
        let reader = File::open(path).map_err(|e| io_error(path, e))?;
        let mut lib = Self::empty(path, meta, reader);
        lib.valid_len = header.len() as u64;
        lib.seen_len = lib.valid_len;
        Ok(lib)
    }

    fn empty(path: &Path, meta: Meta, reader: File) -> Self {
        Self {
            path: path.to_owned(),
            meta,
            tracks: Vec::new(),
            by_path: HashMap::new(),
            failures: BTreeMap::new(),
            records: 0,
            valid_len: 0,
            seen_len: 0,
            recovered: None,
            reader,
            writer: None,
            auto_compact: true,
        }
    }

    /// Opens an existing library, whatever model built it (check with
    /// [`check_model`](Self::check_model) or use [`open_for`](Self::open_for)). Reads and
    /// checks the whole file, keeping all but the window embeddings; never modifies it.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| io_error(path, e))?;
        let file_len = file.metadata().map_err(|e| io_error(path, e))?.len();
        let mut reader = BufReader::with_capacity(1 << 20, &file);
        let (meta, header_len) = read_header(path, &mut reader, file_len)?;
        let mut lib = Self::empty(path, meta, file.try_clone().map_err(|e| io_error(path, e))?);
        lib.seen_len = file_len;
        let d = lib.meta.layout.embedding_size();
        let mut offset = header_len;
        let mut payload = Vec::new();
        while offset < file_len {
            let remaining = file_len - offset;
            let torn = Some(Recovery {
                offset,
                dropped_bytes: remaining,
            });
            if remaining < RECORD_FRAME {
                lib.recovered = torn;
                break;
            }
            let mut frame = [0u8; RECORD_FRAME as usize];
            reader
                .read_exact(&mut frame)
                .map_err(|e| io_error(path, e))?;
            let len = u32::from_le_bytes(frame[0..4].try_into().unwrap());
            let len_crc = u32::from_le_bytes(frame[4..8].try_into().unwrap());
            let crc = u32::from_le_bytes(frame[8..12].try_into().unwrap());
            if crc32fast::hash(&frame[0..4]) != len_crc {
                if frame.iter().all(|&b| b == 0) && rest_is_zero(path, &mut reader)? {
                    lib.recovered = torn;
                    break;
                }
                return Err(corrupt(
                    path,
                    offset,
                    "a record's length fails its check value",
                ));
            }
            let end = offset + RECORD_FRAME + len as u64;
            if end > file_len {
                lib.recovered = torn;
                break;
            }
            payload.resize(len as usize, 0);
            reader
                .read_exact(&mut payload)
                .map_err(|e| io_error(path, e))?;
            if crc32fast::hash(&payload) != crc {
                if end == file_len {
                    lib.recovered = torn;
                    break;
                }
                return Err(corrupt(path, offset, "a record fails its checksum"));
            }
            let record = decode_record(&payload, d, offset + RECORD_FRAME).map_err(|reason| {
                corrupt(path, offset, format!("a record is invalid: {reason}"))
            })?;
            lib.apply(record);
            lib.records += 1;
            offset = end;
        }
        lib.valid_len = offset;
        Ok(lib)
    }

    /// Opens a library and refuses it unless it was built with `model_id` and `layout`.
    pub fn open_for(path: &Path, model_id: &str, layout: &EmbeddingLayout) -> Result<Self> {
        let lib = Self::open(path)?;
        lib.check_model(model_id, layout)?;
        Ok(lib)
    }

    /// Opens the library at `path` for `model_id`/`layout`, creating it if there is no file.
    pub fn open_or_create(path: &Path, model_id: &str, layout: &EmbeddingLayout) -> Result<Self> {
        match fs::metadata(path) {
            Ok(_) => Self::open_for(path, model_id, layout),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Self::create(path, model_id, layout),
            Err(e) => Err(io_error(path, e)),
        }
    }

    /// Errors unless the library was built with `model_id` and `layout`: embeddings of
    /// different models live in different spaces and cannot be compared.
    pub fn check_model(&self, model_id: &str, layout: &EmbeddingLayout) -> Result<()> {
        if self.meta.model_id == model_id && &self.meta.layout == layout {
            return Ok(());
        }
        Err(Error::Library {
            path: self.path.clone(),
            reason: format!(
                "this library was built with model `{}` (dimensions {}) but the model in use is \
                 `{}` (dimensions {}); embeddings of different models cannot be compared — \
                 re-index the music folder with this model into a new library file (or delete \
                 this one)",
                self.meta.model_id,
                describe_layout(&self.meta.layout),
                model_id,
                describe_layout(layout)
            ),
        })
    }

    /// Applies one decoded record to the in-memory state.
    fn apply(&mut self, record: Record) {
        match record {
            Record::Track(entry) => self.put(entry),
            Record::Remove(path) => {
                self.take(&path);
                self.failures.remove(&path);
            }
            Record::Failure(failure) => {
                self.take(&failure.path);
                self.failures.insert(failure.path.clone(), failure);
            }
            Record::Touch(path, stamp) => {
                if let Some(&i) = self.by_path.get(&path) {
                    self.tracks[i].info.stamp = stamp;
                }
            }
        }
    }

    fn put(&mut self, entry: TrackEntry) {
        self.failures.remove(&entry.info.path);
        match self.by_path.get(&entry.info.path) {
            Some(&i) => self.tracks[i] = entry,
            None => {
                self.by_path
                    .insert(entry.info.path.clone(), self.tracks.len());
                self.tracks.push(entry);
            }
        }
    }

    fn take(&mut self, path: &Path) -> Option<TrackEntry> {
        let i = self.by_path.remove(path)?;
        let entry = self.tracks.swap_remove(i);
        if let Some(moved) = self.tracks.get(i) {
            self.by_path.insert(moved.info.path.clone(), i);
        }
        Some(entry)
    }

    /// Path of the library file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Identity of the model that built the library.
    pub fn model_id(&self) -> &str {
        &self.meta.model_id
    }

    /// Embedding layout of the model that built the library.
    pub fn layout(&self) -> &EmbeddingLayout {
        &self.meta.layout
    }

    /// Window length (and hop) in seconds.
    pub fn window_seconds(&self) -> f64 {
        self.meta.window_seconds
    }

    /// All tracks, in no particular order.
    pub fn tracks(&self) -> &[TrackEntry] {
        &self.tracks
    }

    /// Number of tracks.
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    /// True without tracks.
    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// The track at `path`.
    pub fn get(&self, path: &Path) -> Option<&TrackEntry> {
        self.by_path.get(path).map(|&i| &self.tracks[i])
    }

    /// Position of the track at `path` in [`tracks`](Self::tracks).
    pub fn position(&self, path: &Path) -> Option<usize> {
        self.by_path.get(path).copied()
    }

    /// Files that could not be indexed, sorted by path.
    pub fn failures(&self) -> impl Iterator<Item = &Failure> {
        self.failures.values()
    }

    /// The track embeddings (means) as one row-major `[tracks, D]` matrix, rows in
    /// [`tracks`](Self::tracks) order.
    pub fn mean_matrix(&self) -> Array2<f32> {
        let d = self.meta.layout.embedding_size();
        let mut m = Array2::zeros((self.tracks.len(), d));
        for (mut row, t) in m.rows_mut().into_iter().zip(&self.tracks) {
            row.assign(&ArrayView1::from(&t.mean[..]));
        }
        m
    }

    /// Whether the file at `path` with `stamp` has to be (re)indexed, from metadata alone:
    /// `None` when its entry (or its failure) has the same stamp.
    pub fn needs_indexing(&self, path: &Path, stamp: FileStamp) -> Option<Reason> {
        if let Some(t) = self.get(path) {
            if t.info.stamp == stamp {
                None
            } else if t.info.stamp.size != stamp.size {
                Some(Reason::Modified)
            } else {
                Some(Reason::StampChanged)
            }
        } else if let Some(f) = self.failures.get(path) {
            (f.stamp != stamp).then_some(Reason::Retry)
        } else {
            Some(Reason::New)
        }
    }

    /// Whether the file at `path` has to be (re)indexed, reading it when only its hash can
    /// tell: a same-size file with a new modification time and an unchanged hash is
    /// unchanged, and its new stamp is recorded so it is not hashed again.
    pub fn check_file(&mut self, path: &Path) -> Result<Option<Reason>> {
        let stamp = FileStamp::of(path)?;
        match self.needs_indexing(path, stamp) {
            Some(Reason::StampChanged) => {
                let hash = hash_file(path)?;
                if self.get(path).is_some_and(|t| t.info.hash == hash) {
                    self.touch(path, stamp)?;
                    Ok(None)
                } else {
                    Ok(Some(Reason::Modified))
                }
            }
            other => Ok(other),
        }
    }

    /// Adds or replaces a track (one record, on disk before this returns).
    ///
    /// Errors if the path is not absolute, the windows do not match the layout, there is no
    /// window, or a value is not finite.
    pub fn upsert(&mut self, track: IndexedTrack) -> Result<()> {
        let d = self.meta.layout.embedding_size();
        let IndexedTrack { info, windows } = track;
        let bad = |m: String| Err(Error::Invalid(format!("{}: {m}", info.path.display())));
        if !info.path.is_absolute() {
            return bad("library paths must be absolute".into());
        }
        if windows.ncols() != d {
            return bad(format!(
                "window embeddings have {} values, the library's model has {d}",
                windows.ncols(),
            ));
        }
        if windows.nrows() == 0 || windows.nrows() > u32::MAX as usize {
            return bad(format!("{} windows", windows.nrows()));
        }
        if !windows.iter().all(|v| v.is_finite())
            || !info.duration_s.is_finite()
            || info.duration_s < 0.0
        {
            return bad("an embedding value or the duration is not a finite number".into());
        }
        let mut entry = TrackEntry {
            info,
            mean: track_embedding(windows.view()).to_vec(),
            n_windows: windows.nrows(),
            windows_at: 0,
        };
        let mut payload = Vec::with_capacity(64 + 4 * d * (windows.nrows() + 1));
        let at = encode_track(&mut payload, &entry, windows.view());
        let record_at = self.valid_len;
        self.append(&payload)?;
        entry.windows_at = record_at + RECORD_FRAME + at as u64;
        self.put(entry);
        self.maybe_compact()
    }

    /// The window embeddings of track `i` (its position in [`tracks`](Self::tracks)),
    /// `[n_windows, D]`, read from the file.
    ///
    /// # Panics
    /// If `i` is out of range, as indexing `tracks()` would.
    pub fn windows(&self, i: usize) -> Result<Array2<f32>> {
        let t = &self.tracks[i];
        let d = self.meta.layout.embedding_size();
        let mut bytes = vec![0u8; 4 * d * t.n_windows];
        read_exact_at(&self.reader, &mut bytes, t.windows_at)
            .map_err(|e| io_error(&self.path, e))?;
        let values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        if !values.iter().all(|v| v.is_finite()) {
            return Err(corrupt(
                &self.path,
                t.windows_at,
                "window embeddings changed on disk since the library was opened",
            ));
        }
        Ok(Array2::from_shape_vec((t.n_windows, d), values).expect("n_windows × D values"))
    }

    /// Removes the track or failure at `path` (a tombstone record); returns the track.
    pub fn remove(&mut self, path: &Path) -> Result<Option<TrackEntry>> {
        if !self.by_path.contains_key(path) && !self.failures.contains_key(path) {
            return Ok(None);
        }
        let mut payload = vec![KIND_REMOVE];
        put_path(&mut payload, path);
        self.append(&payload)?;
        self.failures.remove(path);
        let entry = self.take(path);
        self.maybe_compact()?;
        Ok(entry)
    }

    /// Records that the file at `path` could not be indexed; any track indexed from an
    /// earlier version of it is dropped (its embeddings describe content that is gone).
    pub fn record_failure(&mut self, path: &Path, stamp: FileStamp, message: &str) -> Result<()> {
        let failure = Failure {
            path: path.to_owned(),
            stamp,
            message: message.to_owned(),
        };
        let mut payload = vec![KIND_FAILURE];
        put_path(&mut payload, path);
        put_stamp(&mut payload, stamp);
        put_bytes(&mut payload, message.as_bytes());
        self.append(&payload)?;
        self.apply(Record::Failure(failure));
        self.maybe_compact()
    }

    /// Records a new stamp for an unchanged track (same content hash).
    pub fn touch(&mut self, path: &Path, stamp: FileStamp) -> Result<()> {
        let Some(&i) = self.by_path.get(path) else {
            return Err(Error::Invalid(format!(
                "{}: not in the library {}",
                path.display(),
                self.path.display()
            )));
        };
        let mut payload = vec![KIND_TOUCH];
        put_path(&mut payload, path);
        put_stamp(&mut payload, stamp);
        self.append(&payload)?;
        self.tracks[i].info.stamp = stamp;
        self.maybe_compact()
    }

    /// Paths of tracks and failures whose files no longer exist (not found; other errors,
    /// such as permission denied, count as existing).
    pub fn missing(&self) -> Vec<PathBuf> {
        let gone =
            |p: &Path| matches!(fs::metadata(p), Err(e) if e.kind() == io::ErrorKind::NotFound);
        self.tracks
            .iter()
            .map(|t| &t.info.path)
            .chain(self.failures.keys())
            .filter(|p| gone(p))
            .cloned()
            .collect()
    }

    /// Removes every track and failure whose file no longer exists ([`missing`](Self::missing));
    /// returns the removed tracks. Callers may want to confirm first when *every* file is
    /// missing — that looks like an unmounted drive rather than deleted music.
    pub fn retain_existing(&mut self) -> Result<Vec<TrackEntry>> {
        let mut removed = Vec::new();
        for path in self.missing() {
            if let Some(t) = self.remove(&path)? {
                removed.push(t);
            }
        }
        Ok(removed)
    }

    /// Whether [`upsert`](Self::upsert) and friends compact by themselves when dead records
    /// exceed half the file (default on).
    pub fn set_auto_compact(&mut self, on: bool) {
        self.auto_compact = on;
    }

    /// Records in the file that later records superseded.
    pub fn dead_records(&self) -> u64 {
        self.records
            .saturating_sub((self.tracks.len() + self.failures.len()) as u64)
    }

    fn maybe_compact(&mut self) -> Result<()> {
        if self.auto_compact
            && self.records >= AUTO_COMPACT_MIN_RECORDS
            && 2 * self.dead_records() > self.records
        {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the file with only live records: a temporary file in the same folder is
    /// written and fsynced, renamed over the library, and the folder fsynced, so a crash
    /// leaves either the old file or the new one, never a mix.
    pub fn compact(&mut self) -> Result<()> {
        self.writer()?;
        let header = encode_header(&self.meta);
        let mut len = header.len() as u64;
        let mut records = 0;
        let mut payload = Vec::new();
        let mut windows_at = Vec::with_capacity(self.tracks.len());
        write_atomically(&self.path, |w| {
            w.write_all(&header)?;
            for i in 0..self.tracks.len() {
                let windows = self.windows(i).map_err(io::Error::other)?;
                payload.clear();
                let at = encode_track(&mut payload, &self.tracks[i], windows.view());
                windows_at.push(len + RECORD_FRAME + at as u64);
                len += write_record(w, &payload)?;
                records += 1;
            }
            for f in self.failures.values() {
                payload.clear();
                payload.push(KIND_FAILURE);
                put_path(&mut payload, &f.path);
                put_stamp(&mut payload, f.stamp);
                put_bytes(&mut payload, f.message.as_bytes());
                len += write_record(w, &payload)?;
                records += 1;
            }
            Ok(())
        })?;
        // The old handles point at the replaced inode; read and append the new file from now on.
        let file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| write_error(&self.path, e))?;
        self.writer.as_mut().expect("writer taken above").file = file;
        self.reader = File::open(&self.path).map_err(|e| io_error(&self.path, e))?;
        for (t, at) in self.tracks.iter_mut().zip(windows_at) {
            t.windows_at = at;
        }
        self.records = records;
        self.valid_len = len;
        self.seen_len = len;
        self.recovered = None;
        Ok(())
    }

    /// A summary of the library.
    pub fn info(&self) -> LibraryInfo {
        LibraryInfo {
            path: self.path.clone(),
            format_version: FORMAT_VERSION,
            model_id: self.meta.model_id.clone(),
            layout: self.meta.layout.clone(),
            window_seconds: self.meta.window_seconds,
            tracks: self.tracks.len(),
            windows: self.tracks.iter().map(|t| t.n_windows()).sum(),
            duration_s: self.tracks.iter().map(|t| t.info.duration_s).sum(),
            failures: self.failures.len(),
            records: self.records,
            dead_records: self.dead_records(),
            file_bytes: self.valid_len,
            recovered: self.recovered,
        }
    }

    /// The write side, opened on first use: takes the lock, checks nobody else appended
    /// since the file was read, and cuts off a torn tail.
    fn writer(&mut self) -> Result<&mut Writer> {
        if self.writer.is_none() {
            let lock_path = lock_path(&self.path);
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(|e| write_error(&lock_path, e))?;
            let deadline = Instant::now() + LOCK_PATIENCE;
            loop {
                match lock.try_lock() {
                    Ok(()) => break,
                    Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => {
                        return Err(Error::Library {
                            path: self.path.clone(),
                            reason: format!(
                                "another process is writing to this library (lock {}: {e})",
                                lock_path.display()
                            ),
                        });
                    }
                }
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.path)
                .map_err(|e| write_error(&self.path, e))?;
            let len = file
                .metadata()
                .map_err(|e| write_error(&self.path, e))?
                .len();
            if len != self.seen_len {
                return Err(Error::Library {
                    path: self.path.clone(),
                    reason: format!(
                        "changed by another process since it was opened ({} bytes, now {len}); \
                         open it again",
                        self.seen_len
                    ),
                });
            }
            if len > self.valid_len {
                file.set_len(self.valid_len)
                    .and_then(|_| file.sync_all())
                    .map_err(|e| write_error(&self.path, e))?;
                self.seen_len = self.valid_len;
            }
            drop(file);
            let file = OpenOptions::new()
                .append(true)
                .open(&self.path)
                .map_err(|e| write_error(&self.path, e))?;
            self.writer = Some(Writer { file, _lock: lock });
        }
        Ok(self.writer.as_mut().unwrap())
    }

    /// Appends one framed record and syncs it to disk. On failure the file is cut back to
    /// its last valid length, so a failed write never leaves a half record in the middle.
    fn append(&mut self, payload: &[u8]) -> Result<()> {
        let valid_len = self.valid_len;
        let path = self.path.clone();
        let writer = self.writer()?;
        let mut framed = Vec::with_capacity(payload.len() + RECORD_FRAME as usize);
        frame_into(&mut framed, payload);
        let result = writer
            .file
            .write_all(&framed)
            .and_then(|_| writer.file.sync_data());
        if let Err(e) = result {
            let _ = writer.file.set_len(valid_len);
            return Err(write_error(&path, e));
        }
        self.valid_len += framed.len() as u64;
        self.seen_len = self.valid_len;
        self.records += 1;
        Ok(())
    }
}

/// How long a writer waits for the lock before saying that another process holds it. A
/// child process forked by another thread holds a copy of the lock for the instant before it
/// execs, so one attempt alone could fail for no reason.
const LOCK_PATIENCE: Duration = Duration::from_secs(1);

/// `<library>.lock`, beside the library.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

/// Writes `path` through a temporary file in the same folder: write, fsync, rename, fsync
/// the folder. The temporary file is removed on failure.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&File>) -> io::Result<()>,
) -> Result<()> {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(name);
    let result = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 20, &file);
        write(&mut w)?;
        w.flush()?;
        drop(w);
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        sync_parent(path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        write_error(path, e)
    })
}

/// Fsyncs the folder holding `path` so a rename in it is durable (a no-op off Unix).
fn sync_parent(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(parent)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Reads the rest of the file, true if every byte is zero.
fn rest_is_zero(path: &Path, reader: &mut impl Read) -> Result<bool> {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                if buf[..n].iter().any(|&b| b != 0) {
                    return Ok(false);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(path, e)),
        }
    }
}

fn encode_header(meta: &Meta) -> Vec<u8> {
    let json = serde_json::to_vec(meta).expect("library metadata always serialises");
    let mut h = Vec::with_capacity(json.len() + 20);
    h.extend_from_slice(&MAGIC);
    h.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    h.extend_from_slice(&(json.len() as u32).to_le_bytes());
    h.extend_from_slice(&json);
    let crc = crc32fast::hash(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

/// Reads and checks the header; returns the metadata and the header's length in bytes.
fn read_header(path: &Path, reader: &mut impl Read, file_len: u64) -> Result<(Meta, u64)> {
    let mut fixed = [0u8; 16];
    if file_len < 16 {
        return Err(corrupt(
            path,
            0,
            format!("{file_len} bytes is too short for a library header"),
        ));
    }
    reader
        .read_exact(&mut fixed)
        .map_err(|e| io_error(path, e))?;
    if fixed[..8] != MAGIC {
        return Err(Error::Library {
            path: path.to_owned(),
            reason: "not a Kindred library file (wrong magic bytes)".into(),
        });
    }
    let version = u32::from_le_bytes(fixed[8..12].try_into().unwrap());
    if version != FORMAT_VERSION {
        return Err(Error::Library {
            path: path.to_owned(),
            reason: format!(
                "library format version {version} is not supported (this Kindred reads version \
                 {FORMAT_VERSION}){}; re-index the music folder into a new library",
                if version > FORMAT_VERSION {
                    ", it was written by a newer Kindred"
                } else {
                    ""
                }
            ),
        });
    }
    let meta_len = u32::from_le_bytes(fixed[12..16].try_into().unwrap()) as u64;
    let header_len = 16 + meta_len + 4;
    if header_len > file_len {
        return Err(corrupt(path, 12, "the header is longer than the file"));
    }
    let mut rest = vec![0u8; meta_len as usize + 4];
    reader
        .read_exact(&mut rest)
        .map_err(|e| io_error(path, e))?;
    let (json, crc) = rest.split_at(meta_len as usize);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&fixed);
    hasher.update(json);
    if hasher.finalize() != u32::from_le_bytes(crc.try_into().unwrap()) {
        return Err(corrupt(path, 0, "the header fails its checksum"));
    }
    let meta: Meta = serde_json::from_slice(json)
        .map_err(|e| corrupt(path, 16, format!("the header metadata is invalid: {e}")))?;
    if meta.layout.embedding_size() == 0 {
        return Err(corrupt(path, 16, "the header's embedding layout is empty"));
    }
    Ok((meta, header_len))
}

/// `len · len_crc · crc · payload` into `out`.
fn frame_into(out: &mut Vec<u8>, payload: &[u8]) {
    let len = (payload.len() as u32).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc32fast::hash(&len).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Writes one framed record; returns the bytes written.
fn write_record(w: &mut impl Write, payload: &[u8]) -> io::Result<u64> {
    let len = (payload.len() as u32).to_le_bytes();
    w.write_all(&len)?;
    w.write_all(&crc32fast::hash(&len).to_le_bytes())?;
    w.write_all(&crc32fast::hash(payload).to_le_bytes())?;
    w.write_all(payload)?;
    Ok(RECORD_FRAME + payload.len() as u64)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn put_path(out: &mut Vec<u8>, path: &Path) {
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).to_vec();
    #[cfg(not(unix))]
    let bytes = path.to_string_lossy().into_owned().into_bytes();
    put_bytes(out, &bytes);
}

fn put_stamp(out: &mut Vec<u8>, stamp: FileStamp) {
    out.extend_from_slice(&stamp.size.to_le_bytes());
    out.extend_from_slice(&stamp.mtime_ns.to_le_bytes());
}

fn put_f32s<'a>(out: &mut Vec<u8>, values: impl IntoIterator<Item = &'a f32>) {
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Appends `t`'s track record with `windows` to `out`; returns where in it the windows start.
fn encode_track(out: &mut Vec<u8>, t: &TrackEntry, windows: ArrayView2<f32>) -> usize {
    out.push(KIND_TRACK);
    put_path(out, &t.info.path);
    put_stamp(out, t.info.stamp);
    out.extend_from_slice(&t.info.hash.to_le_bytes());
    out.extend_from_slice(&t.info.duration_s.to_le_bytes());
    out.extend_from_slice(&t.info.tempo.bpm.to_le_bytes());
    out.extend_from_slice(&t.info.tempo.confidence.to_le_bytes());
    out.push(t.info.key.key.index() as u8);
    out.extend_from_slice(&t.info.key.correlation.to_le_bytes());
    out.extend_from_slice(&t.info.key.confidence.to_le_bytes());
    out.extend_from_slice(&(windows.nrows() as u32).to_le_bytes());
    let at = out.len();
    put_f32s(out, windows.iter());
    put_f32s(out, t.mean.iter());
    at
}

/// Fills `buf` from `file` at byte `offset`, leaving the handle's position alone.
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let (mut done, mut offset) = (0, offset);
        while done < buf.len() {
            match std::os::windows::fs::FileExt::seek_read(file, &mut buf[done..], offset)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => (done, offset) = (done + n, offset + n as u64),
            }
        }
        Ok(())
    }
}

/// A decoded record.
enum Record {
    Track(TrackEntry),
    Remove(PathBuf),
    Failure(Failure),
    Touch(PathBuf, FileStamp),
}

/// Reads fields from a checksummed payload; running short is a format error.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err("it ends early".into());
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().unwrap())
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    fn f32(&mut self) -> Result<f32, String> {
        Ok(f32::from_le_bytes(self.array()?))
    }
    fn f64(&mut self) -> Result<f64, String> {
        Ok(f64::from_le_bytes(self.array()?))
    }
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn path(&mut self) -> Result<PathBuf, String> {
        let bytes = self.bytes()?;
        #[cfg(unix)]
        {
            Ok(PathBuf::from(
                <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(bytes),
            ))
        }
        #[cfg(not(unix))]
        {
            std::str::from_utf8(bytes)
                .map(PathBuf::from)
                .map_err(|_| "a path is not UTF-8".to_string())
        }
    }
    fn stamp(&mut self) -> Result<FileStamp, String> {
        Ok(FileStamp {
            size: self.u64()?,
            mtime_ns: self.i64()?,
        })
    }
    fn f32s(&mut self, n: usize) -> Result<Vec<f32>, String> {
        let bytes = self.take(n.checked_mul(4).ok_or("a length overflows")?)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect())
    }
}

/// Decodes one record's payload, which starts at byte `payload_at` of the file; a track's
/// windows are skipped, and their offset kept.
fn decode_record(payload: &[u8], d: usize, payload_at: u64) -> Result<Record, String> {
    let mut c = Cursor { bytes: payload };
    let record = match c.u8()? {
        KIND_TRACK => {
            let path = c.path()?;
            let stamp = c.stamp()?;
            let hash = c.u64()?;
            let duration_s = c.f64()?;
            let tempo = TempoEstimate {
                bpm: c.f32()?,
                confidence: c.f32()?,
            };
            let key_index = c.u8()? as usize;
            if key_index >= 24 {
                return Err(format!("key index {key_index} is out of range"));
            }
            let key = KeyEstimate {
                key: Key::from_index(key_index),
                correlation: c.f32()?,
                confidence: c.f32()?,
            };
            let n_windows = c.u32()? as usize;
            let windows_at = payload_at + (payload.len() - c.bytes.len()) as u64;
            let values = n_windows.checked_mul(d).ok_or("a length overflows")?;
            c.take(values.checked_mul(4).ok_or("a length overflows")?)?;
            let mean = c.f32s(d)?;
            Record::Track(TrackEntry {
                info: TrackInfo {
                    path,
                    stamp,
                    hash,
                    duration_s,
                    tempo,
                    key,
                },
                mean,
                n_windows,
                windows_at,
            })
        }
        KIND_REMOVE => Record::Remove(c.path()?),
        KIND_FAILURE => {
            let path = c.path()?;
            let stamp = c.stamp()?;
            let message = String::from_utf8_lossy(c.bytes()?).into_owned();
            Record::Failure(Failure {
                path,
                stamp,
                message,
            })
        }
        KIND_TOUCH => {
            let path = c.path()?;
            Record::Touch(path, c.stamp()?)
        }
        kind => return Err(format!("unknown record kind {kind}")),
    };
    if !c.bytes.is_empty() {
        return Err(format!("{} bytes too many", c.bytes.len()));
    }
    Ok(record)
}
