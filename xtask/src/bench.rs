//! `cargo xtask bench [store|api|scheduler|pods|proxy|dns|all|report]`:
//! builds the eBPF object (orch-tests embeds orch-proxy), then `orch`,
//! `orch-dns` and `orch-bench` in release, then runs `orch-bench`, which
//! prints Markdown reports and writes them, with each benchmark's figures
//! as JSON, to `target/orch/bench/`. `all` (the default) runs every
//! benchmark and then writes the combined `target/orch/bench/report.md`
//! with ratio tables and PNG plots; `report` only rebuilds that file from
//! the results already there. Not part of `cargo xtask test`.
use std::process::Command;

use anyhow::{bail, Result};

use crate::{build, step};

/// Every accepted benchmark name.
pub const CHOICES: &[&str] = &[
    "store",
    "api",
    "scheduler",
    "pods",
    "proxy",
    "dns",
    "all",
    "report",
];

/// The Debian package with the TTF the plots' text is drawn with (read at
/// run time, so no font library is needed to build).
pub const FONT_PACKAGE: &str = "fonts-dejavu-core";

/// Debian packages `what` needs to build and run.
pub fn packages(what: &str) -> Vec<&'static str> {
    let mut p = Vec::new();
    if what != "report" {
        // Building orch-core compiles etcd's protos.
        p.push(crate::setup::PROTOC_PACKAGE);
    }
    if matches!(what, "store" | "all") {
        p.push("etcd-server");
        p.push("etcd-client");
    }
    if matches!(what, "proxy" | "all") {
        p.push("wrk");
    }
    if matches!(what, "dns" | "all") {
        p.extend(["dnsperf", "knot"]);
    }
    if matches!(what, "all" | "report") {
        p.push(FONT_PACKAGE);
    }
    p
}

/// The release binaries `what` runs, as `cargo build` arguments.
fn build_args(what: &str) -> Vec<&'static str> {
    let mut args = vec![
        "build",
        "--release",
        "-p",
        "orch-tests",
        "--bin",
        "orch-bench",
    ];
    if what != "report" {
        args.extend([
            "-p",
            "orch-core",
            "--bin",
            "orch",
            "-p",
            "orch-dns",
            "--bin",
            "orch-dns",
        ]);
    }
    args
}

/// Builds what the benchmarks need and runs `what` with `extra` arguments.
pub fn run(what: &str, extra: &[String]) -> Result<()> {
    if !CHOICES.contains(&what) {
        bail!("unknown benchmark {what:?}: use {}", CHOICES.join(", "));
    }
    crate::setup::ensure_packages(&packages(what))?;
    if what != "report" {
        crate::setup::require_protoc()?;
    }
    build::ebpf()?;
    let t = step::start(if what == "report" {
        "build: orch-bench (release)"
    } else {
        "build: orch, orch-dns and orch-bench (release)"
    });
    step::run(Command::new("cargo").args(build_args(what)))?;
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
    let ran = step::run(&mut cmd);
    if matches!(what, "all" | "report") && out.join("report.md").exists() {
        step::info(&format!(
            "combined report: {}",
            out.join("report.md").display()
        ));
    }
    ran?;
    step::finish(&format!("reports in {}", out.display()), t);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_needs_the_font_and_only_orch_bench() {
        assert_eq!(packages("report"), vec![FONT_PACKAGE]);
        assert_eq!(
            packages("all"),
            vec![
                "protobuf-compiler",
                "etcd-server",
                "etcd-client",
                "wrk",
                "dnsperf",
                "knot",
                FONT_PACKAGE
            ]
        );
        assert_eq!(
            packages("store"),
            vec!["protobuf-compiler", "etcd-server", "etcd-client"]
        );
        assert!(!build_args("report").contains(&"orch-core"));
        assert!(build_args("all").contains(&"orch-dns"));
    }

    #[test]
    fn unknown_benchmarks_are_refused_before_building() {
        let e = run("everything", &[]).unwrap_err().to_string();
        assert!(e.contains("unknown benchmark"), "{e}");
        assert!(e.contains("report"), "{e}");
    }
}
