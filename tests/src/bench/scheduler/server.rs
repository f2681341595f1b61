//! `orch server` with extra flags (`--no-controllers`, `--no-scheduler`)
//! for the scheduler benchmark: a temporary data directory, a free
//! loopback port, kube-rs clients from its `admin.kubeconfig`. Killed and
//! its directory removed on drop.
use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::bench::process::{free_port, rss_kib, ChildGuard};

/// A running `orch server`.
#[derive(Debug)]
pub struct Server {
    // Declared before `dir` so the processes die before their directory goes.
    scheduler: Option<ChildGuard>,
    child: ChildGuard,
    dir: tempfile::TempDir,
    config: kube::Config,
}

impl Server {
    /// Starts `bin server` with `extra` flags and waits until it answers.
    pub async fn start(bin: &Path, extra: &[&str]) -> Result<Self> {
        if !bin.exists() {
            bail!(
                "{} not found: build it with `cargo build --release -p orch-core --bin orch`",
                bin.display()
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("orch-bench-sched")
            .tempdir()?;
        let addr = format!("127.0.0.1:{}", free_port()?);
        let mut cmd = Command::new(bin);
        cmd.arg("server")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", &addr])
            .args(extra)
            .env("RUST_LOG", "warn");
        let mut child = ChildGuard::spawn("orch server", &mut cmd, &dir.path().join("orch.log"))?;
        let kubeconfig = dir.path().join("data/admin.kubeconfig");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = String::from("no admin.kubeconfig yet");
        while Instant::now() < deadline {
            child.check_running()?;
            if kubeconfig.exists() {
                match probe(&kubeconfig).await {
                    Ok(config) => {
                        return Ok(Self {
                            scheduler: None,
                            child,
                            dir,
                            config,
                        })
                    }
                    Err(e) => last = format!("{e:#}"),
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "orch server did not answer within 30 s (last: {last}); log:\n{}",
            child.log_tail(20)
        )
    }

    /// A new client with its own connection pool.
    pub fn client(&self) -> Result<kube::Client> {
        kube::Client::try_from(self.config.clone()).context("building a kube client")
    }

    /// Resident memory of the server, in MiB.
    pub fn rss_mib(&self) -> f64 {
        rss_kib(self.child.pid()).map_or(f64::NAN, |(rss, _)| rss as f64 / 1024.0)
    }

    /// Starts `bin scheduler` as a process of its own against this server.
    pub fn start_scheduler(&mut self, bin: &Path) -> Result<()> {
        let mut cmd = Command::new(bin);
        cmd.arg("scheduler")
            .arg("--kubeconfig")
            .arg(self.dir.path().join("data/admin.kubeconfig"))
            .env("RUST_LOG", "warn");
        let log = self.dir.path().join("scheduler.log");
        self.scheduler = Some(ChildGuard::spawn("orch scheduler", &mut cmd, &log)?);
        Ok(())
    }

    /// CPU seconds (user + system) used so far by the server, and by the
    /// separate scheduler process if there is one.
    pub fn cpu_secs(&self) -> (f64, Option<f64>) {
        (
            cpu_secs(&self.child.pid().to_string()),
            self.scheduler
                .as_ref()
                .map(|s| cpu_secs(&s.pid().to_string())),
        )
    }

    /// The end of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.child.log_tail(lines)
    }
}

async fn probe(kubeconfig: &Path) -> Result<kube::Config> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    kube::Client::try_from(config.clone())?
        .apiserver_version()
        .await?;
    Ok(config)
}

/// User + system CPU seconds of a process (`self` for this one), from
/// `/proc/<pid>/stat` (clock ticks of 1/100 s, Linux's USER_HZ).
pub fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // utime and stime are fields 14 and 15 of the line, 11 and 12 here.
    (ticks(11) + ticks(12)) / 100.0
}
