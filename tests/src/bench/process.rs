//! Child processes of the benchmarks (etcd, `orch server`): free loopback
//! ports, output captured to a log file, and a guard that kills and reaps
//! the process on drop, also while a panic unwinds.
use std::process::Command;

use anyhow::{Context, Result};

/// Free loopback ports and the child guard are shared with orch-core's
/// tests.
pub use orch_testkit::{free_port, ChildGuard};

/// Resident and peak resident memory of a process, in KiB, from
/// `/proc/<pid>/status` (`VmRSS`, `VmHWM`).
pub fn rss_kib(pid: u32) -> Result<(u64, u64)> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| -> Result<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no {name} in {path}"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Proportional set size of a process in KiB (`Pss` of
/// `/proc/<pid>/smaps_rollup`): shared pages count divided among the
/// processes that map them.
pub fn pss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/smaps_rollup");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no Pss in {path}"))
}

/// Bytes a process has caused to be written to storage so far
/// (`write_bytes` of `/proc/<pid>/io`; `None` for this process reads
/// `/proc/self/io`).
pub fn disk_write_bytes(pid: Option<u32>) -> Result<u64> {
    let path = pid.map_or_else(|| "/proc/self/io".to_string(), |p| format!("/proc/{p}/io"));
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no write_bytes in {path}"))
}

/// CPU time (user + system, all threads) a process has used, in seconds,
/// from `/proc/<pid>/stat` (`None`: this process).
pub fn cpu_secs(pid: Option<u32>) -> Result<f64> {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_string(),
        |p| format!("/proc/{p}/stat"),
    );
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // Fields after the command name, which may hold spaces: state is 3rd,
    // utime the 14th and stime the 15th of the whole line.
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let mut f = rest.split_whitespace().skip(11);
    let ticks = |v: Option<&str>| v.and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    let (user, system) = (ticks(f.next()), ticks(f.next()));
    Ok((user + system) as f64 / clock_ticks())
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 when unknown).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU seconds used by this process and, if given, another one.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuMark {
    /// This process.
    pub own: f64,
    /// The other process.
    pub other: f64,
}

impl CpuMark {
    /// Reads both clocks now.
    pub fn now(other: Option<u32>) -> Self {
        Self {
            own: cpu_secs(None).unwrap_or(0.0),
            other: other.and_then(|p| cpu_secs(Some(p)).ok()).unwrap_or(0.0),
        }
    }

    /// The CPU used since `earlier`.
    pub fn since(self, earlier: CpuMark) -> CpuMark {
        CpuMark {
            own: (self.own - earlier.own).max(0.0),
            other: (self.other - earlier.other).max(0.0),
        }
    }

    /// Adds another interval.
    pub fn add(&mut self, more: CpuMark) {
        self.own += more.own;
        self.other += more.other;
    }
}

/// Pids of the processes whose parent is `pid` (from `/proc/*/stat`).
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    let rest = s.rsplit_once(')')?.1.to_string();
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}
