//! Liveness, readiness and startup probes, run from inside the pod's
//! network namespace: `tcpSocket` connects, `httpGet` sends a GET and wants
//! a 2xx/3xx answer, `exec` runs a command in the container (through the
//! runtime) and wants exit code 0.
use std::{
    io::{Read, Write},
    net::{IpAddr, SocketAddr, TcpStream},
    path::{Path, PathBuf},
    time::Duration,
};

use k8s_openapi::{api::core::v1::Probe, apimachinery::pkg::util::intstr::IntOrString};

use crate::agent::runtime::{ExecOutput, ExecTarget, Exit, Runtime};

/// Result of one probe run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The check passed.
    Success,
    /// The check failed, with why.
    Failure(String),
}

/// What a probe does, resolved against the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Connect to host:port.
    Tcp(SocketAddr),
    /// GET http://host:port/path.
    Http {
        /// Where to connect.
        addr: SocketAddr,
        /// Request path.
        path: String,
        /// Host header.
        host: String,
    },
    /// Run a command in the container.
    Exec(Vec<String>),
}

/// Timing of a probe, with Kubernetes' defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// Delay before the first run.
    pub initial_delay: Duration,
    /// Time between runs.
    pub period: Duration,
    /// Time allowed per run.
    pub timeout: Duration,
    /// Consecutive successes to pass (after failing).
    pub success_threshold: u32,
    /// Consecutive failures to fail.
    pub failure_threshold: u32,
}

fn secs(v: Option<i32>, default: u64) -> Duration {
    Duration::from_secs(v.map_or(default, |s| s.max(0) as u64))
}

/// Resolves a probe spec. Named ports are looked up in the container's
/// ports; the probe targets the pod IP unless `host` is set.
pub fn resolve(
    p: &Probe,
    pod_ip: IpAddr,
    named_ports: &[(String, u16)],
) -> Result<(Action, Timing), String> {
    let port_of = |port: &IntOrString| -> Result<u16, String> {
        match port {
            IntOrString::Int(n) => u16::try_from(*n)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("probe port {n} is not 1..=65535")),
            IntOrString::String(name) => named_ports
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, p)| *p)
                .ok_or_else(|| format!("probe port {name:?} names no container port")),
        }
    };
    let action = if let Some(t) = &p.tcp_socket {
        let host = t
            .host
            .as_deref()
            .and_then(|h| h.parse().ok())
            .unwrap_or(pod_ip);
        Action::Tcp(SocketAddr::new(host, port_of(&t.port)?))
    } else if let Some(h) = &p.http_get {
        let host = h
            .host
            .as_deref()
            .and_then(|h| h.parse().ok())
            .unwrap_or(pod_ip);
        let addr = SocketAddr::new(host, port_of(&h.port)?);
        Action::Http {
            addr,
            path: h.path.clone().unwrap_or_else(|| "/".into()),
            host: addr.to_string(),
        }
    } else if let Some(e) = &p.exec {
        let cmd = e.command.clone().unwrap_or_default();
        if cmd.is_empty() {
            return Err("exec probe has no command".into());
        }
        Action::Exec(cmd)
    } else {
        return Err("probe has no handler: expected exec, httpGet or tcpSocket".into());
    };
    let timing = Timing {
        initial_delay: secs(p.initial_delay_seconds, 0),
        period: secs(p.period_seconds, 10).max(Duration::from_millis(100)),
        timeout: secs(p.timeout_seconds, 1).max(Duration::from_millis(100)),
        success_threshold: p.success_threshold.map_or(1, |v| v.max(1) as u32),
        failure_threshold: p.failure_threshold.map_or(3, |v| v.max(1) as u32),
    };
    Ok((action, timing))
}

fn tcp_in_netns(netns: &Path, addr: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    orch_proxy::sys::in_netns(netns, || TcpStream::connect_timeout(&addr, timeout))
}

fn http_get(netns: &Path, addr: SocketAddr, path: &str, host: &str, timeout: Duration) -> Outcome {
    let mut s = match tcp_in_netns(netns, addr, timeout) {
        Ok(s) => s,
        Err(e) => return Outcome::Failure(format!("Get \"http://{addr}{path}\": {e}")),
    };
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: orch-probe/1.0\r\nAccept: */*\r\nConnection: close\r\n\r\n");
    if let Err(e) = s.write_all(req.as_bytes()) {
        return Outcome::Failure(format!("Get \"http://{addr}{path}\": {e}"));
    }
    let mut head = [0u8; 64];
    let n = match s.read(&mut head) {
        Ok(n) => n,
        Err(e) => return Outcome::Failure(format!("Get \"http://{addr}{path}\": {e}")),
    };
    let line = String::from_utf8_lossy(&head[..n]);
    let code: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    if (200..400).contains(&code) {
        Outcome::Success
    } else {
        Outcome::Failure(format!("HTTP probe failed with statuscode: {code}"))
    }
}

/// Runs an exec probe: `cmd` in the container, passing on exit code 0.
pub async fn run_exec(
    runtime: &Runtime,
    target: &ExecTarget,
    cmd: &[String],
    timeout: Duration,
) -> Outcome {
    match runtime.exec(target, cmd, timeout).await {
        Ok(ExecOutput {
            exit: Some(Exit::Code(0)),
            ..
        }) => Outcome::Success,
        Ok(ExecOutput {
            exit: Some(exit),
            output,
        }) => Outcome::Failure(format!(
            "command {cmd:?} exited with {}: {}",
            exit.exit_code(),
            output.trim()
        )),
        Ok(ExecOutput { exit: None, .. }) => {
            Outcome::Failure(format!("command {cmd:?} timed out after {:?}", timeout))
        }
        Err(e) => Outcome::Failure(format!("exec {cmd:?}: {e}")),
    }
}

/// Runs a network probe from inside `netns`. Exec probes run in the
/// container ([`run_exec`]).
pub async fn run_network(netns: PathBuf, action: Action, timeout: Duration) -> Outcome {
    let result = tokio::task::spawn_blocking(move || match action {
        Action::Tcp(addr) => match tcp_in_netns(&netns, addr, timeout) {
            Ok(_) => Outcome::Success,
            Err(e) => Outcome::Failure(format!("dial tcp {addr}: {e}")),
        },
        Action::Http { addr, path, host } => http_get(&netns, addr, &path, &host, timeout),
        Action::Exec(_) => {
            Outcome::Failure("exec probes run in the container: use run_exec".into())
        }
    })
    .await;
    result.unwrap_or_else(|e| Outcome::Failure(format!("probe task failed: {e}")))
}

/// Counts consecutive results against thresholds.
#[derive(Debug, Clone)]
pub struct Tracker {
    timing: Timing,
    successes: u32,
    failures: u32,
    /// Current verdict.
    pub passing: bool,
}

impl Tracker {
    /// A tracker starting at `initially_passing`.
    pub fn new(timing: Timing, initially_passing: bool) -> Self {
        Self {
            timing,
            successes: 0,
            failures: 0,
            passing: initially_passing,
        }
    }

    /// Records one outcome; returns true if the verdict changed.
    pub fn record(&mut self, o: &Outcome) -> bool {
        let before = self.passing;
        match o {
            Outcome::Success => {
                self.failures = 0;
                self.successes += 1;
                if self.successes >= self.timing.success_threshold {
                    self.passing = true;
                }
            }
            Outcome::Failure(_) => {
                self.successes = 0;
                self.failures += 1;
                if self.failures >= self.timing.failure_threshold {
                    self.passing = false;
                }
            }
        }
        before != self.passing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn probe(v: serde_json::Value) -> Probe {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn resolves_handlers_named_ports_and_defaults() {
        let ip: IpAddr = "10.244.1.5".parse().unwrap();
        let (a, t) = resolve(
            &probe(json!({"httpGet": {"path": "/healthz", "port": "http"}})),
            ip,
            &[("http".into(), 8080)],
        )
        .unwrap();
        assert_eq!(
            a,
            Action::Http {
                addr: "10.244.1.5:8080".parse().unwrap(),
                path: "/healthz".into(),
                host: "10.244.1.5:8080".into()
            }
        );
        assert_eq!(t.period, Duration::from_secs(10));
        assert_eq!(t.failure_threshold, 3);
        let (a, _) = resolve(&probe(json!({"tcpSocket": {"port": 53}})), ip, &[]).unwrap();
        assert_eq!(a, Action::Tcp("10.244.1.5:53".parse().unwrap()));
        assert!(resolve(&probe(json!({"tcpSocket": {"port": "nope"}})), ip, &[]).is_err());
        assert!(resolve(&probe(json!({})), ip, &[]).is_err());
        let (a, _) = resolve(&probe(json!({"exec": {"command": ["true"]}})), ip, &[]).unwrap();
        assert_eq!(a, Action::Exec(vec!["true".into()]));
    }

    #[test]
    fn tracker_honours_thresholds() {
        let t = Timing {
            initial_delay: Duration::ZERO,
            period: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            success_threshold: 2,
            failure_threshold: 3,
        };
        let mut tr = Tracker::new(t, true);
        let f = Outcome::Failure("x".into());
        assert!(!tr.record(&f));
        assert!(!tr.record(&f));
        assert!(tr.record(&f), "third failure flips");
        assert!(!tr.passing);
        assert!(!tr.record(&Outcome::Success));
        assert!(tr.record(&Outcome::Success), "second success flips back");
    }

    #[tokio::test]
    async fn network_probes_reach_a_local_listener() {
        if !nix::unistd::geteuid().is_root() {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "needs root (setns)"
            );
            eprintln!("skipped: needs root (setns into a network namespace)");
            return;
        }
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming().take(2) {
                let mut s = s.unwrap();
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n");
            }
        });
        let me = PathBuf::from("/proc/self/ns/net");
        assert_eq!(
            run_network(me.clone(), Action::Tcp(addr), Duration::from_secs(1)).await,
            Outcome::Success
        );
        let http = Action::Http {
            addr,
            path: "/".into(),
            host: addr.to_string(),
        };
        assert_eq!(
            run_network(me.clone(), http, Duration::from_secs(1)).await,
            Outcome::Success
        );
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(matches!(
            run_network(me, Action::Tcp(closed), Duration::from_secs(1)).await,
            Outcome::Failure(_)
        ));
    }
}
