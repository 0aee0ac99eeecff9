//! Times the `bliss-audio` 0.13.0 song analysis, as a baseline for Kindred's
//! indexing speed.
//!
//! For every audio file it does what bliss does for a song path with its
//! pure-Rust symphonia decoder (`SymphoniaDecoder::song_from_path`): decode,
//! downmix to mono, resample to 22 050 Hz, then compute bliss's features. The
//! two halves are called separately (`Decoder::decode`, then
//! `Song::try_from`, which is all `song_from_path` does) so the audio length
//! can be read from the decoded samples: the symphonia decoder leaves
//! `Song::duration` at zero.
//!
//! It prints the number of files, the seconds of audio, the wall time, the
//! seconds per file and the "× real time" factor (audio seconds / wall
//! seconds), plus the process CPU time, since bliss runs each song's feature
//! extractors on threads of its own even with `--jobs 1`.
//!
//! It is a separate program, in a workspace of its own, because bliss is
//! GPL-3.0: it must never be linked into Kindred's binaries, and the issue asks
//! for the baseline as a separate program.
//!
//! Usage: `bliss-baseline [--jobs N] PATH...`, where each PATH is an audio file
//! or a folder searched recursively for wav, flac, mp3 and ogg files.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use bliss_audio::{
    BlissResult, NUMBER_FEATURES, Song,
    decoder::{Decoder as _, symphonia::SymphoniaDecoder},
};

/// Extensions looked for when walking a folder.
const EXTENSIONS: [&str; 4] = ["wav", "flac", "mp3", "ogg"];
/// The rate bliss resamples every song to before its analysis.
const BLISS_SAMPLE_RATE: f64 = 22_050.0;

const USAGE: &str = "usage: bliss-baseline [--jobs N] PATH...\n\
    Analyses every audio file (wav, flac, mp3, ogg; folders are walked recursively)\n\
    with bliss-audio 0.13.0 on N worker threads (default 1) and prints the timing.";

/// What one song's analysis took.
struct Timing {
    audio_s: f64,
    decode: Duration,
    analysis: Duration,
}

fn main() -> Result<()> {
    let (jobs, inputs) = parse_args()?;
    let mut files = Vec::new();
    for input in &inputs {
        collect(input, &mut files).with_context(|| format!("reading {}", input.display()))?;
    }
    files.sort();
    files.dedup();
    if files.is_empty() {
        bail!("no wav, flac, mp3 or ogg files found");
    }

    let cpu_start = cpu_time();
    let start = Instant::now();
    let results = run(&files, jobs);
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_time() - cpu_start;

    let (mut audio_s, mut decode, mut analysis, mut ok) = (0.0, Duration::ZERO, Duration::ZERO, 0);
    for (path, result) in files.iter().zip(&results) {
        match result {
            Ok(t) => {
                ok += 1;
                audio_s += t.audio_s;
                decode += t.decode;
                analysis += t.analysis;
            }
            Err(e) => eprintln!("FAILED {}: {e}", path.display()),
        }
    }
    let failed = files.len() - ok;

    println!("bliss-audio 0.13.0 (symphonia decoder, {NUMBER_FEATURES} features), {jobs} job(s)");
    println!("files:           {ok} analysed, {failed} failed");
    println!("audio:           {audio_s:.1} s");
    println!("wall time:       {wall:.3} s");
    if ok > 0 {
        println!("per file:        {:.3} s", wall / ok as f64);
        println!("speed:           {:.1} × real time", audio_s / wall);
    }
    println!("CPU time:        {cpu:.3} s (user + system, all threads)");
    println!(
        "summed per file: {:.3} s decode + resample, {:.3} s analysis",
        decode.as_secs_f64(),
        analysis.as_secs_f64()
    );
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

fn parse_args() -> Result<(usize, Vec<PathBuf>)> {
    let mut jobs = 1;
    let mut paths = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("-h" | "--help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            Some("-j" | "--jobs") => {
                let n = args.next().context("--jobs needs a number")?;
                jobs = n
                    .to_string_lossy()
                    .parse()
                    .context("--jobs needs a number")?;
            }
            Some(s) if s.starts_with("--jobs=") => {
                jobs = s["--jobs=".len()..]
                    .parse()
                    .context("--jobs needs a number")?;
            }
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    if jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    if paths.is_empty() {
        bail!("{USAGE}");
    }
    Ok((jobs, paths))
}

/// Adds `path` if it is a file, or the audio files under it if it is a folder.
fn collect(path: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    if !path.is_dir() {
        path.metadata()?; // fail early on a path that does not exist
        files.push(path.to_owned());
        return Ok(());
    }
    for entry in std::fs::read_dir(path)? {
        let entry = entry?.path();
        let is_audio = entry
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)));
        if entry.is_dir() || is_audio {
            collect(&entry, files)?;
        }
    }
    Ok(())
}

/// Analyses `files` on `jobs` threads, each taking the next file as it becomes free.
fn run(files: &[PathBuf], jobs: usize) -> Vec<BlissResult<Timing>> {
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, BlissResult<Timing>)> = thread::scope(|s| {
        let workers: Vec<_> = (0..jobs.min(files.len()))
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = files.get(i) else { break done };
                        done.push((i, analyse(path)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker panicked"))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Exactly `SymphoniaDecoder::song_from_path(path)`, timed in its two halves.
fn analyse(path: &Path) -> BlissResult<Timing> {
    let start = Instant::now();
    let decoded = SymphoniaDecoder::decode(path)?; // decode, mono, 22 050 Hz
    let audio_s = decoded.sample_array.len() as f64 / BLISS_SAMPLE_RATE;
    let decode = start.elapsed();
    let song = Song::try_from(decoded)?; // the feature extraction
    std::hint::black_box(&song.analysis);
    Ok(Timing {
        audio_s,
        decode,
        analysis: start.elapsed() - decode,
    })
}

/// User + system CPU seconds of the whole process, all threads included.
fn cpu_time() -> f64 {
    // SAFETY: getrusage only writes into the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
