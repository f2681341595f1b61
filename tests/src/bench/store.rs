//! `bench store`: durable writes to the embedded store (in-process,
//! through the `Store` trait) and to a real etcd 3.4 (gRPC `Txn`
//! create-if-absent), with the same value size and key layout, at 1 and at
//! 64 concurrent writers, run side by side. Reports writes/s, p50/p99 and
//! the ratio embedded/etcd (goal: ≥ 1 at both concurrencies).
use std::{path::Path, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use orch_core::store::{
    embedded::{EmbeddedOptions, EmbeddedStore},
    Store,
};

use super::{
    etcd::{self, Etcd},
    load::{self, Load, Outcome},
    report::{ms, rate, ratio, verdict, Report, Table},
};

/// Parameters of the store benchmark.
#[derive(Debug, Clone)]
pub struct StoreParams {
    /// Bytes per value.
    pub value_size: usize,
    /// Writes at 1 writer.
    pub writes_1: usize,
    /// Writes at 64 writers.
    pub writes_64: usize,
    /// Writes before each measured case (not counted).
    pub warmup: usize,
    /// Time cap per case.
    pub cap: Duration,
}

impl Default for StoreParams {
    fn default() -> Self {
        Self {
            value_size: 1024,
            writes_1: 2_000,
            writes_64: 20_000,
            warmup: 200,
            cap: Duration::from_secs(30),
        }
    }
}

/// One backend under test.
#[derive(Clone)]
enum Backend {
    Embedded(Arc<EmbeddedStore>),
    Etcd(super::etcd_kv::KvClient),
}

impl Backend {
    async fn create(&self, key: String, value: Vec<u8>) -> Result<()> {
        match self {
            Self::Embedded(s) => {
                s.create(&key, value).await?;
            }
            Self::Etcd(c) => {
                c.clone().create(key.into_bytes(), value).await?;
            }
        }
        Ok(())
    }
}

/// Runs `writes` creates of fresh keys under `prefix` at `writers`.
async fn measure(
    backend: &Backend,
    prefix: &str,
    writes: usize,
    writers: usize,
    p: &StoreParams,
) -> Outcome {
    let value = Arc::new(value_bytes(p.value_size));
    let (backend, prefix) = (backend.clone(), prefix.to_string());
    let load = Load {
        ops: writes,
        workers: writers,
        cap: p.cap,
    };
    load::run(load, move |_, i| {
        let (backend, value) = (backend.clone(), value.clone());
        let key = format!("{prefix}{i:08}");
        async move { backend.create(key, value.to_vec()).await }
    })
    .await
}

/// A value of `n` printable bytes (JSON-like payloads compress nowhere
/// here; neither side compresses).
fn value_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Runs the benchmark and writes `store.md` into `out`.
pub async fn run(p: &StoreParams, out: &Path) -> Result<()> {
    let etcd_bin = etcd::binary();
    let etcd_version = etcd::version(&etcd_bin);
    eprintln!("bench store: starting {etcd_version}");
    let etcd = Etcd::start(&etcd_bin).await?;
    let etcd_backend = Backend::Etcd(etcd.client().await?);
    let dir = tempfile::Builder::new()
        .prefix("orch-bench-store")
        .tempdir()?;
    let store = EmbeddedStore::open_dir(dir.path(), EmbeddedOptions::default())
        .context("opening the embedded store")?;
    let embedded = Backend::Embedded(Arc::new(store));

    let mut results = Vec::new();
    for (writers, writes) in [(1, p.writes_1), (64, p.writes_64)] {
        let mut pair = Vec::new();
        for (name, backend) in [("embedded", &embedded), ("etcd", &etcd_backend)] {
            eprintln!("bench store: {name}, {writers} writer(s), {writes} writes");
            let warm = format!("/registry/bench/warm-{writers}/");
            measure(backend, &warm, p.warmup, writers.min(8), p).await;
            let prefix = format!("/registry/bench/c{writers}/");
            let o = measure(backend, &prefix, writes, writers, p).await;
            eprintln!(
                "    {} writes/s, p50 {} ms, p99 {} ms {}",
                rate(o.rate()),
                ms(o.p(50.0)),
                ms(o.p(99.0)),
                o.note()
            );
            pair.push(o);
        }
        results.push((writers, writes, pair));
    }
    drop(etcd);

    let mut report = Report::new("orch benchmark: store writes, embedded vs etcd");
    report.para(&format!(
        "\nParameters: {} B values, unique keys under one prefix per case \
         (`/registry/bench/c<writers>/<n>`), closed loop (each writer waits for its \
         write to be durable before the next); {} writes at 1 writer, {} at 64; {} \
         warm-up writes before each case (not counted); time cap {} s per case. \
         Both stores fsync every commit (defaults) and keep their files in the same \
         temporary directory filesystem.\n\n\
         - embedded: `EmbeddedStore::open_dir(tmp, EmbeddedOptions::default())`, \
         `Store::create` called in-process from tokio tasks (group commit: one fsync \
         per batch).\n\
         - etcd: {etcd_version}, one member on 127.0.0.1, default flags; gRPC \
         `KV.Txn` (compare `create_revision == 0`, then put: create-if-absent, as \
         kube-apiserver does) over one HTTP/2 connection (tonic).",
        p.value_size, p.writes_1, p.writes_64, p.warmup, p.cap.as_secs()
    ));
    let mut t = Table::new(&[
        "writers",
        "backend",
        "writes",
        "writes/s",
        "p50 ms",
        "p99 ms",
        "notes",
    ]);
    let mut ratios = Table::new(&[
        "writers",
        "ratio embedded/etcd (writes/s)",
        "p99 etcd/embedded",
        "goal ≥ 1",
    ]);
    for (writers, _, pair) in &results {
        for (name, o) in ["embedded", "etcd"].iter().zip(pair) {
            t.row(vec![
                writers.to_string(),
                name.to_string(),
                o.ok.to_string(),
                rate(o.rate()),
                ms(o.p(50.0)),
                ms(o.p(99.0)),
                o.note(),
            ]);
        }
        let r = ratio(pair[0].rate(), pair[1].rate());
        let lat = ratio(
            pair[1].p(99.0).as_secs_f64(),
            pair[0].p(99.0).as_secs_f64(),
        );
        ratios.row(vec![
            writers.to_string(),
            format!("{r:.2}"),
            format!("{lat:.2}"),
            verdict(r >= 1.0).to_string(),
        ]);
    }
    report.table(&t);
    report.para("");
    report.table(&ratios);
    report.emit(out, "store.md")
}
