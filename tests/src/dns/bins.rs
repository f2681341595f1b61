//! The workspace's binaries for tests that run them as processes: built
//! (or found up to date) by cargo once per test process, in the profile
//! and target directory of the running test.
use std::{
    collections::BTreeSet,
    path::PathBuf,
    process::Command,
    sync::{Mutex, OnceLock},
};

/// The directory of the running executable's profile (`target/debug`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().expect("a parent directory");
    // Test executables live in `<profile>/deps`.
    if dir.ends_with("deps") {
        dir.parent().expect("a profile directory").to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// `bin` of `package`, built by cargo first (a no-op when up to date).
/// Panics with cargo's exit status if the build fails. With `ORCH_BIN_DIR`
/// set (prebuilt binaries, as inside `cargo xtask vm`) it is
/// `$ORCH_BIN_DIR/<bin>` and cargo is not run.
pub fn built(package: &str, bin: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("ORCH_BIN_DIR") {
        let path = PathBuf::from(dir).join(bin);
        assert!(
            path.exists(),
            "{} is missing (ORCH_BIN_DIR)",
            path.display()
        );
        return path;
    }
    static DONE: OnceLock<Mutex<BTreeSet<String>>> = OnceLock::new();
    let done = DONE.get_or_init(Default::default);
    let mut done = done.lock().unwrap_or_else(|p| p.into_inner());
    let path = profile_dir().join(bin);
    if done.insert(bin.to_string()) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let profile = profile_dir();
        let mut cmd = Command::new(cargo);
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
        // The target directory the running test was built in.
        if let Some(target) = profile.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        cmd.args(["build", "--quiet", "-p", package, "--bin", bin]);
        if profile.ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("running cargo to build {bin}: {e}"));
        assert!(
            status.success(),
            "cargo build -p {package} --bin {bin}: {status}"
        );
    }
    assert!(path.exists(), "{} was not built", path.display());
    path
}
