//! `cargo xtask test`: set-up if needed, the eBPF build, lints, then every
//! test in the workspace (unit, integration, packet-path). Ends with one
//! summary line `summary: N passed, N failed, N skipped`.
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{bail, Context, Result};

use crate::{build, setup, step};

/// Counts parsed from `cargo test` output.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) passed: u64,
    pub(crate) failed: u64,
    pub(crate) ignored: u64,
}

impl Tally {
    /// Adds one `test result: ok. 3 passed; 0 failed; 1 ignored; ...` line.
    pub(crate) fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(what), Some(n)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }
}

/// Runs everything; fails if anything failed.
pub fn run(lint: bool, extra: &[String]) -> Result<()> {
    let started = Instant::now();
    if !setup::missing()?.is_empty() {
        setup::run()?;
    }
    setup::require_protoc()?;
    check_disk();
    build::ebpf()?;
    if lint {
        let t = step::start("lint: cargo fmt --check");
        step::run(Command::new("cargo").args(["fmt", "--all", "--", "--check"]))
            .context("formatting differs; run `cargo fmt --all`")?;
        step::finish("formatted", t);
        let t = step::start("lint: cargo clippy --workspace --all-targets");
        step::run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--quiet",
            "--",
            "-D",
            "warnings",
        ]))?;
        step::finish("clippy clean", t);
    }

    let t = step::start("test: cargo test --workspace (packet-path tests need root)");
    let mut cmd = cargo();
    cmd.args(["test", "--workspace", "--no-fail-fast"])
        .args(extra);
    if let Some(kubectl) = setup::debian_kubectl() {
        cmd.env("ORCH_KUBECTL", kubectl);
    }
    cmd.current_dir(step::root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().context("starting cargo test")?;
    let mut tally = Tally::default();
    let stdout = child.stdout.take().context("cargo test stdout")?;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        tally.add_line(&line);
    }
    let status = child.wait()?;
    step::finish("tests finished", t);
    println!("total time {:.0}s", started.elapsed().as_secs_f64());
    println!(
        "summary: {} passed, {} failed, {} skipped",
        tally.passed, tally.failed, tally.ignored
    );
    if !status.success() || tally.failed > 0 {
        bail!("tests failed");
    }
    if tally.passed == 0 {
        bail!("no test ran");
    }
    Ok(())
}

/// `cargo`, without incremental state under CI: a clean clone gains nothing
/// from it and it costs disk.
fn cargo() -> Command {
    let mut cmd = Command::new("cargo");
    if std::env::var_os("CI").is_some() && std::env::var_os("CARGO_INCREMENTAL").is_none() {
        cmd.env("CARGO_INCREMENTAL", "0");
    }
    cmd
}

/// Free space a clean debug build of the workspace and its tests needs, with
/// headroom (measured: about 9 GiB).
const DISK_NEEDED_GIB: u64 = 12;

/// Warns up front when the target directory's filesystem is short of space,
/// so a linker killed by a full disk is not a mystery.
fn check_disk() {
    let dir = step::target_dir();
    let probe = if dir.exists() { dir } else { step::root() };
    let Some(free) = free_gib(&probe) else { return };
    if free < DISK_NEEDED_GIB {
        println!(
            "warning: {} has {free} GiB free; a clean build and test run needs about {DISK_NEEDED_GIB} GiB \
             (set CARGO_TARGET_DIR to a larger filesystem or free space)",
            probe.display()
        );
    } else {
        step::info(&format!("{free} GiB free for {}", probe.display()));
    }
}

/// Free GiB on the filesystem holding `path`, read from `df -Pk`.
pub(crate) fn free_gib(path: &std::path::Path) -> Option<u64> {
    let out = Command::new("df").arg("-Pk").arg(path).output().ok()?;
    parse_df_free_gib(&String::from_utf8_lossy(&out.stdout))
}

/// Parses the available-KiB column of `df -Pk` output into GiB.
fn parse_df_free_gib(out: &str) -> Option<u64> {
    let line = out.lines().nth(1)?;
    let kib: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib / (1024 * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_df_available_column() {
        let out = "Filesystem 1024-blocks Used Available Capacity Mounted on\n\
                   /dev/vda 264000000 14000000 20971520 16% /\n";
        assert_eq!(parse_df_free_gib(out), Some(20));
        assert_eq!(parse_df_free_gib("Filesystem\n"), None);
    }

    #[test]
    fn tallies_result_lines() {
        let mut t = Tally::default();
        t.add_line("test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s");
        t.add_line(
            "test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        t.add_line("running 3 tests");
        assert_eq!(
            t,
            Tally {
                passed: 4,
                failed: 2,
                ignored: 1
            }
        );
    }
}
