//! `orch server` for the API benchmark: the release binary in a temporary
//! data directory, on a free loopback port; kube-rs clients built from the
//! `admin.kubeconfig` it writes. Killed and its directory removed on drop.
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::process::{free_port, rss_kib, ChildGuard};

/// A running `orch server`.
#[derive(Debug)]
pub struct OrchServer {
    // Declared before `dir` so the process dies before its directory goes.
    child: ChildGuard,
    dir: tempfile::TempDir,
    config: kube::Config,
    /// The HTTPS address.
    pub addr: String,
}

impl OrchServer {
    /// Starts `bin server ARGS` and waits until it answers `GET /version`.
    pub async fn start(bin: &Path, args: &[String]) -> Result<Self> {
        if !bin.exists() {
            bail!(
                "{} not found: build it with `cargo build --release -p orch-core --bin orch`",
                bin.display()
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("orch-bench-api")
            .tempdir()?;
        let addr = format!("127.0.0.1:{}", free_port()?);
        let mut cmd = Command::new(bin);
        cmd.arg("server")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", &addr])
            .args(args);
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
                            child,
                            dir,
                            config,
                            addr,
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

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// `VmRSS` and `VmHWM` of the server, in KiB.
    pub fn rss_kib(&self) -> Result<(u64, u64)> {
        rss_kib(self.pid())
    }

    /// The end of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.child.log_tail(lines)
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

/// Reads the kubeconfig and checks the server answers through it.
async fn probe(kubeconfig: &Path) -> Result<kube::Config> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let client = kube::Client::try_from(config.clone())?;
    client.apiserver_version().await?;
    Ok(config)
}
