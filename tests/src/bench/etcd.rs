//! A real etcd (Debian's `etcd-server`, 3.4) for the store benchmark: one
//! member in a temporary data directory, client and peer URLs on loopback
//! with free ports, default durability (fsync on every commit). It is
//! killed and its directory removed on drop.
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::{
    etcd_kv::KvClient,
    process::{free_port, ChildGuard},
};

/// Where the etcd binary is: `$ORCH_ETCD`, else `/usr/bin/etcd`.
pub fn binary() -> PathBuf {
    std::env::var_os("ORCH_ETCD").map_or_else(|| PathBuf::from("/usr/bin/etcd"), PathBuf::from)
}

/// `etcd --version`'s first line, for the report.
pub fn version(bin: &Path) -> String {
    Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "etcd (unknown version)".into())
}

/// A running single-member etcd.
#[derive(Debug)]
pub struct Etcd {
    // Declared before `dir` so the process dies before its directory goes.
    child: ChildGuard,
    dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`.
    pub client_url: String,
}

impl Etcd {
    /// Starts etcd and waits until it answers a linearizable read.
    pub async fn start(bin: &Path) -> Result<Self> {
        if !bin.exists() {
            bail!(
                "{} not found: run `cargo xtask setup` (Debian package etcd-server)",
                bin.display()
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("orch-bench-etcd")
            .tempdir()?;
        let (client, peer) = (free_port()?, free_port()?);
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let mut cmd = Command::new(bin);
        cmd.arg("--name")
            .arg("default")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("default={peer_url}")])
            .args(["--logger", "zap", "--log-level", "warn"])
            .env_remove("ETCD_UNSUPPORTED_ARCH")
            .env("ETCDCTL_API", "3");
        let log = dir.path().join("etcd.log");
        let child = ChildGuard::spawn("etcd", &mut cmd, &log)?;
        let mut etcd = Self {
            child,
            dir,
            client_url,
        };
        etcd.wait_ready().await?;
        Ok(etcd)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = String::new();
        while Instant::now() < deadline {
            self.child.check_running()?;
            match KvClient::connect(&self.client_url).await {
                Ok(mut kv) => match kv.probe(b"health").await {
                    Ok(_) => return Ok(()),
                    Err(e) => last = format!("{e:#}"),
                },
                Err(e) => last = format!("{e:#}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "etcd did not answer within 20 s (last error: {last}); log:\n{}",
            self.child.log_tail(20)
        )
    }

    /// A client on a new connection.
    pub async fn client(&self) -> Result<KvClient> {
        KvClient::connect(&self.client_url)
            .await
            .context("connecting to the benchmark etcd")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}
