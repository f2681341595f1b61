//! `orch server` for the scheduler benchmark, with extra flags
//! (`--no-controllers`, `--no-scheduler`) and optionally the scheduler as a
//! process of its own. It wraps the API benchmark's [`OrchServer`].
use std::{path::Path, process::Command};

use anyhow::Result;

use crate::bench::{
    orch::OrchServer,
    process::{self, ChildGuard},
};

/// A running `orch server`, and maybe a separate `orch scheduler`.
#[derive(Debug)]
pub struct Server {
    // Declared first so the scheduler stops before the server and its
    // directory go.
    scheduler: Option<ChildGuard>,
    inner: OrchServer,
}

impl Server {
    /// Starts `bin server` with `extra` flags and waits until it answers.
    pub async fn start(bin: &Path, extra: &[&str]) -> Result<Self> {
        let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Ok(Self {
            scheduler: None,
            inner: OrchServer::start(bin, &args).await?,
        })
    }

    /// A new client with its own connection pool.
    pub fn client(&self) -> Result<kube::Client> {
        self.inner.client()
    }

    /// Resident memory of the server, in MiB.
    pub fn rss_mib(&self) -> f64 {
        self.inner
            .rss_kib()
            .map_or(f64::NAN, |(rss, _)| rss as f64 / 1024.0)
    }

    /// Starts `bin scheduler` as a process of its own against this server.
    pub fn start_scheduler(&mut self, bin: &Path) -> Result<()> {
        let data = self.inner.data_dir();
        let mut cmd = Command::new(bin);
        cmd.arg("scheduler")
            .arg("--kubeconfig")
            .arg(data.join("admin.kubeconfig"))
            .env("RUST_LOG", "warn");
        let log = data.join("scheduler.log");
        self.scheduler = Some(ChildGuard::spawn("orch scheduler", &mut cmd, &log)?);
        Ok(())
    }

    /// CPU seconds (user + system) used so far by the server, and by the
    /// separate scheduler process if there is one.
    pub fn cpu_secs(&self) -> (f64, Option<f64>) {
        let cpu = |pid| process::cpu_secs(Some(pid)).unwrap_or(f64::NAN);
        (
            cpu(self.inner.pid()),
            self.scheduler.as_ref().map(|s| cpu(s.pid())),
        )
    }

    /// The end of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.inner.log_tail(lines)
    }
}

/// CPU seconds (user + system) this benchmark process has used.
pub fn own_cpu_secs() -> f64 {
    process::cpu_secs(None).unwrap_or(f64::NAN)
}
