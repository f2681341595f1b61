//! Deciding whether a privileged test can run.
//!
//! Under CI (`CI=true`) a missing privilege fails the test with the reason;
//! elsewhere the test prints `skipped: needs root (reason)` and returns.
use std::fs;

/// Capabilities packet-path tests need, as (bit, name).
const NEEDED: [(u32, &str); 3] = [
    (12, "CAP_NET_ADMIN"),
    (21, "CAP_SYS_ADMIN"),
    (39, "CAP_BPF"),
];

/// Returns `true` when the test may proceed. `why` says what the test needs
/// root for and appears in the skip or failure message.
pub fn require_root(why: &str) -> bool {
    match missing_privilege() {
        None => true,
        Some(reason) => {
            let msg = format!("needs root ({why}): {reason}");
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("{msg}; CI must run packet-path tests as root");
            }
            eprintln!("skipped: {msg}");
            false
        }
    }
}

/// Why this process can't do privileged network work, or `None` if it can.
pub fn missing_privilege() -> Option<String> {
    let status = match fs::read_to_string("/proc/self/status") {
        Ok(s) => s,
        Err(e) => return Some(format!("cannot read /proc/self/status: {e}")),
    };
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok());
    let Some(caps) = cap_eff else {
        return Some("no CapEff line in /proc/self/status".into());
    };
    let missing: Vec<&str> = NEEDED
        .iter()
        .filter(|(bit, _)| caps & (1 << bit) == 0)
        .map(|(_, n)| *n)
        .collect();
    if missing.is_empty() {
        None
    } else {
        Some(format!("missing {}", missing.join(", ")))
    }
}
