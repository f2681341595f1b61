//! The etcd backend of [`Store`]: etcd v3 (tested with 3.4) through the
//! `etcd-client` crate, with Kubernetes' layout, so the keys are the
//! store's keys as they are (`/registry/<resource>/<ns>/<name>`) and an
//! object's resourceVersion is its etcd `mod_revision`.
//!
//! - writes are `Txn`s: create compares `create_revision == 0`, update
//!   compares `mod_revision`, delete returns the deleted value (`prev_kv`);
//! - lists are `Range`s at one revision, watches carry `prev_kv`;
//! - every call has a deadline, so a lost etcd surfaces as
//!   [`StoreError::Backend`] instead of a hang;
//! - with several members, requests go only to those that answer
//!   ([`health`]);
//! - history is compacted periodically, one API server at a time
//!   ([`compact`]);
//! - after a migration the revision is moved past the old store's
//!   ([`EtcdStore::bump_revision`]).
mod bump;
mod compact;
mod error;
mod health;
mod kv;
mod snapshot;
mod watch;

#[cfg(test)]
mod tests;

use std::{future::Future, path::PathBuf, time::Duration};

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

use super::{KeyValue, ListOptions, ListPage, Revision, Store, StoreError, WatchStream};

pub use compact::COMPACT_REV_KEY;

/// How often history is compacted by default (as kube-apiserver).
pub const DEFAULT_COMPACTION_INTERVAL: Duration = Duration::from_secs(300);

/// Client certificates for an etcd served over TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EtcdTls {
    /// CA bundle that signed etcd's server certificate (PEM).
    pub ca_file: Option<PathBuf>,
    /// This client's certificate (PEM); needs `key_file` too.
    pub cert_file: Option<PathBuf>,
    /// This client's private key (PEM); needs `cert_file` too.
    pub key_file: Option<PathBuf>,
}

/// How to reach etcd and how to keep its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdOptions {
    /// Client URLs, `http://host:port` or `https://host:port`.
    pub endpoints: Vec<String>,
    /// TLS client settings; `None` for plain HTTP endpoints.
    pub tls: Option<EtcdTls>,
    /// Deadline of every call (a watch: of its start).
    pub request_timeout: Duration,
    /// Deadline of a TCP (and TLS) connect.
    pub connect_timeout: Duration,
    /// Compact history every interval, keeping at least one interval of
    /// it; `None` leaves compaction to someone else.
    pub compaction_interval: Option<Duration>,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        Self {
            endpoints: vec!["http://127.0.0.1:2379".into()],
            tls: None,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            compaction_interval: Some(DEFAULT_COMPACTION_INTERVAL),
        }
    }
}

/// A [`Store`] on an etcd cluster.
pub struct EtcdStore {
    client: Client,
    opts: EtcdOptions,
    compactor: Option<tokio::task::JoinHandle<()>>,
    health: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.opts.endpoints)
            .field("tls", &self.opts.tls.is_some())
            .finish()
    }
}

impl EtcdStore {
    /// Connects, checks that etcd answers a read within the request
    /// timeout, and starts the compactor if asked for.
    pub async fn connect(opts: EtcdOptions) -> Result<Self, StoreError> {
        if opts.endpoints.is_empty() {
            return Err(StoreError::Backend("no etcd endpoints given".into()));
        }
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(opts.connect_timeout)
            .with_timeout(opts.request_timeout)
            .with_keep_alive(Duration::from_secs(10), opts.request_timeout)
            .with_keep_alive_while_idle(true);
        if let Some(tls) = &opts.tls {
            connect = connect.with_tls(tls_options(tls)?);
        }
        let endpoints = opts.endpoints.clone();
        let client = deadline(opts.request_timeout, "connect", async {
            Client::connect(&endpoints, Some(connect.clone())).await
        })
        .await?;
        let health = (endpoints.len() > 1)
            .then(|| tokio::spawn(health::run(client.clone(), endpoints, connect)));
        let mut store = Self {
            client,
            opts,
            compactor: None,
            health,
        };
        // The connection is lazy: one read proves the endpoints answer.
        store.current_revision_inner().await.map_err(|e| {
            StoreError::Backend(format!(
                "etcd at {} does not answer: {e}",
                store.opts.endpoints.join(",")
            ))
        })?;
        if let Some(every) = store.opts.compaction_interval {
            store.compactor = Some(tokio::spawn(compact::run(
                store.client.kv_client(),
                every,
                store.opts.request_timeout,
            )));
        }
        Ok(store)
    }

    /// Compacts history up to `revision` now: later reads and watches
    /// from before it answer [`StoreError::Compacted`].
    pub async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        let mut kv = self.client.kv_client();
        deadline(self.opts.request_timeout, "compact", async move {
            kv.compact(to_i64(revision)?, None).await
        })
        .await
        .map(|_| ())
    }

    async fn current_revision_inner(&self) -> Result<Revision, StoreError> {
        kv::current_revision(self.client.kv_client(), self.opts.request_timeout).await
    }
}

impl Drop for EtcdStore {
    fn drop(&mut self) {
        for task in [self.compactor.take(), self.health.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
    }
}

fn tls_options(tls: &EtcdTls) -> Result<TlsOptions, StoreError> {
    let read = |what: &str, path: &PathBuf| {
        std::fs::read(path).map_err(|e| {
            StoreError::Backend(format!("reading the etcd {what} {}: {e}", path.display()))
        })
    };
    let mut out = TlsOptions::new();
    if let Some(ca) = &tls.ca_file {
        out = out.ca_certificate(Certificate::from_pem(read("CA file", ca)?));
    }
    match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            out = out.identity(Identity::from_pem(
                read("certificate file", cert)?,
                read("key file", key)?,
            ));
        }
        (None, None) => {}
        _ => {
            return Err(StoreError::Backend(
                "an etcd client certificate needs both a certificate and a key file".into(),
            ))
        }
    }
    Ok(out)
}

/// Runs one etcd call with a deadline; a timeout or a failure becomes a
/// [`StoreError`].
pub(crate) async fn deadline<T, F>(limit: Duration, what: &str, call: F) -> Result<T, StoreError>
where
    F: Future<Output = Result<T, etcd_client::Error>>,
{
    match tokio::time::timeout(limit, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(error::from_etcd(what, e)),
        Err(_) => Err(StoreError::Backend(format!(
            "etcd {what}: no answer within {} ms",
            limit.as_millis()
        ))),
    }
}

/// A store revision as etcd's signed one.
fn to_i64(r: Revision) -> Result<i64, etcd_client::Error> {
    i64::try_from(r).map_err(|_| etcd_client::Error::InvalidArgs(format!("revision {r}")))
}

/// etcd's signed revision as a store revision (negative: 0).
fn to_rev(r: i64) -> Revision {
    Revision::try_from(r).unwrap_or(0)
}

#[async_trait::async_trait]
impl Store for EtcdStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        kv::get(self.client.kv_client(), self.opts.request_timeout, key).await
    }

    async fn list(&self, opts: &ListOptions) -> Result<ListPage, StoreError> {
        kv::list(&self.client, self.opts.request_timeout, opts).await
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue, StoreError> {
        kv::create(
            self.client.kv_client(),
            self.opts.request_timeout,
            key,
            value,
        )
        .await
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Revision,
    ) -> Result<KeyValue, StoreError> {
        let kv = self.client.kv_client();
        kv::update(kv, self.opts.request_timeout, key, value, expected).await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue, StoreError> {
        kv::delete(
            self.client.kv_client(),
            self.opts.request_timeout,
            key,
            expected,
        )
        .await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        watch::start(&self.client, self.opts.request_timeout, prefix, after).await
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        self.current_revision_inner().await
    }

    async fn snapshot(&self, path: &std::path::Path) -> Result<Revision, StoreError> {
        snapshot::write(&self.client, self.opts.request_timeout, path).await
    }
}
