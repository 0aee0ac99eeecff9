//! Indexing folders of audio into a reference library: find the audio files, skip the
//! unchanged ones, embed the new and modified ones on worker threads, and append each
//! finished track to the library at once (so a killed run keeps everything finished before
//! it). Files that cannot be decoded are recorded as failures, not fatal.
//!
//! Each worker owns a [`TrackEmbedder`] (its own ONNX Runtime session, one intra-op thread by
//! default), so `jobs` files are decoded, analysed and embedded at once. Channels are bounded,
//! so memory stays at a few tracks per worker however large the collection.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use crossbeam_channel::bounded;

use crate::embedding::{TrackEmbedder, TrackEmbedding};
use crate::inference::{Embedder, EmbedderOptions};
use crate::library::{FileStamp, IndexedTrack, Library, Reason, TrackInfo, hash_file};
use crate::{Error, Result};

/// File extensions taken as audio (case-insensitive).
pub const AUDIO_EXTENSIONS: [&str; 8] = ["wav", "wave", "flac", "mp3", "ogg", "oga", "aif", "aiff"];

/// The identity a library records for a model: its version string and the hash of the file,
/// so a retrained model with the same name still counts as another model.
pub fn model_id(embedder: &Embedder) -> Result<String> {
    let hash = hash_file(embedder.path())?;
    Ok(format!(
        "{} #{hash:016x}",
        embedder.contract().model_version
    ))
}

/// Every audio file under `folders` (recursively; a file argument is taken as is), as
/// absolute paths, sorted, without duplicates. A folder that does not exist is an error.
pub fn audio_files(folders: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for folder in folders {
        let root = std::fs::canonicalize(folder).map_err(|source| Error::Io {
            path: folder.clone(),
            source,
        })?;
        if root.is_file() {
            files.push(root);
            continue;
        }
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_dir() {
                    stack.push(path);
                } else if is_audio(&path) {
                    files.push(path);
                }
            }
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

fn is_audio(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(e)))
}

/// How to index.
#[derive(Debug, Clone, Copy)]
pub struct IndexOptions {
    /// Files processed at once (one model session each).
    pub jobs: usize,
    pub embedder: EmbedderOptions,
}

/// What happened to one file, reported as it happens.
#[derive(Debug)]
pub enum Event<'a> {
    /// The work is known: `to_index` of `found` files need (re)indexing.
    Planned { found: usize, to_index: usize },
    /// A file was indexed and saved.
    Indexed {
        path: &'a Path,
        reason: Reason,
        duration_s: f64,
    },
    /// A file could not be indexed; recorded in the library's failure list.
    Failed { path: &'a Path, error: &'a Error },
}

/// The outcome of [`index`].
#[derive(Debug, Default)]
pub struct IndexReport {
    /// Audio files found under the folders.
    pub found: usize,
    /// Files indexed in this run.
    pub indexed: usize,
    /// Files skipped because they did not change.
    pub unchanged: usize,
    /// Tracks removed because their files are gone.
    pub removed: Vec<PathBuf>,
    /// Files that failed, with the error.
    pub failed: Vec<(PathBuf, String)>,
    /// Seconds of audio indexed in this run.
    pub audio_seconds: f64,
    /// The caller stopped the run; the files not yet started were left for the next run.
    pub cancelled: bool,
}

/// Indexes `files` into `library` with the model at `model` (see the module doc). Tracks of
/// the library under `roots` whose files are gone are removed first. `on_event` returning
/// `Break` stops the run: files being embedded are finished and saved, no new one starts.
pub fn index(
    library: &mut Library,
    roots: &[PathBuf],
    files: &[PathBuf],
    model: &Path,
    options: &IndexOptions,
    mut on_event: impl FnMut(Event) -> ControlFlow<()>,
) -> Result<IndexReport> {
    let stop = AtomicBool::new(false);
    let mut on_event = |event: Event| {
        if on_event(event).is_break() {
            stop.store(true, Ordering::Relaxed);
        }
    };
    let mut report = IndexReport {
        found: files.len(),
        ..IndexReport::default()
    };
    let roots: Vec<PathBuf> = roots
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .collect();
    for gone in library.missing() {
        if roots.iter().any(|r| gone.starts_with(r)) {
            library.remove(&gone)?;
            report.removed.push(gone);
        }
    }
    let mut todo = Vec::new();
    for path in files {
        match library.check_file(path) {
            Ok(None) => report.unchanged += 1,
            Ok(Some(reason)) => todo.push((path.clone(), reason)),
            // A file that vanished or cannot be read between listing and now.
            Err(error) => {
                on_event(Event::Failed {
                    path,
                    error: &error,
                });
                report.failed.push((path.clone(), error.to_string()));
            }
        }
    }
    on_event(Event::Planned {
        found: files.len(),
        to_index: todo.len(),
    });
    report.cancelled = stop.load(Ordering::Relaxed);
    if todo.is_empty() || report.cancelled {
        return Ok(report);
    }

    let jobs = options.jobs.clamp(1, todo.len());
    // Load every session before starting, so a bad model fails once, up front.
    let embedders = (0..jobs)
        .map(|_| Embedder::load(model, &options.embedder).map(TrackEmbedder::new))
        .collect::<Result<Vec<_>>>()?;
    let (job_tx, job_rx) = bounded::<(PathBuf, Reason)>(2 * jobs);
    let (done_tx, done_rx) =
        bounded::<(PathBuf, Reason, Result<(FileStamp, u64, TrackEmbedding)>)>(2 * jobs);
    thread::scope(|scope| -> Result<()> {
        for mut embedder in embedders {
            let (job_rx, done_tx) = (job_rx.clone(), done_tx.clone());
            scope.spawn(move || {
                for (path, reason) in job_rx {
                    let result = embed(&mut embedder, &path);
                    if done_tx.send((path, reason, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop((job_rx, done_tx));
        let stop = &stop;
        let feeder = scope.spawn(move || {
            for job in todo {
                if stop.load(Ordering::Relaxed) || job_tx.send(job).is_err() {
                    break;
                }
            }
        });
        for (path, reason, result) in done_rx.iter() {
            match result {
                Ok((stamp, hash, track)) => {
                    let duration_s = track.analysis.duration;
                    library.upsert(IndexedTrack {
                        info: TrackInfo {
                            path: path.clone(),
                            stamp,
                            hash,
                            duration_s,
                            tempo: track.analysis.tempo,
                            key: track.analysis.key,
                        },
                        windows: track.windows,
                    })?;
                    report.indexed += 1;
                    report.audio_seconds += duration_s;
                    on_event(Event::Indexed {
                        path: &path,
                        reason,
                        duration_s,
                    });
                }
                Err(error) => {
                    if let Ok(stamp) = FileStamp::of(&path) {
                        library.record_failure(&path, stamp, &error.to_string())?;
                    }
                    on_event(Event::Failed {
                        path: &path,
                        error: &error,
                    });
                    report.failed.push((path, error.to_string()));
                }
            }
        }
        feeder.join().expect("the job feeder does not panic");
        Ok(())
    })?;
    report.cancelled = stop.load(Ordering::Relaxed);
    Ok(report)
}

/// Stamp and hash (taken before decoding, so a file changed meanwhile is re-indexed next
/// time) and the embeddings of one file.
fn embed(embedder: &mut TrackEmbedder, path: &Path) -> Result<(FileStamp, u64, TrackEmbedding)> {
    let stamp = FileStamp::of(path)?;
    let hash = hash_file(path)?;
    let track = embedder.embed_file(path)?;
    Ok((stamp, hash, track))
}
