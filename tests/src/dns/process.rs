//! orch-dns as a process, as users run it stand-alone: a kubeconfig, DNS
//! and HTTP on free loopback ports, its log in a file. Killed on drop.
use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream, UdpSocket},
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::bench::process::{free_port, rss_kib, ChildGuard};

/// A running orch-dns.
#[derive(Debug)]
pub struct OrchDnsProcess {
    child: ChildGuard,
    /// DNS (UDP and TCP).
    pub dns: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub http: SocketAddr,
}

/// A loopback port free for both UDP and TCP a moment ago.
pub fn free_dns_port() -> Result<u16> {
    for _ in 0..50 {
        let p = free_port()?;
        if UdpSocket::bind(("127.0.0.1", p)).is_ok() {
            return Ok(p);
        }
    }
    bail!("no loopback port free for both UDP and TCP")
}

impl OrchDnsProcess {
    /// Starts `bin` against `kubeconfig` with `extra` flags, logging to
    /// `log`, and waits until `/readyz` answers 200 (its first complete
    /// lists are in).
    pub fn start(bin: &Path, kubeconfig: &Path, extra: &[&str], log: &Path) -> Result<Self> {
        let dns = SocketAddr::from(([127, 0, 0, 1], free_dns_port()?));
        let http = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mut cmd = Command::new(bin);
        cmd.arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--listen", &dns.to_string()])
            .args(["--http-listen", &http.to_string()])
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            );
        let mut child = ChildGuard::spawn("orch-dns", &mut cmd, log)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            child.check_running()?;
            match http_get(http, "/readyz") {
                Ok((200, _)) => return Ok(Self { child, dns, http }),
                Ok((code, body)) => last = format!("{code} {body}"),
                Err(e) => last = format!("{e:#}"),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "orch-dns was not ready within 60 s (last /readyz: {last}); log:\n{}",
            child.log_tail(30)
        )
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// `VmRSS` and `VmHWM` in KiB.
    pub fn rss_kib(&self) -> Result<(u64, u64)> {
        rss_kib(self.pid())
    }

    /// The end of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.child.log_tail(lines)
    }

    /// Fails if it has exited.
    pub fn check_running(&mut self) -> Result<()> {
        Ok(self.child.check_running()?)
    }
}

/// `GET path` over HTTP/1.1 (blocking): status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: orch-dns\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("not an HTTP response: {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}
