//! The dataset builder on the committed 3-piece fixture (`tests/data`: a Bach chorale, a reel
//! from Ryan's Mammoth Collection and an Essen folk song, exported by
//! `scripts/music21_export.py --only ...`), rendered with the small TimGM6mb SoundFont.
//!
//! Needs the Debian package `timgm6mb-soundfont` (no network at test time).

use std::path::{Path, PathBuf};
use std::process::Command;

use kindred_engine::FrontEndConfig;
use kindred_engine::features::{Features, FrontEnd};
use kindred_engine::key::{Key, KeyAccumulator, KeyEstimator};
use kindred_engine::tempo::{TempoAccumulator, TempoEstimator};
use kindred_trainer::data::cache::FeatureCache;
use kindred_trainer::data::dataset::{self, BuildOptions, DatasetFile, Source, tempo_agrees};
use kindred_trainer::data::labels::{Family, Mood};
use kindred_trainer::data::pieces::PieceIndex;
use kindred_trainer::data::plan::{RenderSpec, Split, Variation};
use kindred_trainer::data::render::{Renderer, Score};

const SOUNDFONT: &str = "/usr/share/sounds/sf2/TimGM6mb.sf2";

fn soundfont() -> PathBuf {
    let p = PathBuf::from(SOUNDFONT);
    assert!(
        p.is_file(),
        "{SOUNDFONT} is missing: these tests render with it; run `apt-get install timgm6mb-soundfont`"
    );
    p
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn options(out: &Path) -> BuildOptions {
    BuildOptions {
        out: out.to_path_buf(),
        pieces: Some(fixture()),
        manifest: None,
        soundfont: soundfont(),
        seed: 7,
        per_factor: 1,
        max_seconds: 15.0,
        splits: [1.0, 1.0, 1.0],
        keep_splits: None,
        keep_audio: false,
        limit: None,
        progress: false,
    }
}

/// Engine features of every window of `samples` (the builder's windowing), with the engine's
/// tempo and key estimates and the mean chroma.
struct Analysed {
    windows: Vec<(Vec<f32>, Vec<f32>, Vec<f32>)>,
    bpm: f32,
    key: Key,
    /// The engine's spectral-peak pitch-class profile of the whole render (row 0 = C).
    profile: [f32; 12],
}

fn analyse(samples: &[f32]) -> Analysed {
    let cfg = FrontEndConfig::default();
    let mut fe = FrontEnd::new(cfg.clone());
    let mut f = Features::new(&cfg);
    let te = TempoEstimator::new(&cfg);
    let ke = KeyEstimator::new(&cfg);
    let mut ta = TempoAccumulator::new(&te);
    let mut ka = KeyAccumulator::for_config(&cfg);
    let mut windows = Vec::new();
    for w in samples.chunks_exact(cfg.window_samples) {
        fe.compute(w, &mut f).unwrap();
        ta.add(f.tempogram.view());
        ka.add(f.chroma.view(), f.power.view());
        windows.push((
            f.mel.iter().copied().collect(),
            f.cens.iter().copied().collect(),
            f.tempogram.iter().copied().collect(),
        ));
    }
    Analysed {
        windows,
        bpm: ta.estimate(&te).bpm,
        key: ka.estimate(&ke).key,
        profile: ka.profile(),
    }
}

fn spec(bpm: f32, transpose: i32, family: Family, mood: Mood) -> RenderSpec {
    RenderSpec {
        id: "t".into(),
        piece: "0000_bach_bwv1_6".into(),
        index: 0,
        variation: Variation::Base,
        bpm,
        transpose,
        key: String::new(),
        family,
        mood,
    }
}

fn chorale() -> (Score, f64) {
    let index = PieceIndex::load(&fixture()).unwrap();
    let piece = &index.pieces[0];
    assert_eq!(piece.genre, "chorale");
    (
        Score::load(&index.midi_path(piece)).unwrap(),
        piece.beat_quarters,
    )
}

#[test]
fn build_splits_factorial_resume_and_cache() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    let report = dataset::build(&opts).unwrap();
    assert_eq!((report.built, report.skipped), (15, 0));
    assert!(report.failures.is_empty(), "{:?}", report.failures);

    let file = DatasetFile::load(dir.path()).unwrap();
    assert_eq!(file.records.len(), 15);
    // Splits by piece: every piece's renders share one split; with equal fractions the three
    // pieces go to three different splits.
    let mut split_of = std::collections::BTreeMap::new();
    for r in &file.records {
        let s = split_of.entry(r.piece.clone()).or_insert(r.split);
        assert_eq!(*s, r.split, "piece {} is in two splits", r.piece);
    }
    let mut splits: Vec<Split> = split_of.values().copied().collect();
    splits.sort();
    assert_eq!(splits, Split::ALL.to_vec());

    // Factorial design: each variation changes exactly its factor relative to the base.
    let index = PieceIndex::load(&fixture()).unwrap();
    for piece in &index.pieces {
        let rs: Vec<_> = file
            .records
            .iter()
            .filter(|r| r.piece == piece.id)
            .collect();
        assert_eq!(rs.len(), 5);
        let base = rs[0].spec.clone().unwrap();
        assert_eq!(base.variation, Variation::Base);
        for r in &rs {
            let s = r.spec.clone().unwrap();
            let changed = [
                s.bpm != base.bpm,
                s.transpose != base.transpose,
                s.family != base.family,
                s.mood != base.mood,
            ];
            let expect = match s.variation {
                Variation::Base => [false; 4],
                Variation::Tempo => [true, false, false, false],
                Variation::Key => [false, true, false, false],
                Variation::Instrument => [false, false, true, false],
                Variation::Mood => [false, false, false, true],
            };
            assert_eq!(changed, expect, "{}", r.id);
            // Labels are the render's settings and the piece's metadata.
            assert_eq!(r.genre.as_deref(), Some(piece.genre.as_str()));
            assert_eq!(r.era.as_deref(), Some(piece.era.as_str()));
            assert_eq!(r.tempo, Some(s.bpm));
            assert!((60.0..=180.0).contains(&s.bpm));
            let key = piece.written_key().unwrap().transpose(s.transpose);
            assert_eq!(r.key.as_deref(), Some(key.to_string().as_str()));
            assert_eq!(r.instrument.as_deref(), Some(s.family.name()));
            assert_eq!(r.mood.as_deref(), Some(s.mood.name()));
            assert!(r.windows >= 1 && r.windows <= 5, "{}: {}", r.id, r.windows);
        }
    }

    // The cache reads back exactly the features the engine computes on the same render.
    let r = &file.records[0];
    let cache = FeatureCache::open(&dir.path().join(&r.cache)).unwrap();
    assert_eq!(cache.windows(), r.windows as usize);
    let (score, beat) = chorale();
    let renderer = Renderer::new(&soundfont(), 22_050, 15.0).unwrap();
    let samples = renderer
        .render(&score, r.spec.as_ref().unwrap(), beat)
        .unwrap();
    let a = analyse(&samples);
    assert_eq!(a.windows.len(), cache.windows());
    for (i, (mel, cens, tg)) in a.windows.iter().enumerate() {
        let w = cache.window(i);
        assert_eq!(w.mel.dim(), (128, 259));
        assert_eq!(w.cens.dim(), (12, 259));
        assert_eq!(w.tempogram.dim(), (384, 259));
        assert!(w.mel.iter().eq(mel.iter()), "mel of window {i} differs");
        assert!(w.cens.iter().eq(cens.iter()), "cens of window {i} differs");
        assert!(
            w.tempogram.iter().eq(tg.iter()),
            "tempogram of window {i} differs"
        );
    }

    // The card reports sources, licences, the mood proxy and per-split counts.
    let card = std::fs::read_to_string(dir.path().join("DATASET_CARD.md")).unwrap();
    for needle in [
        "corpus/license.txt",
        "mood (proxy)",
        "| chorale | ",
        "validation",
        " h of audio",
    ] {
        assert!(card.contains(needle), "card lacks {needle:?}");
    }

    // Resume: nothing to redo; a lost record (and only it) is rebuilt; the cache file of a
    // finished render is not rewritten.
    let kept = dir.path().join(&file.records[1].cache);
    let mtime = std::fs::metadata(&kept).unwrap().modified().unwrap();
    let again = dataset::build(&opts).unwrap();
    assert_eq!((again.built, again.skipped), (0, 15));
    std::fs::remove_file(
        dir.path()
            .join("records")
            .join(format!("{}.json", file.records[2].id)),
    )
    .unwrap();
    let again = dataset::build(&opts).unwrap();
    assert_eq!((again.built, again.skipped), (1, 14));
    assert_eq!(std::fs::metadata(&kept).unwrap().modified().unwrap(), mtime);
    assert_eq!(DatasetFile::load(dir.path()).unwrap().records, file.records);
    // Growing a set: other fractions would move the pieces, but with --keep-splits each keeps
    // the split this build gave it, so nothing is redone.
    let held = dataset::build(&BuildOptions {
        splits: [1.0, 0.0, 0.0],
        keep_splits: Some(dir.path().to_path_buf()),
        ..opts.clone()
    })
    .unwrap();
    assert_eq!((held.built, held.skipped, held.kept_splits), (0, 15, 3));
    assert_eq!(DatasetFile::load(dir.path()).unwrap().records, file.records);
    // Another seed is another design: everything is redone.
    let reseeded = dataset::build(&BuildOptions {
        seed: 8,
        ..opts.clone()
    })
    .unwrap();
    assert_eq!(reseeded.skipped, 0);
}

#[test]
fn tempo_label_is_the_rendered_tempo() {
    let (score, beat) = chorale();
    let renderer = Renderer::new(&soundfont(), 22_050, 15.0).unwrap();
    let mut estimates = Vec::new();
    for bpm in [90.0, 150.0] {
        let samples = renderer
            .render(&score, &spec(bpm, 0, Family::Piano, Mood::Energetic), beat)
            .unwrap();
        // 15 s at 22 050 Hz, cut at max_seconds.
        assert_eq!(samples.len(), 15 * 22_050);
        let est = analyse(&samples).bpm;
        estimates.push(est);
        assert!(
            tempo_agrees(bpm, est),
            "rendered at {bpm} BPM, engine says {est}"
        );
    }
    assert!(estimates[1] > estimates[0] * 1.4, "{estimates:?}");
}

#[test]
fn key_label_is_the_rendered_key() {
    let (score, beat) = chorale();
    let renderer = Renderer::new(&soundfont(), 22_050, 12.0).unwrap();
    let written: Key = "F major".parse().unwrap();
    let base = analyse(
        &renderer
            .render(&score, &spec(100.0, 0, Family::Piano, Mood::Calm), beat)
            .unwrap(),
    );
    let mut agree = 0;
    for t in -6..=5 {
        let a = analyse(
            &renderer
                .render(&score, &spec(100.0, t, Family::Piano, Mood::Calm), beat)
                .unwrap(),
        );
        // The transposition is visible in the pitch-class profile: the base profile rolled
        // by t semitones is the best match (Pearson) of the transposed render's profile.
        let centred = |p: &[f32; 12]| {
            let m = p.iter().sum::<f32>() / 12.0;
            p.map(|x| x - m)
        };
        let (pa, pb) = (centred(&a.profile), centred(&base.profile));
        let corr = |shift: i32| -> f32 {
            (0..12)
                .map(|i| pa[i] * pb[(i as i32 - shift).rem_euclid(12) as usize])
                .sum()
        };
        let best = (0..12)
            .max_by(|&x, &y| corr(x).total_cmp(&corr(y)))
            .unwrap();
        assert_eq!(best, t.rem_euclid(12), "transposed by {t}");
        if a.key == written.transpose(t) {
            agree += 1;
        }
    }
    // The engine's key estimate agrees with the rendered key for most transpositions (on
    // TimGM6mb's piano it gets all 12).
    assert!(
        agree >= 10,
        "engine key = rendered key for only {agree} of 12"
    );
}

#[test]
fn manifest_rows_are_checked_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Two real recordings (renders of the chorale), written as WAV.
    let (score, beat) = chorale();
    let renderer = Renderer::new(&soundfont(), 22_050, 9.0).unwrap();
    for (name, bpm) in [("a.wav", 120.0), ("b.wav", 80.0)] {
        let samples = renderer
            .render(&score, &spec(bpm, 0, Family::Strings, Mood::Calm), beat)
            .unwrap();
        let mut w = hound::WavWriter::create(
            d.join(name),
            hound::WavSpec {
                channels: 1,
                sample_rate: 22_050,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            },
        )
        .unwrap();
        for s in samples {
            w.write_sample((s * 32767.0) as i16).unwrap();
        }
        w.finalize().unwrap();
    }
    std::fs::write(d.join("notes.txt"), "not audio").unwrap();
    std::fs::write(
        d.join("labels.csv"),
        "path,genre,mood,instrument,era,tempo,key\n\
         a.wav,chorale,calm,strings,baroque,,\n\
         missing.wav,chorale,,,,,\n\
         b.wav,vaporwave,,,,,\n\
         b.wav,Chorale,,Strings,,80,F major\n\
         notes.txt,,,,,,\n\
         a.wav,,,,,,\n\
         b.wav,,,,,fast,\n",
    )
    .unwrap();
    let opts = BuildOptions {
        out: d.join("ds"),
        pieces: None,
        manifest: Some(d.join("labels.csv")),
        soundfont: PathBuf::new(),
        ..options(d)
    };
    let report = dataset::build(&opts).unwrap();
    let errors: Vec<(usize, String)> = report
        .row_errors
        .iter()
        .map(|e| (e.row, e.reason.clone()))
        .collect();
    let rows: Vec<usize> = errors.iter().map(|e| e.0).collect();
    assert_eq!(rows, [3, 4, 6, 7, 8], "{errors:#?}");
    assert!(errors[0].1.contains("file not found"));
    assert!(errors[1].1.contains("unknown genre \"vaporwave\""));
    assert!(
        errors[2].1.contains("not a supported audio file"),
        "{}",
        errors[2].1
    );
    assert!(
        errors[3]
            .1
            .contains("duplicate path (first listed in row 2)")
    );
    assert!(errors[4].1.contains("duplicate path") || errors[4].1.contains("tempo"));

    // The good rows are used; an empty tempo/key is filled by the engine.
    assert_eq!(report.records.len(), 2);
    let a = report.records.iter().find(|r| r.title == "a.wav").unwrap();
    let b = report.records.iter().find(|r| r.title == "b.wav").unwrap();
    assert_eq!(a.source, Source::Manifest);
    assert_eq!(
        (a.tempo_source.as_str(), a.key_source.as_str()),
        ("estimated", "estimated")
    );
    assert!(tempo_agrees(120.0, a.tempo.unwrap()), "{:?}", a.tempo);
    assert!(a.key.is_some());
    assert_eq!((b.tempo, b.key.as_deref()), (Some(80.0), Some("F major")));
    assert_eq!(b.genre.as_deref(), Some("chorale"));
    assert_eq!(b.instrument.as_deref(), Some("strings"));
    assert_eq!(b.windows, 3);

    // The CLI reports each row and exits with 2.
    let out = Command::new(env!("CARGO_BIN_EXE_kindred-train"))
        .args([
            "dataset",
            "-q",
            "--seed",
            "7",
            "--splits",
            "1,1,1",
            "--manifest",
        ])
        .arg(d.join("labels.csv"))
        .arg("--out")
        .arg(d.join("ds"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for row in [3, 4, 6, 7, 8] {
        assert!(
            stderr.contains(&format!("manifest row {row}: ")),
            "{stderr}"
        );
    }
    assert!(
        stderr.contains("2 tracks (0 built, 2 already done)"),
        "{stderr}"
    );
}

#[test]
fn cli_help_lists_dataset() {
    let out = Command::new(env!("CARGO_BIN_EXE_kindred-train"))
        .args(["dataset", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for flag in [
        "--pieces",
        "--manifest",
        "--soundfont",
        "--seed",
        "--per-factor",
        "--splits",
    ] {
        assert!(text.contains(flag), "{text}");
    }
}

#[test]
fn a_score_keeps_its_identity_in_a_larger_export() {
    // The same chorale is piece 3 of one export and piece 42 of a larger one.
    let key = |id: &str| dataset::unit_key(&Source::Music21, id, &format!("midi/{id}.mid"));
    assert_eq!(key("0003_bach_bwv66_6"), key("0042_bach_bwv66_6"));
    assert_ne!(key("0003_bach_bwv66_6"), key("0003_bach_bwv67_4"));
    assert_eq!(
        dataset::unit_key(&Source::Manifest, "user_r00007_take", "/music/take.wav"),
        Some("/music/take.wav".to_string())
    );
    assert_eq!(dataset::unit_key(&Source::Real, "p", "x.flac"), None);
}
