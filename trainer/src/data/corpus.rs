//! The real-music corpus: pinned Debian packages of freely licensed game soundtracks, fetched,
//! unpacked and decoded once into a WAV cache with per-file provenance.
//!
//! ```text
//! CACHE/
//!   debs/<package>_<version>_<arch>.deb     apt-get download (checked against the pin)
//!   extract/<package>/                       dpkg-deb -x (removed when the package is done)
//!   files/<package>/<file id>.json           one outcome per music file: track, skipped, failed
//!   audio/<package>/<file id>.wav            22 050 Hz mono 16-bit, at most `max_seconds`
//!   packages/<package>.json                  the package's done-marker (all outcomes, timings)
//! ```
//!
//! Stages per package: **fetch** (`apt-get download NAME=VERSION` in `debs/`, or a `.deb`
//! already there; its `Version` field must be the pinned one), **extract** (`dpkg-deb -x`),
//! **select** (music files by extension; `.pk3` archives are zip files and are opened with
//! `unzip`; sampled audio inside sound-effect folders is left out), **render** (tracker modules
//! with `openmpt123`, one pass: no repeat), **decode** (the engine's decoder and resampler to
//! 22 050 Hz mono; clips under `min_seconds` are left out, longer files cut at `max_seconds`
//! so that game loops count once), **provenance** (licence and attribution from the package's
//! DEP-5 `copyright` file). Every write is atomic (temporary name + rename), so an interrupted
//! build resumes: a finished package is skipped whole, a finished file inside an unfinished
//! package is skipped too. A file that cannot be decoded is recorded as failed and skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use kindred_engine::decode;
use kindred_engine::resample::StreamResampler;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::plan::Split;
use crate::{Error, Result};

/// The pinned package list shipped with the trainer (`trainer/real-music.toml`).
pub fn default_package_list() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("real-music.toml")
}

/// Extensions of sampled audio the engine decodes.
pub const AUDIO_EXTENSIONS: [&str; 5] = ["ogg", "oga", "mp3", "wav", "flac"];
/// Extensions of tracker modules, rendered with `openmpt123`.
pub const TRACKER_EXTENSIONS: [&str; 4] = ["xm", "mod", "it", "s3m"];
/// Folder names that hold sound effects or voices, not music. Sampled audio with one of these
/// as a folder of its path (case-insensitive) is left out, unless a folder of the path
/// mentions music. Tracker modules are music whatever their folder (ironseed keeps its
/// modules in `sound/`).
pub const EFFECT_FOLDERS: [&str; 9] = [
    "sfx", "sound", "sounds", "effects", "voice", "voices", "speech", "samples", "ambience",
];

/// One pinned package of `real-music.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Package {
    /// Debian package name.
    pub name: String,
    /// Exact Debian version (with epoch, e.g. `2:1.1-3`).
    pub version: String,
    /// Licence summary of its music (the copyright file has the details per file).
    pub licence: String,
    /// Musical style, for the card (the label is `source`).
    pub style: String,
    /// Source label: the genre-like proxy label of its tracks.
    pub source: String,
    /// Train, validation or test (held out whole).
    pub split: Split,
    /// Sub-folders holding a distinct soundtrack: path prefix inside the package → source
    /// label (the longest matching prefix wins over `source`).
    #[serde(default)]
    pub folders: BTreeMap<String, String>,
}

impl Package {
    /// The source label of the file at `path` inside the package.
    pub fn source_of(&self, path: &str) -> &str {
        self.folders
            .iter()
            .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(self.source.as_str(), |(_, label)| label.as_str())
    }
}

/// The list of pinned packages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageList {
    #[serde(rename = "package")]
    pub packages: Vec<Package>,
}

impl PackageList {
    /// Reads and checks a package list: names unique and non-empty, versions given.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
        let list: PackageList = toml::from_str(&text).map_err(|e| Error::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut seen = std::collections::BTreeSet::new();
        for p in &list.packages {
            if p.name.is_empty() || p.version.is_empty() || p.source.is_empty() {
                return Err(Error::Parse {
                    path: path.to_path_buf(),
                    reason: format!(
                        "package {:?}: name, version and source are required",
                        p.name
                    ),
                });
            }
            if !seen.insert(p.name.clone()) {
                return Err(Error::Parse {
                    path: path.to_path_buf(),
                    reason: format!("package {} is listed twice", p.name),
                });
            }
        }
        Ok(list)
    }
}

/// What to fetch and decode.
#[derive(Debug, Clone)]
pub struct CorpusOptions {
    /// Cache directory (see the module doc).
    pub cache: PathBuf,
    /// Clips shorter than this are left out (seconds).
    pub min_seconds: f64,
    /// Longer files are cut here: game music loops, and one pass is what counts (seconds).
    pub max_seconds: f64,
    /// Show a progress bar.
    pub progress: bool,
}

/// A decoded music file with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusTrack {
    /// Stable id: the package and the sanitised path.
    pub id: String,
    pub package: String,
    pub version: String,
    /// Path inside the package (`a/b.pk3!music/c.ogg` for a file inside an archive).
    pub path: String,
    /// Source label (genre proxy).
    pub source: String,
    pub split: Split,
    /// Licence of the file (its DEP-5 stanza, else the package list's summary).
    pub licence: String,
    /// Copyright holders / credits of the file, from the copyright file.
    pub attribution: String,
    /// The decoded WAV, relative to the cache directory.
    pub audio: String,
    /// Seconds kept (after the cut).
    pub seconds: f64,
    /// Seconds of the whole file (at least `seconds`; more when it was cut).
    pub full_seconds: f64,
    /// Rendered from a tracker module.
    pub tracker: bool,
}

/// What became of one music file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum FileOutcome {
    Track(CorpusTrack),
    /// Left out on purpose (too short).
    Skipped {
        path: String,
        reason: String,
    },
    /// Could not be rendered or decoded.
    Failed {
        path: String,
        reason: String,
    },
}

/// A finished package: its outcomes and how long each stage took.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageDone {
    pub package: Package,
    pub deb_bytes: u64,
    pub outcomes: Vec<FileOutcome>,
    /// Sampled-audio files left out because they sit in a sound-effect folder.
    pub effect_files: usize,
    pub fetch_seconds: f64,
    pub extract_seconds: f64,
    pub decode_seconds: f64,
}

impl PackageDone {
    /// The decoded tracks.
    pub fn tracks(&self) -> impl Iterator<Item = &CorpusTrack> {
        self.outcomes.iter().filter_map(|o| match o {
            FileOutcome::Track(t) => Some(t),
            _ => None,
        })
    }
}

/// The outcome of [`build`].
#[derive(Debug, Default)]
pub struct CorpusReport {
    pub packages: Vec<PackageDone>,
    /// Packages built in this run (the others were found done).
    pub built: usize,
}

impl CorpusReport {
    /// Every decoded track, in package order.
    pub fn tracks(&self) -> impl Iterator<Item = &CorpusTrack> {
        self.packages.iter().flat_map(|p| p.tracks())
    }
}

/// Runs an external tool; a missing binary names the Debian package that provides it, a
/// failure quotes its standard error.
pub fn run_tool(cmd: &mut Command, debian_package: &str) -> Result<std::process::Output> {
    let tool = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd.output().map_err(|e| Error::Tool {
        tool: tool.clone(),
        reason: if e.kind() == std::io::ErrorKind::NotFound {
            format!("not found; install it with `apt-get install {debian_package}`")
        } else {
            e.to_string()
        },
    })?;
    if !out.status.success() {
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        return Err(Error::Tool {
            tool,
            reason: format!(
                "`{}` failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(out)
}

/// Builds (or resumes) the corpus of `packages` in `opts.cache`.
pub fn build(packages: &[Package], opts: &CorpusOptions) -> Result<CorpusReport> {
    let mut report = CorpusReport::default();
    let marker_dir = opts.cache.join("packages");
    std::fs::create_dir_all(&marker_dir).map_err(Error::io(&marker_dir))?;
    let bar = if opts.progress {
        let bar = ProgressBar::new(packages.len() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} packages · {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    for package in packages {
        bar.set_message(package.name.clone());
        let marker = marker_dir.join(format!("{}.json", package.name));
        let done = match load_done(&opts.cache, package) {
            Some(d) => d,
            None => {
                let d = build_package(package, opts, &bar)?;
                let json = serde_json::to_vec_pretty(&d)
                    .map_err(|e| Error::Invalid(format!("{}: {e}", marker.display())))?;
                write_atomic(&marker, &json)?;
                let extracted = opts.cache.join("extract").join(&package.name);
                if extracted.exists() {
                    std::fs::remove_dir_all(&extracted).map_err(Error::io(&extracted))?;
                }
                report.built += 1;
                d
            }
        };
        report.packages.push(done);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(report)
}

/// The done-marker of `package` in `cache`, if the package was finished with this very pin.
pub fn load_done(cache: &Path, package: &Package) -> Option<PackageDone> {
    let marker = cache
        .join("packages")
        .join(format!("{}.json", package.name));
    std::fs::read_to_string(marker)
        .ok()
        .and_then(|t| serde_json::from_str::<PackageDone>(&t).ok())
        .filter(|d| d.package == *package)
}

/// Writes `bytes` to `path` atomically (temp file + rename).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(Error::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io(path))
}

/// The `Version` field of a `.deb`.
fn deb_version(deb: &Path) -> Result<String> {
    let out = run_tool(
        Command::new("dpkg-deb").arg("-f").arg(deb).arg("Version"),
        "dpkg",
    )?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The `.deb` of `package` in `debs`: one already there, or downloaded with apt-get. Another
/// version there, or none offered by apt, is an error naming what was expected and found.
pub fn fetch(package: &Package, debs: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(debs).map_err(Error::io(debs))?;
    let prefix = format!("{}_", package.name);
    let present = |debs: &Path| -> Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(debs)
            .map_err(Error::io(debs))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x == "deb")
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
            })
            .collect();
        v.sort();
        Ok(v)
    };
    let check = |debs: Vec<PathBuf>| -> Result<Option<PathBuf>> {
        let mut found = Vec::new();
        for deb in debs {
            let v = deb_version(&deb)?;
            if v == package.version {
                return Ok(Some(deb));
            }
            found.push(format!("{} (version {v})", deb.display()));
        }
        if found.is_empty() {
            Ok(None)
        } else {
            Err(Error::Package {
                package: package.name.clone(),
                reason: format!(
                    "expected version {}, found {}; remove it or pin that version in the package list",
                    package.version,
                    found.join(", ")
                ),
            })
        }
    };
    if let Some(deb) = check(present(debs)?)? {
        return Ok(deb);
    }
    let spec = format!("{}={}", package.name, package.version);
    let download = Command::new("apt-get")
        .args(["download", "-q", &spec])
        .current_dir(debs)
        .output();
    let failed = match download {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        Err(e) => Some(format!("apt-get: {e}")),
    };
    if let Some(stderr) = failed {
        let offered = Command::new("apt-cache")
            .args(["madison", &package.name])
            .output()
            .ok()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .filter_map(|l| l.split('|').nth(1).map(|v| v.trim().to_string()))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let found = if offered.is_empty() {
            "the apt sources offer no such package (add Debian 12 \"bookworm\" main/contrib to the sources and run apt-get update)".to_string()
        } else {
            format!("the apt sources offer version(s) {}", offered.join(", "))
        };
        return Err(Error::Package {
            package: package.name.clone(),
            reason: format!(
                "expected version {}, {found} (apt-get download: {stderr})",
                package.version
            ),
        });
    }
    check(present(debs)?)?.ok_or_else(|| Error::Package {
        package: package.name.clone(),
        reason: format!(
            "apt-get download succeeded but no {prefix}*.deb is in {}",
            debs.display()
        ),
    })
}

/// Unpacks `deb` into `dir` (`dpkg-deb -x` into a temporary folder, then renamed).
pub fn extract(deb: &Path, dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let tmp = dir.with_extension("partial");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(Error::io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(Error::io(&tmp))?;
    run_tool(
        Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tmp),
        "dpkg",
    )?;
    std::fs::rename(&tmp, dir).map_err(Error::io(dir))
}

/// A music file found in an extracted package.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The file on disk (inside `extract/`, or unpacked from a `.pk3`).
    pub file: PathBuf,
    /// Its path inside the package (`x.pk3!inner/path.ogg` for archive members).
    pub path: String,
    pub tracker: bool,
}

fn extension(name: &str) -> String {
    Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Whether sampled audio at `path` (inside the package) is a sound effect by its folders.
pub fn in_effect_folder(path: &str) -> bool {
    let folders: Vec<String> = path
        .split(['/', '!'])
        .rev()
        .skip(1)
        .map(|f| f.to_ascii_lowercase())
        .collect();
    !folders.iter().any(|f| f.contains("music"))
        && folders.iter().any(|f| EFFECT_FOLDERS.contains(&f.as_str()))
}

/// The music files of the package extracted in `root`, sorted by path, and the number of
/// sampled-audio files left out as sound effects. `.pk3` archives are unpacked (their music
/// members only) into `root/.pk3/<archive path>/`.
pub fn select(root: &Path) -> Result<(Vec<Candidate>, usize)> {
    let mut files = Vec::new();
    walk(root, &mut files)?;
    files.sort();
    let mut out = Vec::new();
    let mut effects = 0;
    let mut consider = |file: PathBuf, path: String, out: &mut Vec<Candidate>| {
        let ext = extension(&path);
        if TRACKER_EXTENSIONS.contains(&ext.as_str()) {
            out.push(Candidate {
                file,
                path,
                tracker: true,
            });
        } else if AUDIO_EXTENSIONS.contains(&ext.as_str()) {
            if in_effect_folder(&path) {
                effects += 1;
            } else {
                out.push(Candidate {
                    file,
                    path,
                    tracker: false,
                });
            }
        }
    };
    for file in files {
        let rel = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .to_string_lossy()
            .into_owned();
        if rel.starts_with(".pk3/") {
            continue;
        }
        if extension(&rel) == "pk3" {
            let members = run_tool(Command::new("unzip").arg("-Z1").arg(&file), "unzip")?;
            let members: Vec<String> = String::from_utf8_lossy(&members.stdout)
                .lines()
                .filter(|m| {
                    let e = extension(m);
                    AUDIO_EXTENSIONS.contains(&e.as_str())
                        || TRACKER_EXTENSIONS.contains(&e.as_str())
                })
                .map(str::to_string)
                .collect();
            if members.is_empty() {
                continue;
            }
            let dest = root.join(".pk3").join(&rel);
            std::fs::create_dir_all(&dest).map_err(Error::io(&dest))?;
            let mut cmd = Command::new("unzip");
            cmd.args(["-o", "-q"])
                .arg(&file)
                .args(&members)
                .arg("-d")
                .arg(&dest);
            run_tool(&mut cmd, "unzip")?;
            for m in members {
                consider(dest.join(&m), format!("{rel}!{m}"), &mut out);
            }
        } else {
            consider(file, rel, &mut out);
        }
    }
    Ok((out, effects))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(Error::io(dir))? {
        let entry = entry.map_err(Error::io(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(Error::io(&path))?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if kind.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

/// A file id: the path with every character outside `[A-Za-z0-9]` made `_`, the last 80
/// characters kept, plus a short hash of the full path so that ids stay unique.
pub fn file_id(path: &str) -> String {
    let clean: String = path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let tail: String = clean
        .chars()
        .skip(clean.chars().count().saturating_sub(80))
        .collect();
    let hash = fnv1a(path.as_bytes());
    format!("{}_{:08x}", tail.trim_start_matches('_'), hash as u32)
}

/// FNV-1a, 64 bit: a stable hash for ids (std's hasher is not stable across releases).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Decodes `file` with the engine to mono at `rate`, stopping after `max_seconds`. Returns the
/// samples and the duration of the whole file in seconds.
pub fn decode_capped(file: &Path, rate: u32, max_seconds: f64) -> Result<(Vec<f32>, f64)> {
    let mut dec = decode::open(file)?;
    let native = dec.info().sample_rate;
    let cap_native = (max_seconds * f64::from(native)) as u64;
    let mut resampler = StreamResampler::new(native, rate)?;
    let mut out = Vec::new();
    let mut read = 0u64;
    while let Some(chunk) = dec.next_chunk()? {
        let room = cap_native.saturating_sub(read) as usize;
        if room > 0 {
            resampler.process(&chunk[..chunk.len().min(room)], &mut out)?;
        }
        read += chunk.len() as u64;
    }
    resampler.finish(&mut out)?;
    out.truncate((max_seconds * f64::from(rate)) as usize);
    Ok((out, read as f64 / f64::from(native)))
}

/// Writes mono samples as a 16-bit WAV, atomically.
pub(crate) fn write_wav(path: &Path, samples: &[f32], sample_rate: u32) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let tmp = path.with_extension("wav.tmp");
    let fail = |e: hound::Error| Error::Invalid(format!("{}: {e}", tmp.display()));
    let mut w = hound::WavWriter::create(&tmp, spec).map_err(fail)?;
    for &s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .map_err(fail)?;
    }
    w.finalize().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(Error::io(path))
}

/// Reads a mono 16-bit WAV written by [`write_wav`]: samples from `start` (in samples), at
/// most `len` of them.
pub fn read_wav(path: &Path, start: usize, len: usize) -> Result<Vec<f32>> {
    let fail = |e: hound::Error| Error::Invalid(format!("{}: {e}", path.display()));
    let mut r = hound::WavReader::open(path).map_err(fail)?;
    let spec = r.spec();
    if spec.channels != 1 || spec.bits_per_sample != 16 {
        return Err(Error::Invalid(format!(
            "{}: expected mono 16-bit WAV, found {} channel(s), {} bit",
            path.display(),
            spec.channels,
            spec.bits_per_sample
        )));
    }
    r.seek(start.min(r.duration() as usize) as u32)
        .map_err(Error::io(path))?;
    r.samples::<i16>()
        .take(len)
        .map(|s| s.map(|v| f32::from(v) / 32768.0).map_err(fail))
        .collect()
}

/// Renders a tracker module to a 22 050 Hz mono WAV with `openmpt123`: one pass (no repeat),
/// at most `max_seconds`.
pub fn render_module(module: &Path, wav: &Path, rate: u32, max_seconds: f64) -> Result<()> {
    let mut cmd = Command::new("openmpt123");
    cmd.args([
        "--batch",
        "--quiet",
        "--no-float",
        "--force",
        "--repeat",
        "0",
    ])
    .args(["--samplerate", &rate.to_string(), "--channels", "1"])
    .args(["--end-time", &format!("{max_seconds}")])
    .arg("-o")
    .arg(wav)
    .arg(module);
    run_tool(&mut cmd, "openmpt123").map(|_| ())
}

/// One stanza of a DEP-5 copyright file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stanza {
    pub files: Vec<String>,
    pub copyright: String,
    pub license: String,
}

/// A package's `usr/share/doc/<package>/copyright`: its DEP-5 `Files:` stanzas, or the free
/// text of a file in another format.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Copyright {
    pub stanzas: Vec<Stanza>,
    /// Copyright notices (lines starting with "Copyright" or "©" that name a year), for files
    /// that are not DEP-5.
    pub free_text: Vec<String>,
}

impl Copyright {
    /// Parses a copyright file's text.
    pub fn parse(text: &str) -> Self {
        let mut c = Copyright::default();
        for block in text.split("\n\n") {
            let mut fields: BTreeMap<String, String> = BTreeMap::new();
            let mut last: Option<String> = None;
            for line in block.lines() {
                if line.starts_with([' ', '\t']) {
                    if let Some(k) = &last {
                        let v: &mut String = fields.entry(k.clone()).or_default();
                        let t = line.trim();
                        if t != "." {
                            v.push('\n');
                            v.push_str(t);
                        }
                    }
                } else if let Some((k, v)) = line.split_once(':') {
                    let k = k.trim().to_ascii_lowercase();
                    fields.insert(k.clone(), v.trim().to_string());
                    last = Some(k);
                }
            }
            if let Some(files) = fields.get("files") {
                c.stanzas.push(Stanza {
                    files: files.split_whitespace().map(str::to_string).collect(),
                    copyright: fields
                        .get("copyright")
                        .map(|s| {
                            s.lines()
                                .map(str::trim)
                                .filter(|l| !l.is_empty())
                                .collect::<Vec<_>>()
                                .join("; ")
                        })
                        .unwrap_or_default(),
                    license: fields
                        .get("license")
                        .and_then(|l| l.lines().next())
                        .unwrap_or("")
                        .trim()
                        .to_string(),
                });
            }
        }
        if c.stanzas.is_empty() {
            c.free_text = text
                .lines()
                .map(str::trim)
                .filter(|l| {
                    let lower = l.to_ascii_lowercase();
                    (lower.starts_with("copyright") || l.starts_with('©'))
                        && l.chars().any(|c| c.is_ascii_digit())
                })
                .take(5)
                .map(str::to_string)
                .collect();
        }
        c
    }

    /// Licence and attribution of the file at `path` inside the package: the last DEP-5
    /// stanza whose `Files:` pattern matches the end of the path (patterns name source-tree
    /// paths, installed paths add folders in front), else `fallback_licence` and the
    /// copyright lines of a free-form file.
    pub fn of(&self, path: &str, fallback_licence: &str) -> (String, String) {
        let path = path.replace('!', "/");
        let hit = self.stanzas.iter().rev().find(|s| {
            s.files.iter().any(|pattern| {
                let depth = pattern.split('/').count();
                let parts: Vec<&str> = path.split('/').collect();
                (1..=parts.len()).any(|k| {
                    k >= depth.min(parts.len())
                        && glob(pattern, &parts[parts.len() - k..].join("/"))
                })
            })
        });
        match hit {
            Some(s) => (
                if s.license.is_empty() {
                    fallback_licence.to_string()
                } else {
                    s.license.clone()
                },
                s.copyright.clone(),
            ),
            None => (fallback_licence.to_string(), self.free_text.join("; ")),
        }
    }
}

/// DEP-5 glob: `*` matches any run of characters (slashes included), `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Reads the package's copyright file (missing → empty).
fn copyright_of(root: &Path, package: &str) -> Copyright {
    let path = root.join("usr/share/doc").join(package).join("copyright");
    std::fs::read_to_string(path)
        .map(|t| Copyright::parse(&t))
        .unwrap_or_default()
}

/// Fetches, extracts and decodes one package (resuming finished files).
pub fn build_package(
    package: &Package,
    opts: &CorpusOptions,
    bar: &ProgressBar,
) -> Result<PackageDone> {
    let rate = kindred_engine::FrontEndConfig::default().sample_rate;
    let t0 = Instant::now();
    let deb = fetch(package, &opts.cache.join("debs"))?;
    let deb_bytes = std::fs::metadata(&deb).map_err(Error::io(&deb))?.len();
    let fetch_seconds = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let root = opts.cache.join("extract").join(&package.name);
    extract(&deb, &root)?;
    let (candidates, effect_files) = select(&root).map_err(|e| Error::Package {
        package: package.name.clone(),
        reason: e.to_string(),
    })?;
    let extract_seconds = t1.elapsed().as_secs_f64();
    let copyright = copyright_of(&root, &package.name);
    let files_dir = opts.cache.join("files").join(&package.name);
    let audio_dir = opts.cache.join("audio").join(&package.name);
    let render_dir = root.join(".render");
    for d in [&files_dir, &audio_dir, &render_dir] {
        std::fs::create_dir_all(d).map_err(Error::io(d))?;
    }
    let t2 = Instant::now();
    bar.set_message(format!("{} ({} files)", package.name, candidates.len()));
    let outcomes: Vec<FileOutcome> = candidates
        .par_iter()
        .map(|c| {
            let id = file_id(&c.path);
            let marker = files_dir.join(format!("{id}.json"));
            if let Some(done) = std::fs::read_to_string(&marker)
                .ok()
                .and_then(|t| serde_json::from_str::<FileOutcome>(&t).ok())
            {
                let finished = match &done {
                    FileOutcome::Track(t) => opts.cache.join(&t.audio).is_file(),
                    _ => true,
                };
                if finished {
                    return Ok(done);
                }
            }
            let outcome = decode_file(package, c, &id, rate, opts, &copyright, &render_dir);
            let json = serde_json::to_vec_pretty(&outcome)
                .map_err(|e| Error::Invalid(format!("{}: {e}", marker.display())))?;
            write_atomic(&marker, &json)?;
            Ok(outcome)
        })
        .collect::<Result<_>>()?;
    Ok(PackageDone {
        package: package.clone(),
        deb_bytes,
        outcomes,
        effect_files,
        fetch_seconds,
        extract_seconds,
        decode_seconds: t2.elapsed().as_secs_f64(),
    })
}

/// Renders (tracker) and decodes one file; writes its WAV. Never fails: a bad file becomes
/// [`FileOutcome::Failed`], a short one [`FileOutcome::Skipped`].
fn decode_file(
    package: &Package,
    c: &Candidate,
    id: &str,
    rate: u32,
    opts: &CorpusOptions,
    copyright: &Copyright,
    render_dir: &Path,
) -> FileOutcome {
    let failed = |reason: String| FileOutcome::Failed {
        path: c.path.clone(),
        reason,
    };
    let source = if c.tracker {
        let wav = render_dir.join(format!("{id}.wav"));
        if let Err(e) = render_module(&c.file, &wav, rate, opts.max_seconds) {
            return failed(e.to_string());
        }
        wav
    } else {
        c.file.clone()
    };
    let (samples, full_seconds) = match decode_capped(&source, rate, opts.max_seconds) {
        Ok(x) => x,
        Err(e) => return failed(e.to_string()),
    };
    if c.tracker {
        let _ = std::fs::remove_file(&source);
    }
    let seconds = samples.len() as f64 / f64::from(rate);
    if seconds < opts.min_seconds {
        return FileOutcome::Skipped {
            path: c.path.clone(),
            reason: format!(
                "{seconds:.1} s is shorter than {} s (a clip or effect)",
                opts.min_seconds
            ),
        };
    }
    let audio = format!("audio/{}/{id}.wav", package.name);
    if let Err(e) = write_wav(&opts.cache.join(&audio), &samples, rate) {
        return failed(e.to_string());
    }
    let (licence, attribution) = copyright.of(&c.path, &package.licence);
    FileOutcome::Track(CorpusTrack {
        id: format!("{}__{id}", package.name),
        package: package.name.clone(),
        version: package.version.clone(),
        path: c.path.clone(),
        source: package.source_of(&c.path).to_string(),
        split: package.split,
        licence,
        attribution,
        audio,
        seconds,
        full_seconds: full_seconds.max(seconds),
        tracker: c.tracker,
    })
}
