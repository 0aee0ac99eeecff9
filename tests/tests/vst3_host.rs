//! The bundled `target/bundled/Kindred.vst3` in a real VST3 host: pedalboard (PyPI), driven by
//! `tests/vst3_pedalboard.py` — passthrough at 44.1/96/48 kHz, stereo and mono, odd blocks, and
//! parameters set through the host.
//!
//! Needs the bundle (`cargo xtask bundle kindred --release`) and a Python with pedalboard and
//! numpy: `KINDRED_PEDALBOARD_PYTHON`, else `.cache/pedalboard-venv/bin/python` (made by
//! `cargo xtask test`).

use std::path::PathBuf;
use std::process::Command;

#[test]
fn vst3_bundle_in_pedalboard() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let bundle = kindred_host_tests::bundled("Kindred.vst3");
    assert!(
        bundle.is_dir(),
        "{} is missing: run `cargo xtask bundle kindred --release` first",
        bundle.display()
    );
    let python = std::env::var_os("KINDRED_PEDALBOARD_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".cache/pedalboard-venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run `cargo xtask test`, or make a venv with pedalboard and numpy and \
         set KINDRED_PEDALBOARD_PYTHON",
        python.display()
    );
    let out = Command::new(&python)
        .arg(root.join("tests/vst3_pedalboard.py"))
        .arg(&bundle)
        .output()
        .expect("python starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "pedalboard check failed:\n{stdout}\n{stderr}"
    );
}
