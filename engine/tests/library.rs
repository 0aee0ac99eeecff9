//! The reference library file: round trip, crash recovery, corruption, model identity,
//! incremental indexing, compaction, locking, and live matching against it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kindred_engine::Error;
use kindred_engine::contract::EmbeddingLayout;
use kindred_engine::embedding::track_embedding;
use kindred_engine::key::{Key, KeyEstimate, Mode};
use kindred_engine::library::{
    FileStamp, IndexedTrack, Library, RECORD_FRAME, Reason, Recovery, TrackInfo, hash_bytes,
    hash_file,
};
use kindred_engine::matching::LiveMatcher;
use kindred_engine::similarity::{Weights, compare};
use kindred_engine::tempo::TempoEstimate;
use ndarray::Array2;
use tempfile::TempDir;

#[path = "support/heap.rs"]
mod heap;
use heap::peak_heap_during;

const MODEL: &str = "csn-test-1";

fn layout() -> EmbeddingLayout {
    EmbeddingLayout::new(&["genre", "mood", "tempo"], 4)
}

/// A track at `/music/<name>.flac` whose values depend on `seed`.
fn track(name: &str, seed: u32, n_windows: usize) -> IndexedTrack {
    let d = layout().embedding_size();
    let windows = Array2::from_shape_fn((n_windows, d), |(i, j)| {
        ((seed as f32 + 1.0) * 0.37 + i as f32 * 0.11 + j as f32 * 0.013).sin()
    });
    IndexedTrack {
        info: TrackInfo {
            path: PathBuf::from(format!("/music/{name}.flac")),
            stamp: FileStamp {
                size: 1000 + seed as u64,
                mtime_ns: 1_700_000_000_000_000_000 + seed as i64,
            },
            hash: 0xABCD_0000 + seed as u64,
            duration_s: 3.0 * n_windows as f64 + 0.5,
            tempo: TempoEstimate {
                bpm: 90.0 + seed as f32,
                confidence: 0.5,
            },
            key: KeyEstimate {
                key: Key::new((seed % 12) as u8, Mode::Minor),
                correlation: 0.8,
                confidence: 0.3,
            },
        },
        windows,
    }
}

/// The track embedding of `t` (the mean of its windows).
fn mean(t: &IndexedTrack) -> Vec<f32> {
    track_embedding(t.windows.view()).to_vec()
}

/// Track `i` of `lib` as it was indexed, its windows read back from the file.
fn read_back(lib: &Library, i: usize) -> IndexedTrack {
    IndexedTrack {
        info: lib.tracks()[i].info.clone(),
        windows: lib.windows(i).unwrap(),
    }
}

/// The track at `path` as it was indexed, if `lib` has it.
fn stored(lib: &Library, path: &str) -> Option<IndexedTrack> {
    lib.position(Path::new(path)).map(|i| read_back(lib, i))
}

/// Every track of `lib` as it was indexed, sorted by path.
fn sorted(lib: &Library) -> Vec<IndexedTrack> {
    let mut t: Vec<IndexedTrack> = (0..lib.len()).map(|i| read_back(lib, i)).collect();
    t.sort_by(|a, b| a.info.path.cmp(&b.info.path));
    t
}

/// Creates a library with tracks `t0..tn` and returns the file length after the header and
/// after each track.
fn build(path: &Path, n: u32) -> Vec<u64> {
    let mut lib = Library::create(path, MODEL, &layout()).unwrap();
    let mut lens = vec![fs::metadata(path).unwrap().len()];
    for i in 0..n {
        lib.upsert(track(&format!("t{i}"), i, 1 + i as usize % 3))
            .unwrap();
        lens.push(fs::metadata(path).unwrap().len());
    }
    lens
}

#[test]
fn round_trip_keeps_every_field() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("lib.kindred");
    let mut lib = Library::create(&path, MODEL, &layout()).unwrap();
    let tracks: Vec<IndexedTrack> = (0..5)
        .map(|i| track(&format!("t{i}"), i, 1 + i as usize))
        .collect();
    for t in &tracks {
        lib.upsert(t.clone()).unwrap();
    }
    let failed = PathBuf::from("/music/broken.mp3");
    let stamp = FileStamp {
        size: 7,
        mtime_ns: -5,
    };
    lib.record_failure(&failed, stamp, "not a supported audio file: junk")
        .unwrap();
    drop(lib);

    let lib = Library::open(&path).unwrap();
    assert_eq!(sorted(&lib), tracks);
    assert_eq!(lib.model_id(), MODEL);
    assert_eq!(lib.layout(), &layout());
    assert_eq!(lib.window_seconds(), 3.0);
    let t3 = lib.get(Path::new("/music/t3.flac")).unwrap();
    assert_eq!(t3.n_windows(), 4);
    assert_eq!(t3.key(), Some(Key::new(3, Mode::Minor)));
    let failures: Vec<_> = lib.failures().collect();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].path, failed);
    assert_eq!(failures[0].stamp, stamp);
    assert!(failures[0].message.contains("junk"));
    let info = lib.info();
    assert_eq!((info.tracks, info.failures, info.windows), (5, 1, 15));
    assert_eq!(info.records, 6);
    assert_eq!(info.dead_records, 0);
    assert_eq!(info.recovered, None);
    assert_eq!(info.file_bytes, fs::metadata(&path).unwrap().len());
    // The mean matrix has one row per track, in tracks() order.
    let m = lib.mean_matrix();
    assert_eq!(m.dim(), (5, 12));
    for (i, (row, t)) in m.rows().into_iter().zip(lib.tracks()).enumerate() {
        assert_eq!(row.to_vec(), t.mean);
        assert_eq!(t.mean, mean(&read_back(&lib, i)));
    }
}

/// Opening keeps the window embeddings on disk: a library of 64 long tracks (3 000 windows
/// each, 9 MB of window embeddings) opens in a fraction of that (the 1 MB read buffer and one
/// record), and each track's windows read back whole, also after compaction moved them.
#[test]
fn window_embeddings_stay_on_disk_until_asked_for() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("lib.kindred");
    let mut lib = Library::create(&path, MODEL, &layout()).unwrap();
    let tracks: Vec<IndexedTrack> = (0..64)
        .map(|i| track(&format!("t{i:02}"), i, 3000))
        .collect();
    for t in &tracks {
        lib.upsert(t.clone()).unwrap();
    }
    drop(lib);
    let window_bytes = 64 * 3000 * layout().embedding_size() * 4;

    let (lib, peak) = peak_heap_during(|| Library::open(&path).unwrap());
    println!("open: peak heap {peak} bytes for {window_bytes} bytes of window embeddings");
    assert!(peak < window_bytes / 6, "peak heap {peak} bytes");
    assert_eq!(sorted(&lib), tracks);

    // Compaction rewrites every record at a new offset; the windows follow.
    let mut lib = lib;
    lib.remove(Path::new("/music/t00.flac")).unwrap();
    lib.compact().unwrap();
    assert_eq!(sorted(&lib), tracks[1..]);
    assert_eq!(sorted(&Library::open(&path).unwrap()), tracks[1..]);
}

#[test]
fn a_torn_last_record_is_dropped_and_reported_and_the_rest_survives() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("lib.kindred");
    let lens = build(&path, 6);
    let full = fs::read(&path).unwrap();
    let last_start = lens[5];
    // Cut in the middle of the last record, inside its frame, and right after the frame.
    for cut in [
        last_start + (lens[6] - last_start) / 2,
        last_start + 5,
        last_start + RECORD_FRAME,
        lens[6] - 1,
    ] {
        fs::write(&path, &full[..cut as usize]).unwrap();
        let lib = Library::open(&path).unwrap();
        assert_eq!(lib.len(), 5, "cut at {cut}");
        for i in 0..5 {
            assert_eq!(
                stored(&lib, &format!("/music/t{i}.flac")),
                Some(track(&format!("t{i}"), i, 1 + i as usize % 3))
            );
        }
        assert!(lib.get(Path::new("/music/t5.flac")).is_none());
        assert_eq!(
            lib.info().recovered,
            Some(Recovery {
                offset: last_start,
                dropped_bytes: cut - last_start
            })
        );
        // Opening does not touch the file.
        assert_eq!(fs::read(&path).unwrap(), &full[..cut as usize]);
    }
    // The first write cuts the torn tail off, and the library is whole again.
    let mut lib = Library::open(&path).unwrap();
    lib.upsert(track("t5", 5, 3)).unwrap();
    drop(lib);
    assert_eq!(fs::read(&path).unwrap(), full);
    let lib = Library::open(&path).unwrap();
    assert_eq!(lib.len(), 6);
    assert_eq!(lib.info().recovered, None);
}

#[test]
fn a_zero_filled_tail_and_a_bad_last_checksum_are_torn_tails() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("lib.kindred");
    let lens = build(&path, 3);
    let full = fs::read(&path).unwrap();
    // Zeros after the last record (a power loss on some file systems).
    let mut zeros = full.clone();
    zeros.extend(std::iter::repeat_n(0u8, 4096));
    fs::write(&path, &zeros).unwrap();
    let lib = Library::open(&path).unwrap();
    assert_eq!(lib.len(), 3);
    assert_eq!(lib.info().recovered.unwrap().offset, lens[3]);
    // A damaged byte in the last record: indistinguishable from an interrupted write.
    let mut bad = full.clone();
    let last = bad.len() - 3;
    bad[last] ^= 0x40;
    fs::write(&path, &bad).unwrap();
    let lib = Library::open(&path).unwrap();
    assert_eq!(lib.len(), 2);
    assert_eq!(lib.info().recovered.unwrap().offset, lens[2]);
}

fn assert_corrupt(path: &Path, want_offset: u64, want: &str) {
    let before = fs::read(path).unwrap();
    let err = Library::open(path).unwrap_err();
    let msg = err.to_string();
    match &err {
        Error::Corrupt {
            path: p, offset, ..
        } => {
            assert_eq!(p, path);
            assert_eq!(*offset, want_offset, "{msg}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains(&format!("byte {want_offset}")), "{msg}");
    assert!(msg.contains(want), "{msg}");
    assert_eq!(fs::read(path).unwrap(), before, "the file was modified");
}

#[test]
fn damage_in_the_middle_is_an_error_naming_file_and_offset_and_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("lib.kindred");
    let lens = build(&path, 5);
    let full = fs::read(&path).unwrap();

    // A payload byte of record 2.
    let mut bad = full.clone();
    bad[(lens[2] + RECORD_FRAME + 10) as usize] ^= 1;
    fs::write(&path, &bad).unwrap();
    assert_corrupt(&path, lens[2], "checksum");

    // The length of record 1: its check value catches it (not taken for a torn tail).
    let mut bad = full.clone();
    bad[(lens[1] + 1) as usize] ^= 0x10;
    fs::write(&path, &bad).unwrap();
    assert_corrupt(&path, lens[1], "length");

    // The header.
    let mut bad = full.clone();
    bad[20] ^= 1;
    fs::write(&path, &bad).unwrap();
    assert_corrupt(&path, 0, "header");

    // Writing through an open library is refused too, and the file stays as it is.
    let mut bad = full.clone();
    bad[(lens[3] + RECORD_FRAME + 3) as usize] ^= 0x80;
    fs::write(&path, &bad).unwrap();
    assert!(Library::open_or_create(&path, MODEL, &layout()).is_err());
    assert_eq!(fs::read(&path).unwrap(), bad);
}

#[test]
fn not_a_library_and_unknown_versions_are_refused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("lib.kindred");
    fs::write(&path, b"RIFF....WAVEfmt and some more bytes").unwrap();
    let msg = Library::open(&path).unwrap_err().to_string();
    assert!(msg.contains("not a Kindred library"), "{msg}");
    build(&dir.path().join("v.kindred"), 1);
    let mut bytes = fs::read(dir.path().join("v.kindred")).unwrap();
    bytes[8] = 9;
    fs::write(&path, &bytes).unwrap();
    let msg = Library::open(&path).unwrap_err().to_string();
    assert!(msg.contains("version 9") && msg.contains("newer"), "{msg}");
    assert!(Library::create(&path, MODEL, &layout()).is_err());
}

#[test]
fn a_library_of_another_model_is_refused_with_a_reindex_message() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("lib.kindred");
    build(&path, 2);
    let before = fs::read(&path).unwrap();
    let msg = Library::open_for(&path, "csn-other", &layout())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("csn-test-1") && msg.contains("csn-other"),
        "{msg}"
    );
    assert!(msg.contains("re-index"), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    let other = EmbeddingLayout::new(&["genre", "mood", "tempo"], 8);
    let msg = Library::open_or_create(&path, MODEL, &other)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("re-index") && msg.contains("× 8"), "{msg}");
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(Library::open_for(&path, MODEL, &layout()).unwrap().len(), 2);
}

#[test]
fn upsert_rejects_bad_entries() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("lib.kindred");
    let mut lib = Library::create(&path, MODEL, &layout()).unwrap();
    let mut t = track("a", 1, 2);
    t.info.path = PathBuf::from("relative.flac");
    assert!(lib.upsert(t).unwrap_err().to_string().contains("absolute"));
    let mut t = track("a", 1, 2);
    t.windows = Array2::zeros((2, 11));
    assert!(lib.upsert(t).is_err());
    let mut t = track("a", 1, 2);
    t.windows[[1, 3]] = f32::NAN;
    assert!(lib.upsert(t).is_err());
    let mut t = track("a", 1, 2);
    t.windows = Array2::zeros((0, 12));
    assert!(lib.upsert(t).is_err());
    assert_eq!(lib.info().records, 0);
    assert!(Library::open(&path).unwrap().is_empty());
}

/// Writes `bytes` to `path` and sets its modification time to `secs` after 2020-01-01.
fn write_file(path: &Path, bytes: &[u8], secs: u64) {
    fs::write(path, bytes).unwrap();
    set_mtime(path, secs);
}

fn set_mtime(path: &Path, secs: u64) {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_836_800 + secs);
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

fn indexed(path: &Path) -> IndexedTrack {
    let mut t = track("x", 3, 2);
    t.info.path = path.to_owned();
    t.info.stamp = FileStamp::of(path).unwrap();
    t.info.hash = hash_file(path).unwrap();
    t
}

#[test]
fn incremental_indexing_skips_unchanged_and_catches_changes() {
    let dir = TempDir::new().unwrap();
    let music = dir.path().join("music");
    fs::create_dir(&music).unwrap();
    let (a, b, c) = (
        music.join("a.wav"),
        music.join("b.wav"),
        music.join("c.wav"),
    );
    write_file(&a, b"aaaa", 1);
    write_file(&b, b"bbbb", 1);
    write_file(&c, b"cccc", 1);
    assert_eq!(hash_file(&a).unwrap(), hash_bytes(b"aaaa"));
    let path = dir.path().join("lib.kindred");
    let mut lib = Library::open_or_create(&path, MODEL, &layout()).unwrap();
    for p in [&a, &b, &c] {
        assert_eq!(lib.check_file(p).unwrap(), Some(Reason::New));
        lib.upsert(indexed(p)).unwrap();
        assert_eq!(lib.check_file(p).unwrap(), None);
    }
    drop(lib);

    // a: new size → modified without hashing. b: same size, new content and mtime → the
    // hash decides: modified. c: touched only → unchanged, and the new stamp is recorded.
    write_file(&a, b"aaaaa", 1);
    write_file(&b, b"BBBB", 2);
    set_mtime(&c, 5);
    let mut lib = Library::open_or_create(&path, MODEL, &layout()).unwrap();
    let stamp_c = FileStamp::of(&c).unwrap();
    assert_eq!(
        lib.needs_indexing(&a, FileStamp::of(&a).unwrap()),
        Some(Reason::Modified)
    );
    assert_eq!(lib.needs_indexing(&c, stamp_c), Some(Reason::StampChanged));
    assert_eq!(lib.check_file(&a).unwrap(), Some(Reason::Modified));
    assert_eq!(lib.check_file(&b).unwrap(), Some(Reason::Modified));
    assert_eq!(lib.check_file(&c).unwrap(), None);
    assert_eq!(lib.get(&c).unwrap().info.stamp, stamp_c);
    lib.upsert(indexed(&a)).unwrap();
    lib.upsert(indexed(&b)).unwrap();
    drop(lib);
    let mut lib = Library::open(&path).unwrap();
    assert_eq!(lib.needs_indexing(&c, stamp_c), None, "touch persisted");
    for p in [&a, &b, &c] {
        assert_eq!(lib.check_file(p).unwrap(), None);
    }
    assert_eq!(lib.len(), 3);

    // Deleted files are removed.
    fs::remove_file(&b).unwrap();
    assert_eq!(lib.missing(), vec![b.clone()]);
    let removed = lib.retain_existing().unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].info.path, b);
    assert!(lib.get(&b).is_none());
    drop(lib);
    let lib = Library::open(&path).unwrap();
    assert_eq!(lib.len(), 2);
    assert!(lib.get(&b).is_none() && lib.get(&a).is_some() && lib.get(&c).is_some());
}

#[test]
fn failures_are_kept_and_retried_only_when_the_file_changes() {
    let dir = TempDir::new().unwrap();
    let bad = dir.path().join("bad.mp3");
    write_file(&bad, b"junk", 1);
    let path = dir.path().join("lib.kindred");
    let mut lib = Library::create(&path, MODEL, &layout()).unwrap();
    assert_eq!(lib.check_file(&bad).unwrap(), Some(Reason::New));
    lib.record_failure(&bad, FileStamp::of(&bad).unwrap(), "not audio")
        .unwrap();
    assert_eq!(lib.check_file(&bad).unwrap(), None);
    drop(lib);
    let mut lib = Library::open(&path).unwrap();
    assert_eq!(lib.info().failures, 1);
    assert_eq!(lib.check_file(&bad).unwrap(), None);
    write_file(&bad, b"junk2", 2);
    assert_eq!(lib.check_file(&bad).unwrap(), Some(Reason::Retry));
    // Success clears the failure; a later failure of the same file drops its track.
    lib.upsert(indexed(&bad)).unwrap();
    assert_eq!(lib.failures().count(), 0);
    assert_eq!(lib.len(), 1);
    lib.record_failure(&bad, FileStamp::of(&bad).unwrap(), "now broken")
        .unwrap();
    assert_eq!(lib.len(), 0);
    // A failure whose file is gone is removed too.
    fs::remove_file(&bad).unwrap();
    assert!(lib.retain_existing().unwrap().is_empty());
    assert_eq!(lib.failures().count(), 0);
    drop(lib);
    let lib = Library::open(&path).unwrap();
    assert_eq!((lib.len(), lib.failures().count()), (0, 0));
}

#[test]
fn compaction_keeps_everything_and_leaves_no_temporary_files() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("lib.kindred");
    let mut lib = Library::create(&path, MODEL, &layout()).unwrap();
    lib.set_auto_compact(false);
    for round in 0..4 {
        for i in 0..10 {
            lib.upsert(track(&format!("t{i}"), i + round * 100, 2))
                .unwrap();
        }
    }
    lib.remove(Path::new("/music/t9.flac")).unwrap();
    lib.record_failure(
        Path::new("/music/f.ogg"),
        FileStamp {
            size: 1,
            mtime_ns: 2,
        },
        "codec",
    )
    .unwrap();
    let before = sorted(&lib);
    let info = lib.info();
    assert_eq!(info.records, 42);
    assert_eq!(info.dead_records, 32);
    let len_before = fs::metadata(&path).unwrap().len();
    lib.compact().unwrap();
    let info = lib.info();
    assert_eq!((info.records, info.dead_records), (10, 0));
    assert!(info.file_bytes < len_before / 3);
    assert_eq!(sorted(&lib), before);
    // Appends go to the new file after compaction.
    lib.upsert(track("new", 7, 1)).unwrap();
    drop(lib);
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, ["lib.kindred", "lib.kindred.lock"]);
    let lib = Library::open(&path).unwrap();
    let mut want = before;
    want.push(track("new", 7, 1));
    want.sort_by(|a, b| a.info.path.cmp(&b.info.path));
    assert_eq!(sorted(&lib), want);
    assert_eq!(lib.failures().count(), 1);
}

#[test]
fn compaction_runs_by_itself_when_most_records_are_dead() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("lib.kindred");
    let mut lib = Library::create(&path, MODEL, &layout()).unwrap();
    let mut max_records = 0;
    for round in 0..20 {
        for i in 0..5 {
            lib.upsert(track(&format!("t{i}"), i + round, 1)).unwrap();
            let info = lib.info();
            max_records = max_records.max(info.records);
            assert!(info.records < 64 || 2 * info.dead_records <= info.records);
        }
    }
    assert!(max_records <= 64, "{max_records}");
    drop(lib);
    let lib = Library::open(&path).unwrap();
    assert_eq!(lib.len(), 5);
    assert_eq!(stored(&lib, "/music/t2.flac"), Some(track("t2", 2 + 19, 1)));
}

#[test]
fn one_writer_at_a_time_and_no_writing_over_unseen_changes() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("lib.kindred");
    build(&path, 1);
    let mut first = Library::open(&path).unwrap();
    let mut second = Library::open(&path).unwrap();
    first.upsert(track("a", 10, 1)).unwrap();
    let msg = second.upsert(track("b", 11, 1)).unwrap_err().to_string();
    assert!(msg.contains("another process"), "{msg}");
    drop(first);
    let msg = second.upsert(track("b", 11, 1)).unwrap_err().to_string();
    assert!(msg.contains("changed by another process"), "{msg}");
    let lib = Library::open(&path).unwrap();
    assert_eq!(lib.len(), 2);
    assert!(lib.get(Path::new("/music/a.flac")).is_some());
}

#[test]
fn a_killed_writer_loses_only_the_record_in_flight() {
    // Appending is write + fdatasync per record: simulate a kill after every possible byte
    // of the last record by truncating, and check each prefix opens with all earlier tracks.
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("lib.kindred");
    let lens = build(&path, 3);
    let full = fs::read(&path).unwrap();
    for cut in lens[2]..lens[3] {
        fs::write(&path, &full[..cut as usize]).unwrap();
        let lib = Library::open(&path).unwrap();
        assert_eq!(lib.len(), 2, "cut at {cut}");
        assert_eq!(
            lib.info().recovered.is_some(),
            cut > lens[2],
            "cut at {cut}"
        );
    }
}

/// Set in the child process of [`kill_9_during_indexing_loses_nothing_indexed`].
const WRITER_ENV: &str = "KINDRED_TEST_LIBRARY_WRITER";

/// In the child: index tracks `t0, t1, …` into the library named by [`WRITER_ENV`] until
/// killed. In the parent (the normal test run): nothing.
#[test]
fn writer_child() {
    let Ok(path) = std::env::var(WRITER_ENV) else {
        return;
    };
    let mut lib = Library::open_or_create(Path::new(&path), MODEL, &layout()).unwrap();
    for i in 0.. {
        lib.upsert(track(&format!("t{i}"), i, 1 + i as usize % 40))
            .unwrap();
    }
}

#[test]
fn kill_9_during_indexing_loses_nothing_indexed() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("lib.kindred");
    Library::create(&path, MODEL, &layout()).unwrap();
    for round in 0..3 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "writer_child", "--test-threads", "1"])
            .env(WRITER_ENV, &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300 + 70 * round));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let lib = Library::open(&path).unwrap();
        let n = lib.len() as u32;
        assert!(n > 0, "the child indexed nothing");
        // Every finished track is there, whole; the rest of the file is at most one torn
        // record.
        for i in 0..n {
            assert_eq!(
                stored(&lib, &format!("/music/t{i}.flac")),
                Some(track(&format!("t{i}"), i, 1 + i as usize % 40)),
                "round {round}: t{i} of {n}"
            );
        }
        if let Some(r) = lib.info().recovered {
            assert_eq!(
                r.offset + r.dropped_bytes,
                fs::metadata(&path).unwrap().len()
            );
        }
    }
}

/// The plugin's view of a library: tracks found by path or unique file name, one window
/// compared with the reference and ranked against every track, a library of another model
/// refused.
#[test]
fn live_matcher_finds_references_and_ranks_the_library() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("lib.kindred");
    build(&path, 6);
    let mut lib = Library::open(&path).unwrap();
    let mut twin = track("t1", 40, 2);
    twin.info.path = PathBuf::from("/other/t1.flac");
    lib.upsert(twin).unwrap();
    drop(lib);

    let err = LiveMatcher::open(&path, "another-model", &layout())
        .err()
        .expect("another model's library is refused")
        .to_string();
    assert!(err.contains("lib.kindred"), "{err}");
    let matcher = LiveMatcher::open(&path, MODEL, &layout()).unwrap();
    assert_eq!(matcher.tracks().len(), 7);
    let id_of = |p: &str| matcher.tracks().iter().position(|t| t.path == Path::new(p));
    let t3 = id_of("/music/t3.flac").unwrap();
    assert_eq!(matcher.find("t3.flac"), Some(t3));
    assert_eq!(matcher.find("/music/t3.flac"), Some(t3));
    assert_eq!(
        matcher.find("t1.flac"),
        None,
        "two tracks are named t1.flac"
    );
    assert_eq!(matcher.find("/other/t1.flac"), id_of("/other/t1.flac"));
    assert_eq!(matcher.find("nothing.flac"), None);
    assert_eq!(matcher.tracks()[t3].name, "t3.flac");
    assert_eq!(matcher.tracks()[t3].bpm, 93.0);

    // t3 as `build` made it (1 + 3 % 3 windows).
    let query = mean(&track("t3", 3, 1));
    let weights = Weights::uniform(3);
    let own = matcher
        .compare(&query, Some(matcher.embedding(t3)), &weights, 3)
        .unwrap();
    let reference = own.reference.unwrap();
    for p in &reference.per_dimension {
        assert!((p - 100.0).abs() < 1e-3, "{reference:?}");
    }
    assert_eq!(own.matches.len(), 3);
    assert_eq!(own.matches[0].id, t3);
    assert!((own.matches[0].score - 100.0).abs() < 1e-2);
    assert!(own.matches.windows(2).all(|w| w[0].score >= w[1].score));

    let t0 = id_of("/music/t0.flac").unwrap();
    let other = matcher
        .compare(&query, Some(matcher.embedding(t0)), &weights, 1)
        .unwrap();
    let want = compare(&layout(), &query, &mean(&track("t0", 0, 1)), &weights).unwrap();
    for (got, want) in other
        .reference
        .unwrap()
        .per_dimension
        .iter()
        .zip(&want.per_dimension)
    {
        assert!((got - want).abs() < 1e-3, "{got} vs {want}");
    }
    assert!(want.combined < 99.99, "t0 is not t3: {}", want.combined);
}

#[test]
fn a_new_library_gets_its_folder() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("new/sub/lib.kindred");
    Library::create(&path, MODEL, &layout()).unwrap();
    assert_eq!(Library::open(&path).unwrap().len(), 0);
}
