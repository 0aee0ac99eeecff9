//! Accuracy of the tempo and key estimates on a synthetic test set with known truth (SPEC §1,
//! "Also from the features").
//!
//! Every item is synthesised here ([`common`]), cut into non-overlapping 3 s windows from sample
//! 0 like the indexer does, run through the real [`FrontEnd`], and estimated per track with the
//! accumulators. Run with `--nocapture` to see the figures:
//!
//! ```text
//! cargo test --release -p kindred-engine --test accuracy -- --nocapture
//! ```

mod common;

use common::{Material, Pattern, Timbre};
use kindred_engine::FrontEndConfig;
use kindred_engine::features::{Features, FrontEnd};
use kindred_engine::key::{Key, KeyAccumulator, KeyEstimator, KeyProfile, Mode};
use kindred_engine::tempo::{TempoAccumulator, TempoEstimator};
use rayon::prelude::*;

/// Length of every test item: 12 s = 4 windows.
const SECONDS: f64 = 12.0;

/// Tempo tolerance for "correct" (the MIREX Accuracy1 convention).
const TEMPO_TOL: f64 = 0.04;

/// Runs every window of `signal` through the front end, calling `each` with the features.
fn for_windows(
    front: &mut FrontEnd,
    feats: &mut Features,
    signal: &[f32],
    mut each: impl FnMut(&Features),
) {
    let n = front.config().window_samples;
    for window in signal.chunks_exact(n) {
        front.compute(window, feats).expect("front end");
        each(feats);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TempoOutcome {
    Correct,
    Octave,
    Other,
}

fn tempo_outcome(estimate: f64, truth: f64) -> TempoOutcome {
    let close = |target: f64| (estimate - target).abs() <= TEMPO_TOL * target;
    if close(truth) {
        TempoOutcome::Correct
    } else if [2.0, 0.5, 3.0, 1.0 / 3.0].iter().any(|&r| close(truth * r)) {
        TempoOutcome::Octave
    } else {
        TempoOutcome::Other
    }
}

/// One tempo test item's outcome.
struct TempoItem {
    truth: f64,
    pattern: Pattern,
    /// Track estimate and its confidence.
    bpm: f64,
    confidence: f32,
    /// Windows whose own (single-window) estimate is within 4 %, and all windows.
    windows_correct: usize,
    windows: usize,
}

/// Per-track tempo estimates of `patterns` at 25 tempi log-spaced over 60..180 BPM (so no tempo
/// is a whole number of frames by design) and `phases` (fraction of a beat before the first
/// beat).
fn tempo_results(patterns: &[Pattern], phases: &[f64]) -> Vec<TempoItem> {
    let cfg = FrontEndConfig::default();
    let estimator = TempoEstimator::new(&cfg);
    let tempi: Vec<f64> = (0..25).map(|i| 60.0 * 3f64.powf(i as f64 / 24.0)).collect();
    let mut items = Vec::new();
    for (ti, &bpm) in tempi.iter().enumerate() {
        for &pattern in patterns {
            let pi = Pattern::ALL.iter().position(|&p| p == pattern).unwrap();
            for (phi, &phase) in phases.iter().enumerate() {
                let seed = 1000 + (ti * 100 + pi * 10 + phi) as u64;
                items.push((bpm, pattern, phase, seed));
            }
        }
    }
    items
        .par_iter()
        .map_init(
            || {
                (
                    FrontEnd::new(cfg.clone()),
                    Features::new(&cfg),
                    TempoAccumulator::new(&estimator),
                )
            },
            |(front, feats, acc), &(bpm, pattern, phase, seed)| {
                let signal = common::rhythm(pattern, bpm, phase, SECONDS, seed);
                acc.reset();
                let (mut windows, mut windows_correct) = (0, 0);
                for_windows(front, feats, &signal, |f| {
                    acc.add(f.tempogram.view());
                    let w = estimator.estimate(f.tempogram.view());
                    windows += 1;
                    windows_correct +=
                        (tempo_outcome(w.bpm as f64, bpm) == TempoOutcome::Correct) as usize;
                });
                let est = acc.estimate(&estimator);
                TempoItem {
                    truth: bpm,
                    pattern,
                    bpm: est.bpm as f64,
                    confidence: est.confidence,
                    windows_correct,
                    windows,
                }
            },
        )
        .collect()
}

/// Prints per-pattern figures and the misses; returns (correct, octave, other).
fn tempo_report(results: &[TempoItem]) -> [usize; 3] {
    let mut counts = [0usize; 3];
    let mut rel_errors = Vec::new();
    let mut confidence = [(0.0f32, 0usize); 3];
    for &pattern in &Pattern::ALL {
        let mut c = [0usize; 3];
        for item in results.iter().filter(|r| r.pattern == pattern) {
            let (truth, p, est, conf) = (item.truth, item.pattern, item.bpm, item.confidence);
            let outcome = tempo_outcome(est, truth);
            c[outcome as usize] += 1;
            confidence[outcome as usize].0 += conf;
            confidence[outcome as usize].1 += 1;
            if outcome == TempoOutcome::Correct {
                rel_errors.push(((est - truth) / truth).abs());
            } else {
                println!(
                    "  tempo miss: {:>13} truth {truth:6.2} -> {est:6.2} ({outcome:?}, confidence {conf:.2})",
                    p.name()
                );
            }
        }
        let n: usize = c.iter().sum();
        if n > 0 {
            println!(
                "  tempo {:>13}: {}/{n} within 4%, octave errors {}, other {}",
                pattern.name(),
                c[0],
                c[1],
                c[2]
            );
        }
        for (total, part) in counts.iter_mut().zip(c) {
            *total += part;
        }
    }
    rel_errors.sort_by(f64::total_cmp);
    if let Some(max) = rel_errors.last() {
        let mean = rel_errors.iter().sum::<f64>() / rel_errors.len() as f64;
        println!(
            "  tempo error of the correct estimates: mean {:.2}%, max {:.2}%",
            100.0 * mean,
            100.0 * max
        );
    }
    let windows: usize = results.iter().map(|r| r.windows).sum();
    let windows_correct: usize = results.iter().map(|r| r.windows_correct).sum();
    println!(
        "  tempo per 3 s window (not asserted): {windows_correct}/{windows} within 4% ({:.1}%)",
        100.0 * windows_correct as f64 / windows as f64
    );
    let mean_conf = |(sum, n): (f32, usize)| if n > 0 { sum / n as f32 } else { f32::NAN };
    println!(
        "  tempo mean confidence: correct {:.2}, octave errors {:.2}, other errors {:.2}",
        mean_conf(confidence[0]),
        mean_conf(confidence[1]),
        mean_conf(confidence[2])
    );
    counts
}

/// Patterns whose beat is their fastest strong pulse (metronome, backbeat with quarter-note
/// hats): the tempo is unambiguous, and the estimate must find it (SPEC §1).
#[test]
fn tempo_accuracy() {
    let results = tempo_results(&[Pattern::Click, Pattern::Backbeat], &[0.0, 0.37, 0.71]);
    let counts = tempo_report(&results);
    let total = results.len();
    let pct = 100.0 * counts[0] as f64 / total as f64;
    println!(
        "tempo: {}/{total} within 4% ({pct:.1}%), octave errors {}, other {}",
        counts[0], counts[1], counts[2]
    );
    assert!(pct >= 95.0, "tempo accuracy {pct:.1}% < 95%");
}

/// Patterns with an eighth-note pulse as strong as the beat in the onset envelope (rock beat
/// with eighth-note hats, four-on-the-floor with off-beat hats). Which level is "the" tempo is
/// ambiguous for the tempogram here — the onset envelope (mean dB flux over mel bands) gives a
/// hi-hat almost the weight of a kick, so beats are barely accented — and librosa's prior picks
/// the level nearest 120 BPM. Reported, with octave errors counted separately (MIREX Accuracy 2
/// = within 4 % or an octave error); only Accuracy 2 is asserted.
#[test]
fn tempo_accuracy_subdivided() {
    let results = tempo_results(&[Pattern::Rock, Pattern::FourOnFloor], &[0.0, 0.37]);
    let counts = tempo_report(&results);
    let total = results.len();
    let pct = 100.0 * counts[0] as f64 / total as f64;
    let pct2 = 100.0 * (counts[0] + counts[1]) as f64 / total as f64;
    println!(
        "tempo (subdivided, not asserted): {}/{total} within 4% ({pct:.1}%), octave errors {}, other {}; \
         within 4% or an octave {pct2:.1}%",
        counts[0], counts[1], counts[2]
    );
    assert!(
        pct2 >= 80.0,
        "tempo accuracy 2 on subdivided patterns {pct2:.1}% < 80%"
    );
}

/// One key test item: its truth and the track's pitch-class profiles.
struct KeyItem {
    truth: Key,
    material: Material,
    timbre: Timbre,
    /// Spectral-peak profile (the default method) and chroma frame sum.
    peaks: [f32; 12],
    chroma: [f32; 12],
    /// Windows whose own (single-window) default estimate is exact, and all windows.
    windows_correct: usize,
    windows: usize,
}

/// How an estimated key relates to the truth.
fn key_relation(est: Key, truth: Key) -> &'static str {
    if est == truth {
        "exact"
    } else if est == truth.relative() {
        "relative"
    } else if est == truth.parallel() {
        "parallel"
    } else if est.mode == truth.mode && (est == truth.transpose(7) || est == truth.transpose(5)) {
        "fifth"
    } else {
        "other"
    }
}

/// Per-track pitch-class profiles of the key test set: 24 keys × 3 materials per mode × 4
/// timbres = 288 items, voiced `register` semitones above the base register of
/// [`common::tonal`].
fn key_profiles(register: i32) -> Vec<KeyItem> {
    key_profiles_with(register, &Timbre::ALL)
}

/// [`key_profiles`] with other timbres: 24 keys × 3 materials per mode × `timbres`.
fn key_profiles_with(register: i32, timbres: &[Timbre]) -> Vec<KeyItem> {
    let cfg = FrontEndConfig::default();
    let estimator = KeyEstimator::new(&cfg);
    let mut items = Vec::new();
    for tonic in 0..12 {
        for material in Material::MAJOR.into_iter().chain(Material::MINOR) {
            for &timbre in timbres {
                items.push((tonic, material, timbre));
            }
        }
    }
    items
        .par_iter()
        .map_init(
            || (FrontEnd::new(cfg.clone()), Features::new(&cfg)),
            |(front, feats), &(tonic, material, timbre)| {
                let mode = match material.mode() {
                    common::Mode::Major => Mode::Major,
                    common::Mode::Minor => Mode::Minor,
                };
                let truth = Key::new(tonic as u8, mode);
                let signal = common::tonal(material, tonic, timbre, SECONDS, register);
                let mut acc = KeyAccumulator::for_config(&cfg);
                let (mut windows, mut windows_correct) = (0, 0);
                for_windows(front, feats, &signal, |f| {
                    acc.add(f.chroma.view(), f.power.view());
                    windows += 1;
                    windows_correct += (estimator.estimate(f.power.view()).key == truth) as usize;
                });
                KeyItem {
                    truth,
                    material,
                    timbre,
                    peaks: acc.profile(),
                    chroma: acc.chroma_profile(),
                    windows_correct,
                    windows,
                }
            },
        )
        .collect()
}

/// Scores one (pitch-class source, profile) variant; prints a line and, for the default
/// variant, the breakdown and the misses. Returns the exact count.
fn key_report(
    label: &str,
    results: &[KeyItem],
    chroma: bool,
    profile: KeyProfile,
    detail: bool,
) -> usize {
    let estimator = KeyEstimator::with_profile(&FrontEndConfig::default(), profile);
    let mut relations = std::collections::BTreeMap::<&str, usize>::new();
    let mut by_material = std::collections::BTreeMap::<&str, (usize, usize)>::new();
    let mut by_timbre = std::collections::BTreeMap::<&str, (usize, usize)>::new();
    let (mut major, mut minor) = ((0, 0), (0, 0));
    let (mut conf_ok, mut conf_bad) = ((0.0f32, 0usize), (0.0f32, 0usize));
    for item in results {
        let (truth, material, timbre) = (&item.truth, item.material, item.timbre);
        let est = estimator.estimate_profile(if chroma { &item.chroma } else { &item.peaks });
        let rel = key_relation(est.key, *truth);
        let ok = rel == "exact";
        *relations.entry(rel).or_default() += 1;
        let m = if truth.mode == Mode::Major {
            &mut major
        } else {
            &mut minor
        };
        m.0 += ok as usize;
        m.1 += 1;
        for (map, name) in [
            (&mut by_material, material.name()),
            (&mut by_timbre, timbre.name()),
        ] {
            let e = map.entry(name).or_default();
            e.0 += ok as usize;
            e.1 += 1;
        }
        let c = if ok { &mut conf_ok } else { &mut conf_bad };
        c.0 += est.confidence;
        c.1 += 1;
        if detail && !ok {
            println!(
                "  key miss: {:>20} {:>5} truth {truth} -> {} ({rel}, confidence {:.2})",
                material.name(),
                timbre.name(),
                est.key,
                est.confidence
            );
        }
    }
    let exact = relations.get("exact").copied().unwrap_or(0);
    let errors: Vec<String> = relations
        .iter()
        .filter(|(k, _)| **k != "exact")
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!(
        "  key {label}: {exact}/{} exact ({:.1}%), major {}/{}, minor {}/{}; errors: {}",
        results.len(),
        100.0 * exact as f64 / results.len() as f64,
        major.0,
        major.1,
        minor.0,
        minor.1,
        if errors.is_empty() {
            "none".to_string()
        } else {
            errors.join(", ")
        }
    );
    if detail {
        let fmt = |m: &std::collections::BTreeMap<&str, (usize, usize)>| {
            m.iter()
                .map(|(k, (a, b))| format!("{k} {a}/{b}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!("    by material: {}", fmt(&by_material));
        println!("    by timbre: {}", fmt(&by_timbre));
        let windows: usize = results.iter().map(|r| r.windows).sum();
        let windows_correct: usize = results.iter().map(|r| r.windows_correct).sum();
        println!(
            "    per 3 s window (not asserted): {windows_correct}/{windows} exact ({:.1}%)",
            100.0 * windows_correct as f64 / windows as f64
        );
        let mean = |(s, n): (f32, usize)| if n > 0 { s / n as f32 } else { f32::NAN };
        println!(
            "    mean confidence: correct {:.2}, wrong {:.2}",
            mean(conf_ok),
            mean(conf_bad)
        );
    }
    exact
}

/// Key accuracy with chords voiced G4–F♯5 over a bass an octave lower and scales from C5–B5:
/// the register where a 512-point FFT at 22 050 Hz resolves the notes of a triad (bins ≤ 1.4
/// semitones apart). Asserted on the default estimator; the other variants are printed for
/// comparison (the choice of default in `key.rs` rests on them).
#[test]
fn key_accuracy() {
    let results = key_profiles(12);
    let total = results.len();
    let exact = key_report(
        "[spectral peaks, Krumhansl-Kessler (default)]",
        &results,
        false,
        KeyProfile::KrumhanslKessler,
        true,
    );
    key_report(
        "[spectral peaks, Temperley]",
        &results,
        false,
        KeyProfile::Temperley,
        false,
    );
    key_report(
        "[librosa chroma, Krumhansl-Kessler]",
        &results,
        true,
        KeyProfile::KrumhanslKessler,
        false,
    );
    key_report(
        "[librosa chroma, Temperley]",
        &results,
        true,
        KeyProfile::Temperley,
        false,
    );
    let pct = 100.0 * exact as f64 / total as f64;
    println!("key: {exact}/{total} exact ({pct:.1}%)");
    assert_eq!(KeyProfile::default(), KeyProfile::KrumhanslKessler);
    assert!(pct >= 90.0, "key accuracy {pct:.1}% < 90%");
}

/// The same test set an octave lower (triads G3–F♯4 over G2–F♯3, scales from C4–B4). Here one
/// FFT bin (43 Hz) is 1.5–3 semitones wide and the notes of a triad fall within one window
/// main lobe, so a pure-sine triad's third is not resolvable at all — a limit of the n_fft 512
/// front end, not of the estimator. Reported, not held to 90 %; the assertion only guards the
/// spectral-peak profile's advantage over the chroma here.
#[test]
fn key_accuracy_low_register() {
    let results = key_profiles(0);
    let total = results.len();
    let exact = key_report(
        "[low register, spectral peaks, Krumhansl-Kessler (default)]",
        &results,
        false,
        KeyProfile::KrumhanslKessler,
        false,
    );
    key_report(
        "[low register, spectral peaks, Temperley]",
        &results,
        false,
        KeyProfile::Temperley,
        false,
    );
    let chroma = key_report(
        "[low register, librosa chroma, Krumhansl-Kessler]",
        &results,
        true,
        KeyProfile::KrumhanslKessler,
        false,
    );
    key_report(
        "[low register, librosa chroma, Temperley]",
        &results,
        true,
        KeyProfile::Temperley,
        false,
    );
    let pct = 100.0 * exact as f64 / total as f64;
    println!("key (low register, not asserted): {exact}/{total} exact ({pct:.1}%)");
    assert!(
        exact >= chroma,
        "spectral peaks {exact} < chroma {chroma} in the low register"
    );
}

/// The test set's keys and materials played with harmonic-rich timbres ([`Timbre::HARMONIC_RICH`]:
/// a clarinet-like reed whose 3rd harmonic, an octave and a fifth up, is nearly as strong as its
/// fundamental, and a brass tone whose 2nd–4th harmonics outweigh it). A profile of spectral
/// peaks then carries much of each note's weight on its fifth, which pulls plain
/// Krumhansl–Kessler templates to the dominant key — the bias seen on General MIDI renders of
/// real scores; the estimator's harmonic templates (see `key.rs`) correct it. Held to 90 %.
#[test]
fn key_accuracy_harmonic_rich() {
    let results = key_profiles_with(12, &Timbre::HARMONIC_RICH);
    let total = results.len();
    let exact = key_report(
        "[harmonic-rich timbres, spectral peaks, Krumhansl-Kessler (default)]",
        &results,
        false,
        KeyProfile::KrumhanslKessler,
        false,
    );
    let pct = 100.0 * exact as f64 / total as f64;
    println!("key (harmonic-rich timbres): {exact}/{total} exact ({pct:.1}%)");
    assert!(
        pct >= 90.0,
        "key accuracy with harmonic-rich timbres {pct:.1}% < 90%"
    );
}
