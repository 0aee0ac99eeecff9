//! What the host tests in `tests/` share: where the bundles under test are.

use std::path::PathBuf;

/// `bundled/<name>` in the target directory this test was built into (`<target>/<profile>/
/// deps/<test>`), so a custom `CARGO_TARGET_DIR` finds its own bundles.
pub fn bundled(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("a test knows its own path");
    exe.ancestors()
        .nth(3)
        .expect("tests run from <target>/<profile>/deps")
        .join("bundled")
        .join(name)
}
