//! Helpers for the iptables packet-path tests: a simulated node with pods
//! ([`topology`]), echo servers and clients inside them ([`echo`]), and the
//! privilege check. (orch-tests has the same kind of guards, but it depends
//! on orch-proxy and orch-core, so orch-proxy's own tests keep theirs.)
#![allow(dead_code)]

pub mod echo;
pub mod topology;

use std::process::{Command, Output};

/// Returns `true` when the test may proceed. Without CAP_NET_ADMIN and
/// CAP_SYS_ADMIN the test fails under CI (`CI` set) and is skipped, with
/// the reason printed, elsewhere.
pub fn require_root(why: &str) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let missing: Vec<&str> = [(12, "CAP_NET_ADMIN"), (21, "CAP_SYS_ADMIN")]
        .iter()
        .filter(|(bit, _)| caps & (1u64 << bit) == 0)
        .map(|(_, name)| *name)
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!("needs root ({why}): missing {}", missing.join(", "));
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false") {
        panic!("{msg}; CI must run packet-path tests as root");
    }
    eprintln!("skipped: {msg}");
    false
}

/// Runs `program args...`, panicking with the command and its stderr if it
/// fails.
pub fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("could not start `{program}`: {e}"));
    assert!(
        out.status.success(),
        "`{program} {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Best-effort variant for cleanup paths.
pub fn quiet(program: &str, args: &[&str]) {
    let _ = Command::new(program).args(args).output();
}
