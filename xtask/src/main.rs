//! `cargo xtask`: the project's entry points — `demo` (the main job), `test` (every check CI
//! runs), `bench` (Kindred against librosa) and `bundle` (the plugin, through nice-plug-xtask) —
//! each installing what it needs on a fresh machine first.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: cargo xtask <demo|test|bench|ort|bundle>
  demo   bundle the plugin, build kindred, index a folder of real recordings into a library,
         query it, and stream a track through the plugin's analysis (headless)
  test   run every test of the workspace (what CI runs), the plugin's host tests included
  bench  time the engine against librosa 1.0 (installs encoders and the librosa venv)
  ort    fetch ONNX Runtime 1.31.1 from the PyPI wheel into .cache/onnxruntime/
  bundle kindred --release [--features standalone]
         build target/bundled/Kindred.clap and Kindred.vst3 (nice-plug-xtask) with ONNX
         Runtime and the default model inside; any other nice-plug-xtask command works too";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(),
        Some("test") => test(),
        Some("bench") => bench(),
        Some("ort") => onnx_runtime().map(|path| println!("{}", path.display())),
        Some("bundle" | "bundle-universal" | "known-packages") => bundle(args),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's directory).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

/// Runs `program args…` in the workspace root, failing with the command line if it fails.
fn run(program: &str, args: &[&str]) -> Result<()> {
    run_command(Command::new(program).args(args))
}

/// Installs the Debian packages whose marker — a program on PATH or an absolute file path —
/// is missing: as root with apt-get, otherwise failing with the exact command to run.
fn apt_packages(needed: &[(&str, &str)], purpose: &str) -> Result<()> {
    let missing: Vec<&str> = needed
        .iter()
        .filter(|(marker, _)| {
            if marker.starts_with('/') {
                !Path::new(marker).exists()
            } else {
                on_path(marker).is_none()
            }
        })
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let install = format!("apt-get update && apt-get install -y {}", missing.join(" "));
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .context("cannot run `id -u`")?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        bail!("{purpose} need Debian packages; install them with: sudo sh -c '{install}'");
    }
    eprintln!("xtask: installing what {purpose} need: {install}");
    run_command(Command::new("apt-get").arg("update"))?;
    run_command(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// Real music shipped with the repository (see README, "Test recordings").
/// The Debian package whose recordings make the demo library: the score of the adventure
/// game Drascula (31 Ogg Vorbis tracks, 47 min, BSD-like licence), downloaded, not installed.
const DEMO_PACKAGE: &str = "drascula-music";

/// The demo's music folder, `.cache/demo/drascula-music/…/audio`, fetched with
/// `apt-get download` and unpacked with `dpkg-deb -x` unless already there.
fn demo_music() -> Result<PathBuf> {
    let dir = root().join(".cache/demo");
    let audio = dir
        .join(DEMO_PACKAGE)
        .join("usr/share/scummvm/drascula/audio");
    if audio.is_dir() {
        return Ok(audio);
    }
    std::fs::create_dir_all(&dir)?;
    let download = || {
        Command::new("apt-get")
            .args(["download", DEMO_PACKAGE])
            .current_dir(&dir)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !download() {
        // A fresh machine may have no package lists yet.
        run("apt-get", &["update"])
            .context("apt-get update (needed to download the demo music)")?;
        if !download() {
            bail!("cannot download the Debian package {DEMO_PACKAGE} for the demo library");
        }
    }
    let deb = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("apt-get download left no .deb")?;
    let unpacked = dir.join(DEMO_PACKAGE);
    run_command(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
    if !audio.is_dir() {
        bail!("{} has no {}", deb.display(), audio.display());
    }
    Ok(audio)
}

fn demo() -> Result<()> {
    apt_packages(
        &[(
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "fonts-dejavu-core",
        )],
        "the demo's similarity chart",
    )?;
    onnx_runtime()?;
    println!("== Building the plugin bundles (ONNX Runtime and the default model inside) ==");
    // One cargo invocation for the plugin and the CLI, so their shared dependencies are
    // built once, with one feature set.
    run(
        "cargo",
        &[
            "build",
            "--release",
            "--package",
            PLUGIN_PACKAGE,
            "--package",
            "kindred-engine",
        ],
    )?;
    bundle_built(true, false)?;
    for b in ["Kindred.clap", "Kindred.vst3"] {
        println!("  {}", target_dir().join("bundled").join(b).display());
    }
    let kindred = target_dir().join("release/kindred");
    let kindred = kindred.to_str().context("non-UTF-8 target path")?;
    let music = demo_music()?;
    let music_str = music.to_str().context("non-UTF-8 cache path")?;
    let library = target_dir().join("demo/demo.klib");
    let library = library.to_str().context("non-UTF-8 target path")?;

    // A fresh library each run: one made by an earlier run with another model is refused.
    match std::fs::remove_file(library) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing the old demo library {library}"));
        }
        _ => {}
    }
    println!("\n== Indexing {DEMO_PACKAGE} (31 tracks) into {library} ==");
    run(kindred, &["index", music_str, "--library", library])?;
    run(kindred, &["library", "info", library])?;

    let query = music.join("track4.ogg");
    let query = query.to_str().context("non-UTF-8 cache path")?;
    let queries: [(&str, &[&str]); 2] = [
        (
            "The tracks most like track4.ogg, dimension by dimension",
            &["--segments"],
        ),
        (
            "The same query for tempo and key only (a DJ's question)",
            &["--weights", "genre=0,mood=0,instrument=0,era=0"],
        ),
    ];
    for (title, options) in queries {
        println!("\n== {title} ==");
        let base = ["query", query, "--library", library, "--top", "5"];
        run(kindred, &[&base[..], options].concat())?;
    }
    let other = music.join("track12.ogg");
    println!("\n== track4.ogg against track12.ogg ==");
    run(
        kindred,
        &[
            "compare",
            query,
            other.to_str().context("non-UTF-8 cache path")?,
        ],
    )?;

    let stream = target_dir().join("release/kindred-stream");
    let png = target_dir().join("demo/similarity-over-time.png");
    println!(
        "\n== track4.ogg played through the plugin's own analysis path (headless, faster than \
         real time), against the reference track12.ogg =="
    );
    run(
        stream.to_str().context("non-UTF-8 target path")?,
        &[
            query,
            "--library",
            library,
            "--reference",
            "track12.ogg",
            "--png",
            png.to_str().context("non-UTF-8 target path")?,
        ],
    )?;
    Ok(())
}

fn test() -> Result<()> {
    apt_packages(
        &[
            // The trainer's tests render scores with a small General MIDI SoundFont.
            ("/usr/share/sounds/sf2/TimGM6mb.sf2", "timgm6mb-soundfont"),
            // The real-music corpus tests pack a fixture .deb, open a .pk3 (zip), render a
            // tracker module and time-stretch / pitch-shift passages with the rubberband CLI.
            ("dpkg-deb", "dpkg"),
            ("unzip", "unzip"),
            ("openmpt123", "openmpt123"),
            ("rubberband", "rubberband-cli"),
            // The whole-file benchmarks (run once each as tests) encode MP3 and Ogg Vorbis.
            ("lame", "lame"),
            ("oggenc", "vorbis-tools"),
            // The plugin's standalone links ALSA and JACK, and is screenshotted under Xvfb.
            ("/usr/include/alsa/asoundlib.h", "libasound2-dev"),
            ("/usr/include/jack/jack.h", "libjack-jackd2-dev"),
            ("xvfb-run", "xvfb"),
            ("import", "imagemagick"),
            // The evaluation report's chart text.
            (
                "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                "fonts-dejavu-core",
            ),
        ],
        "the tests",
    )?;
    run("cargo", &["fmt", "--all", "--check"])?;
    let runtime = onnx_runtime()?;
    // One build of everything — tests, benchmarks (run once each in test mode), the plugin
    // and its standalone — with the same features as the test run, so nothing is compiled
    // twice; the host tests (tests/) then load the bundles made from it.
    let everything = [
        "--release",
        "--workspace",
        "--all-targets",
        "--features",
        "kindred-plugin/standalone",
    ];
    run("cargo", &[&["build"][..], &everything].concat())?;
    bundle_built(true, true)?;
    let pedalboard = pedalboard_venv()?;
    run_command(
        Command::new("cargo")
            .arg("test")
            .args(everything)
            // Every failure at once, not only the first package's.
            .arg("--no-fail-fast")
            .env("ORT_DYLIB_PATH", runtime)
            .env("KINDRED_PEDALBOARD_PYTHON", pedalboard),
    )?;
    // The standalone with its editor, on a virtual display, without an audio device.
    run("tests/standalone_screenshot.sh", &[])
}

/// The VST3 host of the plugin tests: pedalboard (and numpy) in `.cache/pedalboard-venv`, made
/// with any local Python 3 if missing. Returns its Python.
fn pedalboard_venv() -> Result<PathBuf> {
    let venv = root().join(".cache/pedalboard-venv");
    let python = venv.join("bin/python");
    let ready = |python: &Path| {
        Command::new(python)
            .args(["-c", "import pedalboard, numpy"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && ready(&python) {
        return Ok(python);
    }
    let base = on_path("python3").context("`python3` is needed for the VST3 host test")?;
    let venv_str = venv.to_str().context("non-UTF-8 cache path")?;
    run(
        base.to_str().context("non-UTF-8 Python path")?,
        &["-m", "venv", venv_str],
    )?;
    let pip = venv.join("bin/pip");
    run(
        pip.to_str().context("non-UTF-8 venv path")?,
        &["install", "--quiet", PEDALBOARD, NUMPY],
    )?;
    Ok(python)
}

// ---- `cargo xtask bundle` ----------------------------------------------------------------

/// The VST3 host of the plugin tests, and what its test script needs.
const PEDALBOARD: &str = "pedalboard==0.9.26";
const NUMPY: &str = "numpy<3";

/// The plugin's package. `kindred` is the name users type; the package is not called that
/// because the engine's CLI binary is, and nice-plug-xtask would bundle that binary as the
/// standalone.
const PLUGIN_PACKAGE: &str = "kindred-plugin";
/// The standalone binary (built with `--features standalone`).
const STANDALONE: &str = "kindred-standalone";
/// The default model, shipped inside the bundles when it exists.
const DEFAULT_MODEL: &str = "models/kindred-6d.onnx";

/// `cargo xtask bundle kindred --release`: nice-plug-xtask builds and bundles the plugin, then
/// ONNX Runtime and the default model go where the plugin looks for them (the folder of its
/// own binary, or that folder's `lib/` and `models/`; see `engine::inference::runtime`):
/// - `Kindred.vst3/Contents/x86_64-linux/`: next to `Kindred.so`, inside the bundle;
/// - `lib/` and `models/` next to `Kindred.clap` (a CLAP on Linux is a single file, so its
///   companions sit beside it and are installed with it);
/// - the standalone, when built, goes to `target/bundled/kindred-standalone` and finds the
///   same `lib/` and `models/`.
fn bundle(args: Vec<String>) -> Result<()> {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| {
            if a == "kindred" {
                PLUGIN_PACKAGE.into()
            } else {
                a
            }
        })
        .collect();
    let ours = args.iter().any(|a| a == PLUGIN_PACKAGE);
    let standalone = args
        .windows(2)
        .any(|w| w[0] == "--features" && w[1].contains("standalone"))
        || args
            .iter()
            .any(|a| a.starts_with("--features=") && a.contains("standalone"));
    if standalone {
        apt_packages(
            &[
                ("/usr/include/alsa/asoundlib.h", "libasound2-dev"),
                ("/usr/include/jack/jack.h", "libjack-jackd2-dev"),
            ],
            "the standalone build",
        )?;
    }
    let release = args.iter().any(|a| a == "--release");
    nice_plug_xtask::main_with_args("cargo xtask", args)?;
    if ours {
        add_companions(release, standalone)?;
    }
    Ok(())
}

/// Bundles the plugin already built in `target/release` (or `debug`), then adds the
/// companions ([`add_companions`]).
fn bundle_built(release: bool, standalone: bool) -> Result<()> {
    nice_plug_xtask::chdir_workspace_root()?;
    let profile = if release {
        vec!["--release".to_string()]
    } else {
        vec![]
    };
    nice_plug_xtask::bundle(&target_dir(), PLUGIN_PACKAGE, &profile, false)?;
    add_companions(release, standalone)
}

/// Puts ONNX Runtime and the default model where the bundled plugin looks for them (see
/// [`bundle`]), and the standalone next to the bundles.
fn add_companions(release: bool, standalone: bool) -> Result<()> {
    let bundled = target_dir().join("bundled");
    let runtime = onnx_runtime()?;
    let model = root().join(DEFAULT_MODEL);
    let model = model.is_file().then_some(model);
    if model.is_none() {
        eprintln!(
            "xtask: warning: {DEFAULT_MODEL} does not exist yet; the bundles carry no model \
             (the plugin then shows tempo and key only and says so)"
        );
    }
    let vst3 = bundled.join("Kindred.vst3/Contents/x86_64-linux");
    let mut places = vec![(vst3.clone(), vst3)];
    places.push((bundled.join("lib"), bundled.join("models")));
    for (lib_dir, model_dir) in places {
        copy_into(&runtime, &lib_dir)?;
        if let Some(model) = &model {
            copy_into(model, &model_dir)?;
        }
    }
    if standalone {
        let profile = if release { "release" } else { "debug" };
        copy_into(&target_dir().join(profile).join(STANDALONE), &bundled)?;
    }
    eprintln!(
        "xtask: ONNX Runtime{} copied into {}",
        if model.is_some() {
            " and the model"
        } else {
            ""
        },
        bundled.display()
    );
    Ok(())
}

/// Copies `file` into `dir` (created if missing), keeping its name and permissions.
fn copy_into(file: &Path, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let name = file.file_name().context("a file to copy has no name")?;
    std::fs::copy(file, dir.join(name))
        .with_context(|| format!("cannot copy {} into {}", file.display(), dir.display()))?;
    Ok(())
}

// ---- `cargo xtask ort` -------------------------------------------------------------------

/// The ONNX Runtime release the engine is built for (`ort` 2.0.0-rc.15, API 31).
const ORT_WHEEL: &str = "onnxruntime==1.31.1";
/// The library inside the wheel, and its name in the project cache.
const ORT_LIBRARY: &str = "libonnxruntime.so.1.31.1";

/// `cargo xtask ort`: makes sure `.cache/onnxruntime/libonnxruntime.so.1.31.1` exists — the
/// project cache the engine looks in after `ORT_DYLIB_PATH` and the executable's folder — by
/// downloading the manylinux wheel from PyPI with pip (no install, any local Python) and
/// extracting the one library file. Returns its path.
fn onnx_runtime() -> Result<PathBuf> {
    let dir = root().join(".cache/onnxruntime");
    let library = dir.join(ORT_LIBRARY);
    if library.is_file() {
        return Ok(library);
    }
    let wheels = root().join(".cache/wheels");
    let wheels_str = wheels.to_str().context("non-UTF-8 cache path")?;
    let python =
        on_path("python3").context("`python3` (with pip) is needed to fetch ONNX Runtime")?;
    run_command(Command::new(&python).args([
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--platform",
        "manylinux_2_28_x86_64",
        "--python-version",
        "3.12",
        "--dest",
        wheels_str,
        ORT_WHEEL,
    ]))
    .context("cannot download the onnxruntime wheel from PyPI")?;
    let wheel = std::fs::read_dir(&wheels)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("onnxruntime-1.31.1-") && n.ends_with(".whl"))
        })
        .with_context(|| format!("no onnxruntime 1.31.1 wheel in {wheels_str}"))?;
    std::fs::create_dir_all(&dir)?;
    // Extract under a temporary name and rename, so a killed run leaves no partial library.
    let partial = dir.join(format!("{ORT_LIBRARY}.partial"));
    let script = format!(
        "import sys, zipfile; open(sys.argv[2], 'wb').write(zipfile.ZipFile(sys.argv[1]).read('onnxruntime/capi/{ORT_LIBRARY}'))"
    );
    run_command(
        Command::new(&python)
            .arg("-c")
            .arg(script)
            .arg(&wheel)
            .arg(&partial),
    )?;
    std::fs::rename(&partial, &library)?;
    eprintln!("xtask: ONNX Runtime is in {}", library.display());
    Ok(library)
}

// ---- `cargo xtask bench` ------------------------------------------------------------------

/// Files analysed at once by the parallel whole-file benchmarks (engine/benches/analysis.rs)
/// and processes in librosa's parallel run: the cores of the 2-core reference machine.
const BENCH_PARALLEL: usize = 2;

/// `cargo xtask bench`: Kindred against librosa 1.0 on the same samples. Installs the
/// encoders and the librosa venv if missing, runs the criterion benches `features` (one 3 s
/// window, per stage) and `analysis` (a 3-minute 44.1 kHz stereo track as MP3 and Ogg
/// Vorbis, whole file, 1 and 2 threads), times `scripts/librosa_bench.py` on the same window
/// formula and the same files, and prints a side-by-side table with the load average, since
/// timings on a shared machine mean little without it.
fn bench() -> Result<()> {
    let load_before = load_average();
    apt_packages(
        &[("lame", "lame"), ("oggenc", "vorbis-tools")],
        "the benchmarks",
    )?;
    let python = librosa_venv()?;

    let started = std::time::SystemTime::now();
    let audio_dir = target_dir().join("bench-audio");
    run_command(
        Command::new("cargo")
            .args(["bench", "--package", "kindred-engine"])
            .args(["--bench", "features", "--bench", "analysis"])
            .env("KINDRED_BENCH_AUDIO_DIR", &audio_dir),
    )?;

    let script = root().join("scripts/librosa_bench.py");
    let window_json =
        run_json(
            Command::new(&python)
                .arg(&script)
                .args(["--window", "synthetic", "--json"]),
        )?;
    let mut files = Vec::new();
    for ext in ["mp3", "ogg"] {
        let Some(file) = bench_audio(&audio_dir, ext) else {
            eprintln!("xtask: no 3-minute .{ext} in {}", audio_dir.display());
            continue;
        };
        let json = run_json(
            Command::new(&python)
                .arg(&script)
                .args(["--runs", "0", "--json", "--parallel"])
                .arg(BENCH_PARALLEL.to_string())
                .arg(&file),
        )?;
        files.push((ext, json));
    }
    let load_after = load_average();
    print_bench_table(&window_json, &files, started, &load_before, &load_after);
    Ok(())
}

/// The librosa venv's Python (`.venv`, pinned by `scripts/requirements.txt`), made with a
/// Python 3.12 if missing, and the requirements installed if librosa does not import.
fn librosa_venv() -> Result<PathBuf> {
    let venv = root().join(".venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        let base = python312().context(
            "no Python 3.12 for the librosa venv: looked for python3.12 on PATH and \
             ~/.pyenv/versions/3.12*/bin/python",
        )?;
        let base = base.to_str().context("non-UTF-8 Python path")?;
        let venv = venv.to_str().context("non-UTF-8 venv path")?;
        run(base, &["-m", "venv", venv])?;
    }
    let imports = Command::new(&python)
        .args(["-c", "import librosa, soxr, threadpoolctl"])
        .stderr(std::process::Stdio::null())
        .status()
        .with_context(|| format!("cannot start {}", python.display()))?;
    if !imports.success() {
        let pip = venv.join("bin/pip");
        let pip = pip.to_str().context("non-UTF-8 venv path")?;
        run(pip, &["install", "-r", "scripts/requirements.txt"])?;
    }
    Ok(python)
}

/// `python3.12` on PATH, else the newest `~/.pyenv/versions/3.12*/bin/python`, checked to be
/// a Python ≥ 3.12 (scripts/requirements.txt was pinned on 3.12).
fn python312() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = on_path("python3.12").into_iter().collect();
    if let Some(home) = std::env::var_os("HOME") {
        let versions = Path::new(&home).join(".pyenv/versions");
        let mut pyenv: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(versions)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let key = name
                    .strip_prefix("3.12")?
                    .split('.')
                    .filter_map(|p| p.parse().ok());
                Some((key.collect(), e.path().join("bin/python")))
            })
            .filter(|(_, p)| p.exists())
            .collect();
        pyenv.sort();
        candidates.extend(pyenv.into_iter().rev().map(|(_, p)| p));
    }
    candidates.into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import sys; sys.exit(sys.version_info < (3, 12))"])
            .stderr(std::process::Stdio::null()) // a pyenv shim without that version complains
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// The first executable file `name` in a directory of PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or `target/`).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Runs `cmd` in the workspace root, failing if it fails.
fn run_command(cmd: &mut Command) -> Result<()> {
    eprintln!("+ {cmd:?}");
    let status = cmd
        .current_dir(root())
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` in the workspace root, echoes its output and returns its last line that is a
/// JSON object (librosa_bench.py `--json`).
fn run_json(cmd: &mut Command) -> Result<String> {
    eprintln!("+ {cmd:?}");
    let out = cmd
        .current_dir(root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    if !out.status.success() {
        bail!("{cmd:?} failed ({})", out.status);
    }
    stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .map(str::to_owned)
        .with_context(|| format!("{cmd:?} printed no JSON line"))
}

/// The newest 3-minute `.ext` file the analysis bench generated in `dir`.
fn bench_audio(dir: &Path, ext: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("kindred-synth-") && name.ends_with(&format!("-180s.{ext}"))
        })
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
}

/// The number after `"key":` in `json` (flat objects, as criterion and librosa_bench.py
/// write them; this crate has no JSON parser).
fn json_number(json: &str, key: &str) -> Option<f64> {
    let quoted = format!("\"{key}\"");
    let rest = json[json.find(&quoted)? + quoted.len()..].trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Criterion's result for the benchmark in `target/criterion/<dir>`, written since `since`:
/// (median time in seconds, throughput elements per iteration if any).
fn criterion_result(dir: &str, since: std::time::SystemTime) -> Option<(f64, Option<f64>)> {
    let dir = target_dir().join("criterion").join(dir);
    let estimates = dir.join("new/estimates.json");
    let modified = std::fs::metadata(&estimates)
        .and_then(|m| m.modified())
        .ok()?;
    if modified < since {
        return None; // stale: from an earlier run
    }
    let json = std::fs::read_to_string(estimates).ok()?;
    let median = &json[json.find("\"median\"")?..];
    let ns = json_number(median, "point_estimate")?;
    let meta = std::fs::read_to_string(dir.join("new/benchmark.json")).unwrap_or_default();
    Some((ns * 1e-9, json_number(&meta, "Elements")))
}

/// `/proc/loadavg`'s 1, 5 and 15 minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The side-by-side table of `cargo xtask bench`.
fn print_bench_table(
    window_json: &str,
    files: &[(&str, String)],
    since: std::time::SystemTime,
    load_before: &str,
    load_after: &str,
) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let ms = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{v:.3} ms"));
    let rt = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{v:.0}x RT"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.1}x", a / b),
        _ => "—".to_owned(),
    };
    let verdict = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "",
    };
    let row = |what: &str, ours: String, theirs: String, ratio: String, target: String| {
        println!("{what:<32} {ours:>12} {theirs:>12} {ratio:>9}  {target}");
    };

    println!(
        "\n== Kindred vs librosa 1.0 ({cores} cores; load average 1/5/15 min before {load_before}, after {load_after}) =="
    );
    row(
        "",
        "Kindred".into(),
        "librosa".into(),
        "speed-up".into(),
        "target".into(),
    );
    let ours_window = criterion_result("features_one_window", since).map(|(s, _)| s * 1e3);
    let theirs_window = json_number(window_json, "per_window_ms");
    let speedup = ours_window.zip(theirs_window).map(|(o, t)| t / o);
    row(
        "features, one 3 s window",
        ms(ours_window),
        ms(theirs_window),
        ratio(theirs_window, ours_window),
        format!("≥ 50x {}", verdict(speedup.map(|s| s >= 50.0))),
    );
    // librosa's "mel" stage includes the log compression, ours is two stages.
    for (stage, ours) in [
        ("stft", &["stft"][..]),
        ("mel", &["mel", "mel_compress"][..]),
        ("chroma", &["chroma"][..]),
        ("cens", &["cens"][..]),
        ("onset", &["onset"][..]),
        ("tempogram", &["tempogram"][..]),
    ] {
        let o: Option<f64> = ours
            .iter()
            .map(|s| criterion_result(&format!("stage/{s}"), since).map(|(t, _)| t * 1e3))
            .sum();
        let t = json_number(window_json, &format!("stage_{stage}_ms"));
        row(
            &format!("  stage {stage}"),
            ms(o),
            ms(t),
            ratio(t, o),
            String::new(),
        );
    }
    for (ext, json) in files {
        let one = criterion_result(&format!("analysis/{ext}_3min"), since)
            .and_then(|(s, n)| n.map(|n| n / s));
        let par = criterion_result(
            &format!("analysis/{ext}_3min_x{BENCH_PARALLEL}_parallel"),
            since,
        )
        .and_then(|(s, n)| n.map(|n| n / s));
        let theirs_one = json_number(json, "file_x_realtime");
        let theirs_par = json_number(json, "file_x_realtime_parallel");
        row(
            &format!("{ext} 3 min, whole file, 1 core"),
            rt(one),
            rt(theirs_one),
            ratio(one, theirs_one),
            String::new(),
        );
        row(
            &format!("{ext} 3 min, whole file, {BENCH_PARALLEL} cores"),
            rt(par),
            rt(theirs_par),
            ratio(par, theirs_par),
            format!("Kindred ≥ 500x RT {}", verdict(par.map(|p| p >= 500.0))),
        );
    }
    println!(
        "RT = seconds of audio per second. Kindred: criterion medians (target/criterion); \
         whole file = decode + resample to 22 050 Hz + features of every window + tempo and key; \
         {BENCH_PARALLEL} cores = {BENCH_PARALLEL} files on {BENCH_PARALLEL} threads. librosa: \
         scripts/librosa_bench.py, BLAS limited to 1 thread per process; whole file = \
         load(sr=22050, res_type='soxr_hq') + features of every window (no tempo/key); \
         {BENCH_PARALLEL} cores = {BENCH_PARALLEL} processes."
    );
}
