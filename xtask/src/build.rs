//! `cargo xtask build` and `build-ebpf`: the eBPF object first (nightly,
//! `-Z build-std=core`, bpf-linker), then the workspace that embeds it.
use std::{path::Path, process::Command, time::SystemTime};

use anyhow::{bail, Context, Result};

use crate::step;

/// Builds `orch-proxy-ebpf` for `bpfel-unknown-none` into
/// `target/bpfel-unknown-none/ebpf/orch-proxy-ebpf`.
pub fn ebpf() -> Result<()> {
    if !step::succeeds(Command::new(step::cargo_bin_dir().join("bpf-linker")).arg("--version")) {
        bail!("bpf-linker is missing or cannot start; run `cargo xtask setup`");
    }
    let t = step::start("build: eBPF object (orch-proxy-ebpf, bpfel-unknown-none)");
    let mut cmd = Command::new("rustup");
    cmd.env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("PATH", step::path_with_cargo_bin())
        .args([
            "run",
            "nightly",
            "cargo",
            "build",
            "--quiet",
            "-Z",
            "build-std=core",
        ])
        .args([
            "--target",
            "bpfel-unknown-none",
            "--profile",
            "ebpf",
            "-p",
            "orch-proxy-ebpf",
        ]);
    step::run(&mut cmd)?;
    // Cargo leaves the artifact untouched when it was already fresh, even if
    // a source's mtime moved (a checkout); stamp it then, so orch-proxy's
    // staleness check compares against this build. A fresh object is left
    // alone, so an unchanged tree does not rebuild orch-proxy.
    let object = step::target_dir().join("bpfel-unknown-none/ebpf/orch-proxy-ebpf");
    let root = step::root();
    let newest_source = ["orch-proxy-ebpf", "orch-proxy-common"]
        .iter()
        .filter_map(|c| newest_mtime(&root.join(c)))
        .max();
    if newest_source.is_some_and(|src| mtime(&object).is_none_or(|obj| obj < src)) {
        std::fs::File::options()
            .write(true)
            .open(&object)
            .and_then(|f| f.set_modified(std::time::SystemTime::now()))
            .with_context(|| format!("stamping {}", object.display()))?;
    }
    step::finish("eBPF object built", t);
    Ok(())
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// The newest mtime of the files below `dir` (skipping `target`).
fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(dir).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name() != "target")
        .filter_map(|e| newest_mtime(&e.path()))
        .max()
}

/// Builds the eBPF object, then every workspace crate.
pub fn all(release: bool) -> Result<()> {
    crate::setup::require_protoc()?;
    ebpf()?;
    let t = step::start(&format!(
        "build: workspace ({})",
        if release { "release" } else { "debug" }
    ));
    let mut cmd = Command::new("cargo");
    cmd.args(["build", "--workspace"]);
    if release {
        cmd.arg("--release");
    }
    step::run(&mut cmd)?;
    step::finish("workspace built", t);
    Ok(())
}
