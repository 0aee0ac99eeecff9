//! The real-music corpus builder and its relative labels, on a fixture made at test time:
//! generated audio laid out like an extracted Debian package (a theme, a tracker module, a
//! clip that is too short, a corrupt Ogg, a sound effect, a `.pk3` (zip) holding music, a DEP-5
//! copyright file), packed into
//! a `.deb` with `dpkg-deb --build`, so nothing is downloaded.
//!
//! Needs `dpkg-deb` (dpkg), `openmpt123` and `rubberband` (rubberband-cli); `cargo xtask test`
//! installs them.

use std::f32::consts::PI;
use std::path::{Path, PathBuf};
use std::process::Command;

use kindred_engine::FrontEndConfig;
use kindred_engine::analysis::Analyzer;
use kindred_trainer::data::batcher::TrackSet;
use kindred_trainer::data::corpus::{self, FileOutcome, Package, PackageList};
use kindred_trainer::data::dataset::{DatasetFile, Record, Source};
use kindred_trainer::data::plan::Split;
use kindred_trainer::data::real::{self, RealOptions, Transform};
use kindred_trainer::data::triplets::{Item, MARGIN, Vocabulary, mine_semi_hard};
use kindred_trainer::evaluation::{HeldOut, Records};
use rand::{Rng, SeedableRng};

const SR: u32 = 22_050;
const PACKAGE: &str = "kindred-fixture-music";

fn require(tool: &str, package: &str) {
    let found = Command::new(tool).arg("--help").output().is_ok();
    assert!(
        found,
        "`{tool}` is missing: these tests run it; `apt-get install {package}`"
    );
}

fn write_wav(path: &Path, samples: &[f32]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SR,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

/// Decaying 1 kHz clicks at `bpm` (a louder one on each bar's first beat).
fn clicks(bpm: f32, seconds: f32) -> Vec<f32> {
    let n = (seconds * SR as f32) as usize;
    let beat = (60.0 / bpm * SR as f32) as usize;
    (0..n)
        .map(|i| {
            let k = i / beat;
            let t = (i % beat) as f32 / SR as f32;
            let amp = if k.is_multiple_of(4) { 0.8 } else { 0.5 };
            amp * (-t * 60.0).exp() * (2.0 * PI * 1000.0 * t).sin()
        })
        .collect()
}

/// I–IV–V–I in C major, one chord a second, each note with three harmonics; transposed by
/// `shift` semitones.
fn chords(seconds: f32, shift: i32) -> Vec<f32> {
    let progression: [[i32; 3]; 4] = [[0, 4, 7], [5, 9, 12], [7, 11, 14], [0, 4, 7]];
    let n = (seconds * SR as f32) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / SR as f32;
            let chord = progression[(t as usize) % 4];
            let mut v = 0.0;
            for &note in &chord {
                let f = 261.63 * 2f32.powf((note + shift) as f32 / 12.0);
                for h in 1..=3 {
                    v += (2.0 * PI * f * h as f32 * t).sin() / h as f32;
                }
            }
            0.08 * v
        })
        .collect()
}

/// A ProTracker module (4 channels, `M.K.`): one sine sample, a note every 4 rows, 4 orders of
/// one pattern at speed 6 / 125 BPM = 30.7 s.
fn tracker_module() -> Vec<u8> {
    let mut m = vec![0u8; 1084];
    m[..7].copy_from_slice(b"fixture");
    let sample_len = 4000usize;
    let h = 20;
    m[h..h + 4].copy_from_slice(b"sine");
    m[h + 22..h + 24].copy_from_slice(&((sample_len / 2) as u16).to_be_bytes());
    m[h + 25] = 64; // volume
    m[h + 28..h + 30].copy_from_slice(&1u16.to_be_bytes()); // no loop
    m[950] = 4;
    m[951] = 127;
    m[1080..1084].copy_from_slice(b"M.K.");
    let periods = [428u16, 339, 285, 339]; // C, E, G, E
    for row in 0..64 {
        for ch in 0..4 {
            let mut cell = [0u8; 4];
            if ch == 0 && row % 4 == 0 {
                let p = periods[(row / 4) % 4];
                cell = [(p >> 8) as u8 & 0x0f, p as u8, 1 << 4, 0];
            }
            m.extend_from_slice(&cell);
        }
    }
    m.extend((0..sample_len).map(|i| ((2.0 * PI * i as f32 / 32.0).sin() * 100.0) as i8 as u8));
    m
}

/// CRC-32 (IEEE, reflected), as zip stores it.
fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |mut c, &b| {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0xedb8_8320
            } else {
                c >> 1
            };
        }
        c
    })
}

/// A zip archive (`.pk3`) of `entries`, stored without compression.
fn zip(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, data) in entries {
        let (crc, size, offset) = (crc32(data), data.len() as u32, out.len() as u32);
        let common = |v: &mut Vec<u8>| {
            for x in [20u16, 0, 0, 0, 0] {
                v.extend(x.to_le_bytes());
            }
            for x in [crc, size, size] {
                v.extend(x.to_le_bytes());
            }
            v.extend((name.len() as u16).to_le_bytes());
            v.extend(0u16.to_le_bytes());
        };
        out.extend(0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend(name.as_bytes());
        out.extend(data);
        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend(20u16.to_le_bytes());
        common(&mut central);
        for x in [0u16, 0, 0] {
            central.extend(x.to_le_bytes());
        }
        central.extend(0u32.to_le_bytes());
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let (cd_offset, cd_size) = (out.len() as u32, central.len() as u32);
    out.extend(central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    for x in [0u16, 0, entries.len() as u16, entries.len() as u16] {
        out.extend(x.to_le_bytes());
    }
    out.extend(cd_size.to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

const COPYRIGHT: &str = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fixture

Files: *
Copyright: 2019 Fixture Game Team
License: GPL-2+
 This program is free software.

Files: music/theme.wav
Copyright: 2020 Jane Composer <jane@example.org>
License: CC-BY-SA-3.0
";

/// The fixture package at `version`, built as a `.deb` into `debs/`.
fn fixture_deb(dir: &Path, version: &str) -> PathBuf {
    let root = dir.join(format!("root-{version}"));
    let music = root.join("usr/share/games/fixture/music");
    write_wav(
        &music.join("theme.wav"),
        &clicks(120.0, 25.0)
            .iter()
            .zip(chords(25.0, 0))
            .map(|(a, b)| a + b)
            .collect::<Vec<_>>(),
    );
    write_wav(
        &music.join("theme2.wav"),
        &clicks(100.0, 21.0)
            .iter()
            .zip(chords(21.0, 2))
            .map(|(a, b)| a + b)
            .collect::<Vec<_>>(),
    );
    write_wav(&music.join("sting.wav"), &clicks(120.0, 5.0));
    std::fs::write(
        music.join("broken.ogg"),
        b"OggS\0\x02this is not a vorbis stream",
    )
    .unwrap();
    let wav_in_pk3 = dir.join("in-pk3.wav");
    write_wav(&wav_in_pk3, &clicks(90.0, 22.0));
    let data = root.join("usr/share/games/fixture/data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("music.pk3"),
        zip(&[
            (
                "sound/cdtracks/track1.wav",
                std::fs::read(&wav_in_pk3).unwrap(),
            ),
            ("maps/readme.txt", b"not music".to_vec()),
        ]),
    )
    .unwrap();
    let tracker = root.join("usr/share/games/fixture/tracker");
    std::fs::create_dir_all(&tracker).unwrap();
    std::fs::write(tracker.join("tune.mod"), tracker_module()).unwrap();
    write_wav(
        &root.join("usr/share/games/fixture/sounds/explosion.wav"),
        &clicks(300.0, 25.0),
    );
    let doc = root.join("usr/share/doc").join(PACKAGE);
    std::fs::create_dir_all(&doc).unwrap();
    std::fs::write(doc.join("copyright"), COPYRIGHT).unwrap();
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\nMaintainer: Kindred \
             <kindred@example.org>\nDescription: fixture soundtrack\n"
        ),
    )
    .unwrap();
    let debs = dir.join("corpus/debs");
    std::fs::create_dir_all(&debs).unwrap();
    let deb = debs.join(format!("{PACKAGE}_{version}_all.deb"));
    let out = Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group", "-Zgzip"])
        .arg(&root)
        .arg(&deb)
        .output()
        .expect("dpkg-deb runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    deb
}

fn package(version: &str) -> Package {
    Package {
        name: PACKAGE.into(),
        version: version.into(),
        licence: "GPL-2+".into(),
        style: "fixture".into(),
        source: "fixture".into(),
        split: Split::Test,
        folders: Default::default(),
    }
}

fn write_list(dir: &Path, version: &str) -> PathBuf {
    let path = dir.join("real-music.toml");
    std::fs::write(
        &path,
        format!(
            "[[package]]\nname = \"{PACKAGE}\"\nversion = \"{version}\"\nlicence = \"GPL-2+\"\n\
             style = \"fixture\"\nsource = \"fixture\"\nsplit = \"test\"\n\n\
             [package.folders]\n\"usr/share/games/fixture/tracker/\" = \"fixture-tracker\"\n"
        ),
    )
    .unwrap();
    path
}

fn options(dir: &Path) -> RealOptions {
    let mut opts = RealOptions::new(dir);
    opts.packages = write_list(dir, "1.0-1");
    opts.passage_seconds = 9.0;
    opts.passages_per_track = 2;
    opts
}

/// An old (pre-real) `dataset.json` with one rendered record: no `real` field anywhere.
const OLD_DATASET: &str = r#"{"format":"kindred-dataset/1","options":{"out":"x","pieces":null,
"manifest":null,"soundfont":"","seed":0,"per_factor":1,"max_seconds":30.0,"splits":[0.7,0.15,0.15],
"keep_audio":false,"limit":null},"cache_version":1,"records":[{"id":"synth_0","source":"music21",
"piece":"p0","split":"train","genre":"reel","mood":"calm","instrument":"piano","era":"traditional",
"tempo":120.0,"key":"C major","tempo_source":"rendered","key_source":"rendered","spec":null,
"original_key":"C major","audio_source":"p0.mid","title":"t","composer":"c","cache":"cache/none.kfc",
"windows":0,"seconds":1.0,"estimated_tempo":120.0,"estimated_key":"C major","fingerprint":"f"}],
"row_errors":[],"failures":[]}"#;

#[test]
fn builder_selects_decodes_records_provenance_and_resumes() {
    require("dpkg-deb", "dpkg");
    require("openmpt123", "openmpt123");
    require("rubberband", "rubberband-cli");
    let dir = tempfile::tempdir().unwrap();
    fixture_deb(dir.path(), "1.0-1");
    std::fs::write(dir.path().join("dataset.json"), OLD_DATASET).unwrap();
    let opts = options(dir.path());

    let report = real::build(&opts).unwrap();
    assert_eq!(report.corpus.packages.len(), 1);
    assert_eq!(report.corpus.built, 1);
    let p = &report.corpus.packages[0];
    assert_eq!(p.effect_files, 1, "sounds/explosion.wav is a sound effect");
    let tracks: Vec<_> = p.tracks().collect();
    assert_eq!(tracks.len(), 4, "{:#?}", p.outcomes);
    let skipped: Vec<&str> = p
        .outcomes
        .iter()
        .filter_map(|o| match o {
            FileOutcome::Skipped { path, reason } => {
                assert!(reason.contains("shorter than 20 s"), "{reason}");
                Some(path.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(skipped, ["usr/share/games/fixture/music/sting.wav"]);
    let failed: Vec<&str> = p
        .outcomes
        .iter()
        .filter_map(|o| match o {
            FileOutcome::Failed { path, .. } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(failed, ["usr/share/games/fixture/music/broken.ogg"]);

    let theme = tracks
        .iter()
        .find(|t| t.path.ends_with("theme.wav"))
        .unwrap();
    assert_eq!(theme.package, PACKAGE);
    assert_eq!(theme.version, "1.0-1");
    assert_eq!(theme.path, "usr/share/games/fixture/music/theme.wav");
    assert_eq!(theme.licence, "CC-BY-SA-3.0");
    assert_eq!(theme.attribution, "2020 Jane Composer <jane@example.org>");
    assert_eq!(theme.source, "fixture");
    assert!((theme.seconds - 25.0).abs() < 0.01, "{}", theme.seconds);
    let tune = tracks
        .iter()
        .find(|t| t.path.ends_with("tune.mod"))
        .unwrap();
    assert!(tune.tracker);
    assert_eq!(tune.path, "usr/share/games/fixture/tracker/tune.mod");
    assert_eq!(
        tune.source, "fixture-tracker",
        "the folder's own source label"
    );
    let in_pk3 = tracks.iter().find(|t| t.path.contains(".pk3!")).unwrap();
    assert_eq!(
        in_pk3.path,
        "usr/share/games/fixture/data/music.pk3!sound/cdtracks/track1.wav"
    );
    assert!((in_pk3.seconds - 22.0).abs() < 0.01, "{}", in_pk3.seconds);
    let theme2 = tracks
        .iter()
        .find(|t| t.path.ends_with("theme2.wav"))
        .unwrap();
    assert_eq!(
        (theme2.licence.as_str(), theme2.source.as_str()),
        ("GPL-2+", "fixture")
    );
    assert_eq!(tune.licence, "GPL-2+");
    assert_eq!(tune.attribution, "2019 Fixture Game Team");
    assert!(
        (tune.seconds - 30.72).abs() < 0.5,
        "one pass of 4 × 64 rows at speed 6 / 125 BPM: {} s",
        tune.seconds
    );
    let wav = hound::WavReader::open(dir.path().join("corpus").join(&theme.audio)).unwrap();
    assert_eq!(
        (
            wav.spec().sample_rate,
            wav.spec().channels,
            wav.spec().bits_per_sample
        ),
        (SR, 1, 16)
    );
    assert!(
        !dir.path().join("corpus/extract").join(PACKAGE).exists(),
        "the extracted tree is removed when the package is done"
    );

    // Passages: 25 s, 21 s, 22 s and 30.7 s → 2 passages of 9 s each; each passage: the
    // original, 2 tempo and 2 pitch copies.
    let records = &report.records;
    assert_eq!(records.len(), 8 * 5, "{:?}", report.failures);
    assert!(report.failures.is_empty());
    for r in records {
        let l = r.real.as_ref().unwrap();
        assert_eq!(r.source, Source::Real);
        assert_eq!(r.split, Split::Test);
        assert!(matches!(
            r.genre.as_deref(),
            Some("fixture" | "fixture-tracker")
        ));
        assert!(r.mood.is_none() && r.instrument.is_none() && r.era.is_none());
        assert!(
            r.tempo.is_none() && r.key.is_none(),
            "tempo and key are relative"
        );
        assert_eq!(l.version, "1.0-1");
        assert!(
            l.tempo_ratio == 1.0 || l.semitones == 0,
            "a copy changes tempo or key, never both"
        );
        let expected = 9.0 / l.tempo_ratio as f64;
        assert!(
            (r.seconds - expected).abs() < 0.1,
            "{} s, ratio {}",
            r.seconds,
            l.tempo_ratio
        );
        assert_eq!(r.windows, (r.seconds / 3.0) as u32);
    }
    let theme_original = records
        .iter()
        .find(|r| r.audio_source.ends_with("theme.wav") && r.id.ends_with("_orig"))
        .unwrap();
    assert!(
        (theme_original.estimated_tempo - 120.0).abs() < 4.0,
        "{}",
        theme_original.estimated_tempo
    );

    // dataset.json: the old synthetic record kept beside the real ones; the card credits.
    let file = DatasetFile::load(dir.path()).unwrap();
    assert_eq!(file.records.len(), 41);
    assert!(
        file.records
            .iter()
            .any(|r| r.id == "synth_0" && r.source == Source::Music21)
    );
    let card = std::fs::read_to_string(dir.path().join("REAL_DATASET_CARD.md")).unwrap();
    assert!(card.contains("2020 Jane Composer"), "{card}");
    assert!(
        card.contains(
            "**failed** kindred-fixture-music: `usr/share/games/fixture/music/broken.ogg`"
        )
    );
    assert!(
        card.contains("skipped kindred-fixture-music: `usr/share/games/fixture/music/sting.wav`")
    );

    // Resume: nothing is rebuilt; the same records come back.
    let again = real::build(&opts).unwrap();
    assert_eq!((again.corpus.built, again.built, again.skipped), (0, 0, 40));
    let ids = |rs: &[Record]| {
        rs.iter()
            .map(|r| (r.id.clone(), r.cache.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&again.records), ids(records));

    // The held-out real split gives source-genre, tempo and key triplets (and none in the
    // masked dimensions); tempo/key triplets stay inside one passage group.
    let held = HeldOut::load_records(dir.path(), Split::Test, Records::Real).unwrap();
    assert_eq!(held.records.len(), 40);
    let triplets = held.triplets(50, 0);
    for d in 0..6 {
        let n = triplets.iter().filter(|t| t.dimension == d).count();
        if (1..=3).contains(&d) {
            assert_eq!(n, 0, "dimension {d} is masked for real recordings");
        } else {
            assert!(n > 0, "dimension {d} has no triplets");
        }
    }
    for t in triplets.iter().filter(|t| t.dimension >= 4) {
        let g = |i: usize| held.records[i].real.as_ref().unwrap().group.clone();
        assert_eq!(g(t.anchor), g(t.positive));
        assert_eq!(g(t.anchor), g(t.negative));
    }
}

#[test]
fn another_version_is_refused_naming_both() {
    require("dpkg-deb", "dpkg");
    let dir = tempfile::tempdir().unwrap();
    let deb = fixture_deb(dir.path(), "1.0-1");
    let err = corpus::fetch(&package("1.0-2"), deb.parent().unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "package {PACKAGE}: expected version 1.0-2, found "
        )),
        "{err}"
    );
    assert!(err.contains("(version 1.0-1)"), "{err}");
    assert_eq!(
        corpus::fetch(&package("1.0-1"), deb.parent().unwrap()).unwrap(),
        deb
    );

    // The same through the builder, which stops before touching anything else.
    let mut opts = options(dir.path());
    opts.packages = write_list(dir.path(), "1.0-2");
    let err = real::build(&opts).unwrap_err().to_string();
    assert!(
        err.contains("expected version 1.0-2") && err.contains("version 1.0-1"),
        "{err}"
    );
    assert!(
        !dir.path()
            .join("corpus/packages")
            .join(format!("{PACKAGE}.json"))
            .exists()
    );
}

#[test]
fn pinned_list_is_the_main_set_plus_trackers_with_held_out_packages() {
    let list = PackageList::load(&corpus::default_package_list()).unwrap();
    assert_eq!(list.packages.len(), 20);
    let test: Vec<&Package> = list
        .packages
        .iter()
        .filter(|p| p.split == Split::Test)
        .collect();
    assert!(test.len() >= 3);
    let styles: std::collections::BTreeSet<&str> = test.iter().map(|p| p.style.as_str()).collect();
    assert_eq!(
        styles.len(),
        test.len(),
        "held-out packages have different styles"
    );
    assert!(
        list.packages
            .iter()
            .all(|p| !p.version.is_empty() && !p.licence.is_empty())
    );
    assert!(
        list.packages
            .iter()
            .any(|p| p.name == "widelands-data" && p.version == "2:1.1-3")
    );
}

#[test]
fn selection_and_copyright_rules() {
    assert!(corpus::in_effect_folder(
        "usr/share/games/x/sounds/boom.ogg"
    ));
    assert!(!corpus::in_effect_folder(
        "usr/share/games/x/sounds/music/theme.ogg"
    ));
    assert!(!corpus::in_effect_folder(
        "usr/share/games/x/music/sounds.ogg"
    ));
    assert!(corpus::in_effect_folder(
        "usr/share/games/x/data.pk3!sound/misc/hit.ogg"
    ));
    assert!(!corpus::in_effect_folder(
        "usr/share/games/x/x-music.pk3!sound/cdtracks/1.ogg"
    ));
    assert!(corpus::glob("music/*.ogg", "music/a.ogg"));
    assert!(!corpus::glob("music/*.ogg", "sfx/a.ogg"));
    let c = corpus::Copyright::parse(COPYRIGHT);
    assert_eq!(c.stanzas.len(), 2);
    assert_eq!(
        c.of("usr/share/games/fixture/music/theme.wav", "x"),
        (
            "CC-BY-SA-3.0".into(),
            "2020 Jane Composer <jane@example.org>".into()
        )
    );
    assert_eq!(
        c.of("a.pk3!music/other.ogg", "x"),
        ("GPL-2+".into(), "2019 Fixture Game Team".into())
    );
    let free = corpus::Copyright::parse(
        "This is the game.\nCopyright (C) 1999 Someone Else\n\n   THE WORK IS PROTECTED BY \
         COPYRIGHT AND/OR OTHER APPLICABLE LAW.\n   copyrightable work\n",
    );
    assert_eq!(
        free.of("x.ogg", "GPL-3+"),
        ("GPL-3+".into(), "Copyright (C) 1999 Someone Else".into())
    );
    assert_eq!(
        real::passage_starts(25.0, 9.0, 2),
        vec![16.0 / 3.0, 32.0 / 3.0]
    );
    assert_eq!(real::passage_starts(8.0, 9.0, 2), vec![0.0]);
    // At 120 BPM both ratios differ by more than 5 BPM (and octaves); at 20 BPM neither does.
    assert_eq!(real::tempo_ratios_for(120.0, &[0.8, 1.25]), vec![0.8, 1.25]);
    assert!(real::tempo_ratios_for(20.0, &[0.8, 1.25]).is_empty());
    assert!(
        real::tempo_ratios_for(120.0, &[0.8, 1.25, 0.5]).len() == 2,
        "×½ is a tempo octave"
    );
    for h in 0..200 {
        let s = real::pitch_shifts_for(2, 0, h);
        assert_eq!(s.len(), 2);
        assert!((1..=6).contains(&s[0]) && (-6..=-1).contains(&s[1]));
        assert_ne!((s[0] - s[1]).rem_euclid(12), 0);
    }
}

fn analyse(path: &Path) -> (f32, kindred_engine::key::Key) {
    let a = Analyzer::new(FrontEndConfig::default())
        .analyze(path)
        .unwrap();
    (a.tempo.bpm, a.key.key)
}

#[test]
fn rubberband_stretch_keeps_pitch_and_shift_keeps_tempo() {
    require("rubberband", "rubberband-cli");
    let dir = tempfile::tempdir().unwrap();
    let click = dir.path().join("click.wav");
    write_wav(&click, &clicks(120.0, 24.0));
    let (bpm, _) = analyse(&click);
    assert!(
        (bpm - 120.0).abs() < 2.0,
        "click track estimated at {bpm} BPM"
    );
    for r in [0.8f32, 1.25] {
        let out = dir.path().join(format!("click-{r}.wav"));
        real::rubberband(&click, &out, Transform::Tempo(r)).unwrap();
        let (b, _) = analyse(&out);
        assert!(
            ((b / bpm) / r - 1.0).abs() < 0.03,
            "--tempo {r}: {bpm} → {b} BPM (ratio {})",
            b / bpm
        );
    }
    let chord = dir.path().join("chords.wav");
    write_wav(&chord, &chords(16.0, 0));
    let (chord_bpm, key) = analyse(&chord);
    assert_eq!(key.to_string(), "C major");
    for s in [3, -2, 5] {
        let out = dir.path().join(format!("chords{s}.wav"));
        real::rubberband(&chord, &out, Transform::Pitch(s)).unwrap();
        let (_, k) = analyse(&out);
        assert_eq!(k, key.transpose(s), "--pitch {s}");
        // Time-stretching keeps the key.
        let stretched = dir.path().join(format!("chords-t{s}.wav"));
        real::rubberband(&out, &stretched, Transform::Tempo(1.25)).unwrap();
        assert_eq!(
            analyse(&stretched).1,
            key.transpose(s),
            "--tempo 1.25 after --pitch {s}"
        );
    }
    // Pitch shifting keeps the tempo (of the clicks).
    let out = dir.path().join("click-k4.wav");
    real::rubberband(&click, &out, Transform::Pitch(4)).unwrap();
    let (b, _) = analyse(&out);
    assert!((b / bpm - 1.0).abs() < 0.03, "--pitch 4: {bpm} → {b} BPM");
    let _ = chord_bpm;
}

/// A synthetic record with all six labels, reusing an existing feature cache.
fn synthetic(id: &str, cache: &str, variant: usize) -> Record {
    let pick = |a: &str, b: &str| {
        if variant.is_multiple_of(2) {
            a.to_string()
        } else {
            b.to_string()
        }
    };
    Record {
        id: id.into(),
        source: Source::Music21,
        piece: format!("piece{variant}"),
        split: Split::Test,
        genre: Some(pick("reel", "chorale")),
        mood: Some(pick("calm", "tender")),
        instrument: Some(pick("piano", "organ")),
        era: Some(pick("baroque", "traditional")),
        tempo: Some(if variant.is_multiple_of(2) {
            100.0
        } else {
            140.0
        }),
        key: Some(pick("C major", "D major")),
        tempo_source: "rendered".into(),
        key_source: "rendered".into(),
        spec: None,
        original_key: None,
        audio_source: String::new(),
        title: String::new(),
        composer: String::new(),
        cache: cache.into(),
        windows: 3,
        seconds: 9.0,
        estimated_tempo: 0.0,
        estimated_key: String::new(),
        fingerprint: String::new(),
        real: None,
    }
}

#[test]
fn mixed_sampler_masks_real_items_and_keeps_relative_labels_in_their_group() {
    require("dpkg-deb", "dpkg");
    require("openmpt123", "openmpt123");
    require("rubberband", "rubberband-cli");
    let dir = tempfile::tempdir().unwrap();
    fixture_deb(dir.path(), "1.0-1");
    let report = real::build(&options(dir.path())).unwrap();
    let cache = report.records[0].cache.clone();
    let mut file = DatasetFile::load(dir.path()).unwrap();
    for v in 0..8 {
        file.records
            .push(synthetic(&format!("synth{v}"), &cache, v));
    }
    let mut vocab = Vocabulary::default();
    let mut set = TrackSet::load(dir.path(), &file, Split::Test, &mut vocab, 6).unwrap();
    let groups: Vec<Option<String>> = set
        .tracks
        .iter()
        .map(|t| {
            file.records
                .iter()
                .find(|r| r.id == t.id)
                .and_then(|r| r.real.as_ref().map(|l| l.group.clone()))
        })
        .collect();
    let group = |t: usize| groups[t].clone();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut real_share = Vec::new();
    for fraction in [0.0, 0.5, 1.0] {
        set.set_real_fraction(fraction);
        let (mut real_items, mut items_total) = (0, 0);
        let mut real_anchors = [0usize; 6];
        for _ in 0..40 {
            let batch = set.sample(24, &mut rng);
            items_total += batch.len();
            real_items += batch.iter().filter(|(t, _)| set.is_real(*t)).count();
            let before = real_anchors;
            for (d, real_anchor) in real_anchors.iter_mut().enumerate() {
                let items: Vec<Item> = batch
                    .iter()
                    .map(|&(t, _)| Item {
                        track: t,
                        label: set.tracks[t].labels[d],
                    })
                    .collect();
                let n = items.len();
                let dist: Vec<f32> = (0..n * n).map(|_| rng.random_range(0.0..1.0)).collect();
                for t in mine_semi_hard(&dist, &items, MARGIN, &mut rng) {
                    let (a, p, q) = (batch[t.anchor].0, batch[t.positive].0, batch[t.negative].0);
                    if (1..=3).contains(&d) {
                        assert!(
                            !set.is_real(a) && !set.is_real(p) && !set.is_real(q),
                            "a real recording in masked dimension {d}"
                        );
                    }
                    if d >= 4 && set.is_real(a) {
                        *real_anchor += 1;
                        assert_eq!(
                            group(a),
                            group(p),
                            "dimension {d}: positive of another group"
                        );
                        assert_eq!(
                            group(a),
                            group(q),
                            "dimension {d}: negative of another group"
                        );
                    }
                    if d >= 4 && !set.is_real(a) {
                        assert!(!set.is_real(p) && !set.is_real(q));
                    }
                    if d == 0 && set.is_real(a) {
                        *real_anchor += 1;
                    }
                }
            }
            if fraction == 1.0 {
                // A real tempo or key pair brings a negative of its own group: every batch
                // teaches both, however many passages the dataset holds.
                for d in [4, 5] {
                    assert!(
                        real_anchors[d] > before[d],
                        "a batch without a real triplet in dimension {d}"
                    );
                }
            }
        }
        real_share.push(real_items as f64 / items_total as f64);
        if fraction > 0.0 {
            for d in [0, 4, 5] {
                assert!(
                    real_anchors[d] > 0,
                    "fraction {fraction}: no real anchor in {d}"
                );
            }
        }
    }
    assert_eq!(real_share[0], 0.0, "fraction 0 draws no real recording");
    assert!(
        real_share[0] < real_share[1] && real_share[1] < real_share[2],
        "{real_share:?}"
    );
    assert!(real_share[2] >= 0.45, "{real_share:?}");
}
