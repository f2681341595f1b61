//! Commands inside a pod's (or node's) network namespace with
//! `ip netns exec`, which also bind-mounts `/etc/netns/<ns>/resolv.conf`:
//! the namespace resolves names as the pod does. Every command has a time
//! limit (curl's `-m`, dig's `+time`, loops bounded in count and seconds).
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use anyhow::{Context, Result};

/// `ip netns exec <ns> argv...`.
pub fn exec(ns: &str, argv: &[&str]) -> Result<Output> {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(argv)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("ip netns exec {ns} {}", argv.join(" ")))
}

/// The body of one `curl URL` from `ns` (3 s limit), or the error.
pub fn curl(ns: &str, url: &str) -> Result<String> {
    let out = exec(ns, &["curl", "-sS", "-m", "3", url])?;
    if !out.status.success() {
        anyhow::bail!(
            "curl {url} from {ns}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `n` requests to `url` from `ns`, one connection each (2 s limit each):
/// the first word of each answer (the echo server's pod name), or
/// `FAIL<curl's exit code>` (7: refused or unreachable, 28: timed out).
pub fn requests(ns: &str, url: &str, n: u32) -> Result<Vec<String>> {
    let script = format!(
        "for i in $(seq {n}); do curl -s -m 2 '{url}' || echo FAIL$?; done",
        n = n.min(2000)
    );
    let out = exec(ns, &["sh", "-c", &script])?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or("FAIL").to_string())
        .collect())
}

/// `dig +short ARGS` from `ns` through its resolv.conf (2 s, 2 tries): the
/// answer lines.
pub fn dig_short(ns: &str, args: &[&str]) -> Result<Vec<String>> {
    let mut argv = vec!["dig", "+short", "+time=2", "+tries=2"];
    argv.extend_from_slice(args);
    let out = exec(ns, &argv)?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with(';'))
        .collect())
}

/// The pids of the processes in `ns`.
pub fn pids(ns: &str) -> Vec<u32> {
    let out = Command::new("ip").args(["netns", "pids", ns]).output();
    out.map(|o| {
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    })
    .unwrap_or_default()
}

/// A request loop in the background: one curl every `gap` until
/// [`Loop::finish`] or `limit`, each answer's HTTP code on a line (`000`
/// when none came).
#[derive(Debug)]
pub struct Loop {
    child: Option<Child>,
    stop: PathBuf,
}

impl Loop {
    /// Starts the loop in `ns` against `url`.
    pub fn start(ns: &str, url: &str, gap: Duration, limit: Duration) -> Result<Self> {
        let stop =
            std::env::temp_dir().join(format!("orch-e2e-loop-{}-{}", std::process::id(), ns));
        let _ = std::fs::remove_file(&stop);
        let script = format!(
            "end=$(( $(date +%s) + {limit} )); \
             while [ ! -e '{stop}' ] && [ $(date +%s) -lt $end ]; do \
               curl -s -o /dev/null -m 2 -w '%{{http_code}}\\n' '{url}'; sleep {gap}; \
             done",
            limit = limit.as_secs(),
            stop = stop.display(),
            gap = gap.as_secs_f64(),
        );
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the request loop")?;
        Ok(Self {
            child: Some(child),
            stop,
        })
    }

    /// Stops the loop after its current request and returns the codes.
    pub fn finish(mut self) -> Result<Vec<String>> {
        std::fs::write(&self.stop, b"")?;
        let child = self.child.take().context("loop already finished")?;
        let out = child.wait_with_output()?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect())
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.stop);
    }
}

/// The command line of process `pid`, or empty.
pub fn cmdline(pid: u32) -> String {
    std::fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}
