//! `cargo xtask bench store|api|scheduler|pods|proxy|dns|all`: builds the eBPF object
//! (orch-tests embeds orch-proxy), then `orch`, `orch-dns` and `orch-bench`
//! in release, then runs
//! `orch-bench`, which prints Markdown reports and writes them to
//! `target/orch/bench/`. Not part of `cargo xtask test`.
use std::process::Command;

use anyhow::{bail, Result};

use crate::{build, step};

/// Builds what the benchmarks need and runs `what` with `extra` arguments.
pub fn run(what: &str, extra: &[String]) -> Result<()> {
    if !matches!(
        what,
        "store" | "api" | "scheduler" | "pods" | "proxy" | "dns" | "all"
    ) {
        bail!("unknown benchmark {what:?}: use store, api, scheduler, pods, proxy, dns or all");
    }
    if matches!(what, "proxy" | "all") {
        crate::setup::ensure_packages(&["wrk"])?;
    }
    if matches!(what, "dns" | "all") {
        crate::setup::ensure_packages(&["dnsperf", "knot"])?;
    }
    build::ebpf()?;
    let t = step::start("build: orch, orch-dns and orch-bench (release)");
    step::run(Command::new("cargo").args([
        "build",
        "--release",
        "-p",
        "orch-tests",
        "--bin",
        "orch-bench",
        "-p",
        "orch-core",
        "--bin",
        "orch",
        "-p",
        "orch-dns",
        "--bin",
        "orch-dns",
    ]))?;
    step::finish("built", t);
    let release = step::target_dir().join("release");
    let out = step::target_dir().join("orch/bench");
    let t = step::start(&format!("bench: {what}"));
    let mut cmd = Command::new(release.join("orch-bench"));
    cmd.arg(what)
        .arg("--orch")
        .arg(release.join("orch"))
        .arg("--orch-dns")
        .arg(release.join("orch-dns"))
        .arg("--out")
        .arg(&out)
        .args(extra);
    step::run(&mut cmd)?;
    step::finish(&format!("reports in {}", out.display()), t);
    Ok(())
}
