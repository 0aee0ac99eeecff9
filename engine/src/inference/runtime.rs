//! Finding and loading the ONNX Runtime shared library (ONNX Runtime 1.31, loaded at run time
//! with `ort`'s `load-dynamic`, so nothing is downloaded at build time).
//!
//! Lookup order, first hit wins:
//! 1. `ORT_DYLIB_PATH` — an explicit path; if it is set but wrong, that is the error reported.
//! 2. Next to the binary given to [`set_binary_dir`], or in its `lib/` folder: a plugin runs in
//!    a host's process, so its bundle's folder is not the executable's and the plugin names it.
//! 3. Next to the running executable, or in its `lib/` folder (a plugin bundle ships the
//!    library beside the plugin binary).
//! 4. The project cache `.cache/onnxruntime/` that `cargo xtask ort` fills from the PyPI wheel
//!    `onnxruntime==1.31.1`.
//!
//! The library is loaded once per process; later calls return the first outcome.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::{Error, Result};

/// The ONNX Runtime version the engine is built for.
pub const ORT_VERSION: &str = "1.31.1";
/// File name of the library on this platform.
pub const LIBRARY_NAME: &str = if cfg!(target_os = "windows") {
    "onnxruntime.dll"
} else if cfg!(target_os = "macos") {
    "libonnxruntime.dylib"
} else {
    "libonnxruntime.so.1.31.1"
};
/// The environment variable naming the library explicitly.
pub const ENV_VAR: &str = "ORT_DYLIB_PATH";

static BINARY_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Names the folder of the binary that carries the engine when that is not the running
/// executable — a plugin's own library inside a host. The runtime ([`locate`]) and the default
/// model ([`super::model::locate`]) are then looked for there (and in its `lib/` and `models/`
/// folders) before the executable's folder. Call it before the first [`load`]; the first call
/// in a process wins and later ones return `false`.
pub fn set_binary_dir(dir: PathBuf) -> bool {
    BINARY_DIR.set(dir).is_ok()
}

/// The folder given to [`set_binary_dir`], if any.
pub fn binary_dir() -> Option<&'static Path> {
    BINARY_DIR.get().map(PathBuf::as_path)
}

/// The project cache filled by `cargo xtask ort`.
pub fn project_cache() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(".cache")
        .join("onnxruntime")
}

/// What to tell a user whose runtime is missing or unusable.
fn fix_hint() -> String {
    format!(
        "fix: run `cargo xtask ort` in the Kindred repository (it downloads the PyPI wheel \
         onnxruntime=={ORT_VERSION} and copies {LIBRARY_NAME} to {}), or set {ENV_VAR} to the \
         library of `pip install onnxruntime=={ORT_VERSION}` (site-packages/onnxruntime/capi/{LIBRARY_NAME}; \
         onnxruntime-gpu for CUDA)",
        project_cache().display()
    )
}

/// The candidate paths in lookup order, with where each came from.
fn candidates() -> Vec<(PathBuf, &'static str)> {
    if let Some(path) = std::env::var_os(ENV_VAR) {
        return vec![(PathBuf::from(path), ENV_VAR)];
    }
    let mut out = Vec::new();
    if let Some(dir) = binary_dir() {
        out.push((dir.join(LIBRARY_NAME), "next to the plugin"));
        out.push((dir.join("lib").join(LIBRARY_NAME), "next to the plugin"));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        out.push((dir.join(LIBRARY_NAME), "next to the executable"));
        out.push((dir.join("lib").join(LIBRARY_NAME), "next to the executable"));
    }
    out.push((project_cache().join(LIBRARY_NAME), "project cache"));
    // The plugin's folder is the executable's when the standalone runs: look there once.
    let mut seen = Vec::new();
    out.retain(|(p, _)| {
        let new = !seen.contains(p);
        seen.push(p.clone());
        new
    });
    out
}

/// The library that [`load`] would use.
pub fn locate() -> Result<PathBuf> {
    let candidates = candidates();
    if let Some((path, _)) = candidates.iter().find(|(p, _)| p.is_file()) {
        return Ok(path.clone());
    }
    let looked: Vec<String> = candidates
        .iter()
        .map(|(p, from)| format!("{} ({from})", p.display()))
        .collect();
    Err(Error::Runtime(format!(
        "ONNX Runtime {ORT_VERSION} not found; looked in: {}; {}",
        looked.join(", "),
        fix_hint()
    )))
}

/// The loaded runtime: where it came from and the process-wide environment every session is
/// built in (kept here for the life of the process).
pub struct Runtime {
    path: PathBuf,
    environment: ort::environment::Environment,
}

impl Runtime {
    /// The library file that was loaded.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The ONNX Runtime environment.
    pub fn environment(&self) -> &ort::environment::Environment {
        &self.environment
    }
}

static LOADED: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

/// Loads ONNX Runtime once per process.
pub fn load() -> Result<&'static Runtime> {
    let loaded = LOADED.get_or_init(|| {
        let path = locate().map_err(|e| e.to_string())?;
        let environment = ort::init_from(&path)
            .map_err(|e| {
                format!(
                    "cannot load ONNX Runtime from {}: {e}; {}",
                    path.display(),
                    fix_hint()
                )
            })?
            .with_name("kindred")
            .build()
            .map_err(|e| format!("cannot start ONNX Runtime from {}: {e}", path.display()))?;
        Ok(Runtime { path, environment })
    });
    loaded.as_ref().map_err(|e| Error::Runtime(e.clone()))
}
