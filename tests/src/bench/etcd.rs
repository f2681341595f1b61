//! The store benchmark's etcd: [`orch_testkit::etcd::Etcd`] (one member on
//! loopback in a temporary directory, default durability, killed and
//! removed on drop), started off the async runtime, plus a [`KvClient`]
//! that waits until etcd serves linearizable reads.
use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::etcd_kv::KvClient;

pub use orch_testkit::etcd::{binary, version};

/// A running single-member etcd.
#[derive(Debug)]
pub struct Etcd {
    inner: orch_testkit::etcd::Etcd,
    /// `http://127.0.0.1:PORT`.
    pub client_url: String,
}

impl Etcd {
    /// Starts etcd and waits until it answers a linearizable read.
    pub async fn start(bin: &Path) -> Result<Self> {
        let bin = bin.to_owned();
        let inner = tokio::task::spawn_blocking(move || orch_testkit::etcd::Etcd::start(&bin))
            .await?
            .context("starting the benchmark etcd")?;
        let etcd = Self {
            client_url: inner.client_url(),
            inner,
        };
        etcd.wait_ready().await?;
        Ok(etcd)
    }

    async fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.client().await {
                Ok(mut kv) => match kv.probe(b"health").await {
                    Ok(_) => return Ok(()),
                    Err(e) => last = format!("{e:#}"),
                },
                Err(e) => last = format!("{e:#}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "etcd did not answer reads within 20 s (last error: {last}); log:\n{}",
            self.inner.log_tail(20)
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
        self.inner.pid()
    }

    /// The data directory.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.inner.data_dir()
    }
}
