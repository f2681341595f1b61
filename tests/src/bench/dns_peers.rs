//! The DNS benchmark's peers: dnsperf (the load) and Knot DNS (the
//! reference server, `knotd` with a temporary configuration on a loopback
//! port), installed from Debian when missing and running as root.
use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::process::{ChildGuard, CpuMark};
use crate::dns::process::free_dns_port;

/// Makes sure `dnsperf` and `knotd` can be run, installing the Debian
/// packages `dnsperf` and `knot` when missing and allowed (root, Debian).
pub fn ensure_tools() -> Result<()> {
    let have = |p: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {p}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut missing = Vec::new();
    if !have("dnsperf") {
        missing.push("dnsperf");
    }
    if !have("knotd") && !Path::new("/usr/sbin/knotd").exists() {
        missing.push("knot");
    }
    if missing.is_empty() {
        return Ok(());
    }
    let root = nix_is_root();
    if !root || !Path::new("/usr/bin/apt-get").exists() {
        bail!(
            "the DNS benchmark needs {}: install with `apt-get install -y {}`",
            missing.join(" and "),
            missing.join(" ")
        );
    }
    eprintln!("bench dns: installing {}", missing.join(" "));
    let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
    let _ = ok(Command::new("apt-get").args(["update", "-q"]));
    if !ok(Command::new("apt-get")
        .args(["install", "-y", "-q"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
    {
        bail!("apt-get install -y {} failed", missing.join(" "));
    }
    Ok(())
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn knotd() -> &'static str {
    if Path::new("/usr/sbin/knotd").exists() {
        "/usr/sbin/knotd"
    } else {
        "knotd"
    }
}

/// A running knotd serving one zone.
#[derive(Debug)]
pub struct Knot {
    child: ChildGuard,
    _dir: tempfile::TempDir,
    /// Where it answers (UDP and TCP).
    pub addr: SocketAddr,
}

impl Knot {
    /// Serves `zone` (the text of `cluster.local.`) with `workers` UDP
    /// threads, and waits until it answers `probe`.
    pub fn start(zone: &str, workers: usize, probe: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("orch-bench-knot")
            .tempdir()?;
        let d = dir.path();
        std::fs::create_dir_all(d.join("db"))?;
        std::fs::write(d.join("cluster.local.zone"), zone)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], free_dns_port()?));
        let conf = format!(
            "server:\n    rundir: \"{d}\"\n    listen: {ip}@{port}\n    udp-workers: {workers}\n    tcp-workers: 1\n    background-workers: 1\n\
             database:\n    storage: \"{d}/db\"\n\
             log:\n  - target: stderr\n    any: notice\n\
             zone:\n  - domain: cluster.local\n    storage: \"{d}\"\n    file: \"cluster.local.zone\"\n",
            d = d.display(),
            ip = addr.ip(),
            port = addr.port(),
        );
        std::fs::write(d.join("knot.conf"), conf)?;
        let mut cmd = Command::new(knotd());
        cmd.arg("-c").arg(d.join("knot.conf"));
        let mut child = ChildGuard::spawn("knotd", &mut cmd, &d.join("knot.log"))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut asker = crate::dns::query::Asker::new(Duration::from_millis(200))?;
        while Instant::now() < deadline {
            child.check_running()?;
            if let Ok(Some(r)) = asker.ask(addr, probe, hickory_server::proto::rr::RecordType::A) {
                if !r.answers.is_empty() {
                    return Ok(Self {
                        child,
                        _dir: dir,
                        addr,
                    });
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "knotd did not answer {probe} within 60 s; log:\n{}",
            child.log_tail(20)
        )
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }
}

/// How to load a server.
#[derive(Debug, Clone, Copy)]
pub struct PerfLoad {
    /// Seconds to run.
    pub seconds: u64,
    /// dnsperf clients (sockets).
    pub clients: usize,
    /// dnsperf threads.
    pub threads: usize,
    /// Queries in flight at most.
    pub outstanding: usize,
    /// Queries per second at most (`None`: as fast as answered).
    pub max_qps: Option<u32>,
    /// Record every query's latency (`-v`).
    pub per_query: bool,
}

/// What dnsperf measured.
#[derive(Debug, Clone, Default)]
pub struct PerfResult {
    /// Queries sent.
    pub sent: u64,
    /// Queries answered.
    pub completed: u64,
    /// Queries lost (timed out).
    pub lost: u64,
    /// Answers per response code.
    pub rcodes: BTreeMap<String, u64>,
    /// Answered queries per second.
    pub qps: f64,
    /// Mean latency.
    pub avg: Duration,
    /// Per-query latencies, sorted (with `per_query`).
    pub latencies: Vec<Duration>,
    /// CPU seconds the server used during the run.
    pub server_cpu: f64,
    /// The run's wall time, in seconds.
    pub wall: f64,
}

/// Runs dnsperf against `server` with the queries in `file`.
pub fn dnsperf(
    server: SocketAddr,
    file: &Path,
    load: PerfLoad,
    server_pid: u32,
) -> Result<PerfResult> {
    let mut cmd = Command::new("dnsperf");
    cmd.args(["-s", &server.ip().to_string()])
        .args(["-p", &server.port().to_string()])
        .arg("-d")
        .arg(file)
        .args(["-l", &load.seconds.to_string()])
        .args(["-c", &load.clients.to_string()])
        .args(["-T", &load.threads.to_string()])
        .args(["-q", &load.outstanding.to_string()])
        .args(["-t", "2"]);
    if let Some(q) = load.max_qps {
        cmd.args(["-Q", &q.to_string()]);
    }
    if load.per_query {
        cmd.arg("-v");
    }
    let start = CpuMark::now(Some(server_pid));
    let t = Instant::now();
    let out = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()
        .context("running dnsperf")?;
    let wall = t.elapsed().as_secs_f64();
    let cpu = CpuMark::now(Some(server_pid)).since(start).other;
    if !out.status.success() {
        bail!(
            "dnsperf failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut r = parse(&String::from_utf8_lossy(&out.stdout));
    r.server_cpu = cpu;
    r.wall = wall;
    Ok(r)
}

fn first_number(s: &str) -> Option<f64> {
    s.split_whitespace().next()?.parse().ok()
}

/// Parses dnsperf's statistics and, with `-v`, its per-query lines
/// (`> NOERROR name type latency`).
pub fn parse(text: &str) -> PerfResult {
    let mut r = PerfResult::default();
    for line in text.lines() {
        let l = line.trim();
        if let Some(v) = l.strip_prefix("Queries sent:") {
            r.sent = first_number(v).unwrap_or(0.0) as u64;
        } else if let Some(v) = l.strip_prefix("Queries completed:") {
            r.completed = first_number(v).unwrap_or(0.0) as u64;
        } else if let Some(v) = l.strip_prefix("Queries lost:") {
            r.lost = first_number(v).unwrap_or(0.0) as u64;
        } else if let Some(v) = l.strip_prefix("Queries per second:") {
            r.qps = first_number(v).unwrap_or(0.0);
        } else if let Some(v) = l.strip_prefix("Average Latency (s):") {
            r.avg = Duration::from_secs_f64(first_number(v).unwrap_or(0.0));
        } else if let Some(v) = l.strip_prefix("Response codes:") {
            for part in v.split(',') {
                let mut w = part.split_whitespace();
                if let (Some(code), Some(n)) = (w.next(), w.next()) {
                    r.rcodes.insert(code.to_string(), n.parse().unwrap_or(0));
                }
            }
        } else if let Some(rest) = l.strip_prefix("> ") {
            if let Some(secs) = rest
                .split_whitespace()
                .last()
                .and_then(|s| s.parse::<f64>().ok())
            {
                r.latencies.push(Duration::from_secs_f64(secs));
            }
        }
    }
    r.latencies.sort_unstable();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dnsperf_statistics() {
        let text = "[Status] Sending queries\n> NOERROR a.b A 0.000200\n> NXDOMAIN c.d A 0.000100\nStatistics:\n\n  Queries sent:         152148\n  Queries completed:    152140 (100.00%)\n  Queries lost:         8 (0.00%)\n\n  Response codes:       NOERROR 76074 (50.00%), NXDOMAIN 76066 (50.00%)\n  Run time (s):         2.013618\n  Queries per second:   75559.515261\n\n  Average Latency (s):  0.001051 (min 0.000028, max 0.014835)\n";
        let r = parse(text);
        assert_eq!((r.sent, r.completed, r.lost), (152_148, 152_140, 8));
        assert_eq!(r.rcodes["NXDOMAIN"], 76_066);
        assert!((r.qps - 75_559.5).abs() < 1.0);
        assert_eq!(r.avg, Duration::from_micros(1051));
        assert_eq!(
            r.latencies,
            [Duration::from_micros(100), Duration::from_micros(200)]
        );
    }
}
