//! `bench store`: durable writes to the embedded store (in-process,
//! through the `Store` trait) and to a real etcd 3.4 (gRPC `Txn`
//! create-if-absent), with the same value size and key layout, at 1 and at
//! 64 concurrent writers. The two backends alternate (A B B A A B B A) in
//! quarters, so drift in the machine's load hits both alike. Reports
//! writes/s, latency percentiles, disk bytes, commits (fsyncs) and CPU per
//! write, and the ratio embedded/etcd (goal: ≥ 1 at both concurrencies).
//! Then the same comparison one level up ([`super::store_api`]): ConfigMap
//! creates through `orch server --store embedded` and `--store etcd` (on
//! the same etcd), at 1 and 64 clients, with their ratio.
use std::{path::Path, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use orch_core::store::{
    embedded::{EmbeddedOptions, EmbeddedStore},
    Store,
};
use prometheus_client::registry::Registry;

use super::{
    etcd::{self, Etcd},
    etcd_kv::KvClient,
    load::{self, Load, Outcome},
    process::{disk_write_bytes, CpuMark},
    prom,
    report::{ms, rate, ratio, verdict, Report, Table},
    results::{millis, StoreCase, StoreFigures},
    store_api::{self, StoreApiParams, BACKENDS},
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
    /// Writes before each concurrency level, per backend (not counted).
    pub warmup: usize,
    /// Time cap per quarter of a case.
    pub cap: Duration,
    /// ConfigMap creates through `orch server` at 1 client (0: skip the
    /// API half).
    pub api_creates_1: usize,
    /// ConfigMap creates through `orch server` at 64 clients.
    pub api_creates_64: usize,
}

impl Default for StoreParams {
    fn default() -> Self {
        Self {
            value_size: 1024,
            writes_1: 5_000,
            writes_64: 50_000,
            warmup: 200,
            cap: Duration::from_secs(30),
            api_creates_1: 1_000,
            api_creates_64: 10_000,
        }
    }
}

/// The embedded store with its metrics registry.
struct Embedded {
    store: Arc<EmbeddedStore>,
    registry: Registry,
}

/// One backend under test.
enum Backend {
    Embedded(Embedded),
    Etcd { etcd: Box<Etcd>, client: KvClient },
}

/// Commits (fsyncs) and their total time, as the backend counts them.
#[derive(Debug, Clone, Copy, Default)]
struct Commits {
    count: u64,
    seconds: f64,
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Self::Embedded(_) => "embedded",
            Self::Etcd { .. } => "etcd",
        }
    }

    /// The process whose disk writes count (`None`: this one).
    fn pid(&self) -> Option<u32> {
        match self {
            Self::Embedded(_) => None,
            Self::Etcd { etcd, .. } => Some(etcd.pid()),
        }
    }

    /// Commits so far: the store's commit histogram, or etcd's WAL fsyncs.
    async fn commits(&self) -> Result<Commits> {
        let (text, name) = match self {
            Self::Embedded(e) => (
                prom::encode_registry(&e.registry),
                "orch_store_commit_duration_seconds",
            ),
            Self::Etcd { etcd, .. } => (
                prom::scrape(etcd.client_url.trim_start_matches("http://")).await?,
                "etcd_disk_wal_fsync_duration_seconds",
            ),
        };
        let (seconds, count) =
            prom::sum_count(&text, name).with_context(|| format!("no {name}"))?;
        Ok(Commits { count, seconds })
    }

    /// Runs `writes` creates of fresh keys under `prefix` at `writers`.
    async fn measure(
        &self,
        prefix: &str,
        writes: usize,
        writers: usize,
        p: &StoreParams,
    ) -> Outcome {
        let value = Arc::new(value_bytes(p.value_size));
        let prefix = prefix.to_string();
        let load = Load {
            ops: writes,
            workers: writers,
            cap: p.cap,
        };
        match self {
            Self::Embedded(e) => {
                let store = e.store.clone();
                load::run(load, move |_, i| {
                    let (store, value) = (store.clone(), value.clone());
                    let key = format!("{prefix}{i:08}");
                    async move {
                        store.create(&key, value.to_vec()).await?;
                        Ok(())
                    }
                })
                .await
            }
            Self::Etcd { client, .. } => {
                let client = client.clone();
                load::run(load, move |_, i| {
                    let (mut client, value) = (client.clone(), value.clone());
                    let key = format!("{prefix}{i:08}");
                    async move {
                        client.create(key.into_bytes(), value.to_vec()).await?;
                        Ok(())
                    }
                })
                .await
            }
        }
    }
}

/// A value of `n` printable bytes (neither side compresses).
fn value_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

/// One backend at one concurrency, both halves together.
struct Case {
    outcome: Option<Outcome>,
    disk_bytes: u64,
    commits: Commits,
    /// CPU of this process (`own`) and of etcd (`other`).
    cpu: CpuMark,
}

impl Case {
    fn new() -> Self {
        Self {
            outcome: None,
            disk_bytes: 0,
            commits: Commits::default(),
            cpu: CpuMark::default(),
        }
    }

    fn rate(&self) -> f64 {
        self.outcome.as_ref().map_or(0.0, Outcome::rate)
    }

    fn p99(&self) -> Duration {
        self.outcome.as_ref().map_or(Duration::ZERO, |o| o.p(99.0))
    }
}

/// Measures one quarter of a case and adds it to `case`.
async fn quarter(
    etcd_pid: u32,
    backend: &Backend,
    case: &mut Case,
    prefix: &str,
    writes: usize,
    writers: usize,
    p: &StoreParams,
) -> Result<()> {
    let disk = disk_write_bytes(backend.pid())?;
    let commits = backend.commits().await?;
    let cpu = CpuMark::now(Some(etcd_pid));
    let o = backend.measure(prefix, writes, writers, p).await;
    case.cpu.add(CpuMark::now(Some(etcd_pid)).since(cpu));
    let after = backend.commits().await?;
    case.disk_bytes += disk_write_bytes(backend.pid())?.saturating_sub(disk);
    case.commits.count += after.count.saturating_sub(commits.count);
    case.commits.seconds += after.seconds - commits.seconds;
    match &mut case.outcome {
        Some(all) => all.merge(o),
        None => case.outcome = Some(o),
    }
    Ok(())
}

/// Runs the benchmark, writes `store.md` into `out` and returns the
/// figures.
pub async fn run(p: &StoreParams, orch_bin: &Path, out: &Path) -> Result<StoreFigures> {
    let etcd_bin = etcd::binary();
    let etcd_version = etcd::version(&etcd_bin);
    eprintln!("bench store: starting {etcd_version}");
    let etcd = Etcd::start(&etcd_bin).await?;
    let client = etcd.client().await?;
    let etcd_pid = etcd.pid();
    let etcd_url = etcd.client_url.clone();
    let dir = tempfile::Builder::new()
        .prefix("orch-bench-store")
        .tempdir()?;
    let store = EmbeddedStore::open_dir(dir.path(), EmbeddedOptions::default())
        .context("opening the embedded store")?;
    let mut registry = Registry::default();
    store.register_metrics(&mut registry);
    let backends = [
        Backend::Embedded(Embedded {
            store: Arc::new(store),
            registry,
        }),
        Backend::Etcd {
            etcd: Box::new(etcd),
            client,
        },
    ];

    let mut results = Vec::new();
    for (writers, writes) in [(1, p.writes_1), (64, p.writes_64)] {
        let mut cases = [Case::new(), Case::new()];
        for b in &backends {
            let warm = format!("/registry/bench/warm-{writers}/");
            b.measure(&warm, p.warmup, writers, p).await;
        }
        // A B B A A B B A: each backend as often early as late, so drift
        // in the machine's load hits both alike.
        for (round, order) in [[0, 1], [1, 0], [0, 1], [1, 0]].iter().enumerate() {
            for &k in order {
                let n = writes / 4 + usize::from(round < writes % 4);
                eprintln!(
                    "bench store: {}, {writers} writer(s), {n} writes",
                    backends[k].name()
                );
                let prefix = format!("/registry/bench/c{writers}/r{round}/");
                quarter(
                    etcd_pid,
                    &backends[k],
                    &mut cases[k],
                    &prefix,
                    n,
                    writers,
                    p,
                )
                .await?;
            }
        }
        for (b, c) in backends.iter().zip(&cases) {
            if let Some(o) = &c.outcome {
                eprintln!(
                    "    {}: {} writes/s, p50 {} ms, p99 {} ms {}",
                    b.name(),
                    rate(o.rate()),
                    ms(o.p(50.0)),
                    ms(o.p(99.0)),
                    o.note()
                );
            }
        }
        results.push((writers, cases));
    }
    let api = if p.api_creates_1 + p.api_creates_64 > 0 {
        let ap = StoreApiParams {
            creates_1: p.api_creates_1,
            creates_64: p.api_creates_64,
            value_size: p.value_size,
            cap: p.cap,
        };
        store_api::run(&ap, orch_bin, &etcd_url).await?
    } else {
        Vec::new()
    };
    drop(backends);
    let mut r = report(p, &etcd_version, &results);
    api_report(&mut r, p, &api);
    r.emit(out, "store.md")?;
    let mut f = figures(p, &results);
    f.api = api_figures(&api);
    Ok(f)
}

fn api_figures(api: &[(usize, store_api::Pair)]) -> Vec<StoreCase> {
    let mut cases = Vec::new();
    for (clients, pair) in api {
        for (name, o) in BACKENDS.iter().zip(pair) {
            if let Some(o) = o {
                cases.push(case_figures(*clients, name, o));
            }
        }
    }
    cases
}

/// One backend at one concurrency, as the JSON file has it.
fn case_figures(writers: usize, backend: &str, o: &Outcome) -> StoreCase {
    StoreCase {
        writers,
        backend: backend.to_string(),
        writes: o.ok,
        failed: o.failed,
        writes_per_sec: o.rate(),
        p50_ms: millis(o.p(50.0)),
        p99_ms: millis(o.p(99.0)),
    }
}

fn api_report(report: &mut Report, p: &StoreParams, api: &[(usize, store_api::Pair)]) {
    if api.is_empty() {
        return;
    }
    report.para(&format!(
        "\n### Through the API server: `orch server --store embedded` vs `--store etcd`\n\n\
         Two release `orch server` processes (`--no-controllers --no-scheduler`), \
         one on the embedded store in its data directory, one on the etcd above \
         (`--store etcd --etcd-endpoints URL`), both up for the whole run. \
         ConfigMap creates ({} B of data each) over HTTPS from kube-rs clients, one \
         connection per client, closed loop; {} creates at 1 client and {} at 64, \
         each in quarters ordered embedded, etcd, etcd, embedded, …, after a \
         warm-up of 2 creates per client (not counted). Latency is the client's: \
         request to response.\n",
        p.value_size, p.api_creates_1, p.api_creates_64
    ));
    let mut t = Table::new(&[
        "clients",
        "store",
        "creates",
        "creates/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "notes",
    ]);
    let mut ratios = Table::new(&[
        "clients",
        "creates/s embedded ÷ etcd",
        "p50 etcd ÷ embedded",
        "p99 etcd ÷ embedded",
    ]);
    for (clients, pair) in api {
        for (name, o) in BACKENDS.iter().zip(pair) {
            let Some(o) = o else { continue };
            t.row(vec![
                clients.to_string(),
                name.to_string(),
                o.ok.to_string(),
                rate(o.rate()),
                ms(o.p(50.0)),
                ms(o.p(99.0)),
                ms(o.p(100.0)),
                o.note(),
            ]);
        }
        if let [Some(e), Some(d)] = pair {
            let lat = |q| ratio(d.p(q).as_secs_f64(), e.p(q).as_secs_f64());
            ratios.row(vec![
                clients.to_string(),
                format!("{:.2}", ratio(e.rate(), d.rate())),
                format!("{:.2}", lat(50.0)),
                format!("{:.2}", lat(99.0)),
            ]);
        }
    }
    report.table(&t);
    report.para("");
    report.table(&ratios);
}

fn figures(p: &StoreParams, results: &[(usize, [Case; 2])]) -> StoreFigures {
    let mut cases = Vec::new();
    for (writers, pair) in results {
        for (name, c) in ["embedded", "etcd"].iter().zip(pair) {
            if let Some(o) = &c.outcome {
                cases.push(case_figures(*writers, name, o));
            }
        }
    }
    StoreFigures {
        value_size: p.value_size,
        cases,
        api: Vec::new(),
    }
}

fn report(p: &StoreParams, etcd_version: &str, results: &[(usize, [Case; 2])]) -> Report {
    let mut report = Report::new("orch benchmark: store writes, embedded vs etcd");
    report.para(&format!(
        "\nParameters: {} B values, unique keys under one prefix per case \
         (`/registry/bench/c<writers>/...`), closed loop (each writer waits for its \
         write to be durable before the next); {} writes at 1 writer, {} at 64, each \
         run in quarters ordered embedded, etcd, etcd, embedded, embedded, etcd, \
         etcd, embedded; {} warm-up writes per backend before each concurrency level \
         (not counted); time cap {} s per quarter. Both stores fsync every commit (their defaults) and keep their files \
         on the same filesystem (a temporary directory).\n\n\
         - embedded: `EmbeddedStore::open_dir(tmp, EmbeddedOptions::default())`, \
         `Store::create` called in-process from tokio tasks (group commit: one fsync \
         per batch).\n\
         - etcd: {etcd_version}, one member on 127.0.0.1, default flags; gRPC \
         `KV.Txn` (compare `create_revision == 0`, then put: create-if-absent, as \
         kube-apiserver does) over one HTTP/2 connection (tonic).\n\
         - disk KiB/write: `write_bytes` of `/proc/<pid>/io` (this process for \
         embedded, the etcd process for etcd) over the writes. Commits: the \
         embedded store's `orch_store_commit_duration_seconds` (write + fsync of \
         one batch); etcd's `etcd_disk_wal_fsync_duration_seconds` (WAL fsync).\n\
         - CPU µs/write: user + system time of this process (load generator, \
         gRPC client and, for embedded, the store) plus the etcd process, from \
         `/proc/<pid>/stat`, over the writes: the cost to the machine, which is \
         fair under other load where writes/s is not.",
        p.value_size,
        p.writes_1,
        p.writes_64,
        p.warmup,
        p.cap.as_secs()
    ));
    let mut t = Table::new(&[
        "writers",
        "backend",
        "writes",
        "writes/s",
        "mean ms",
        "p50 ms",
        "p99 ms",
        "max ms",
        "disk KiB/write",
        "commits",
        "writes/commit",
        "mean commit ms",
        "CPU µs/write",
        "notes",
    ]);
    let mut ratios = Table::new(&[
        "writers",
        "ratio embedded/etcd (writes/s)",
        "p99 etcd/embedded",
        "goal ≥ 1",
    ]);
    for (writers, cases) in results {
        for (name, c) in ["embedded", "etcd"].iter().zip(cases) {
            let Some(o) = &c.outcome else { continue };
            let n = c.commits.count.max(1);
            t.row(vec![
                writers.to_string(),
                name.to_string(),
                o.ok.to_string(),
                rate(o.rate()),
                ms(o.mean()),
                ms(o.p(50.0)),
                ms(o.p(99.0)),
                ms(o.p(100.0)),
                format!("{:.1}", c.disk_bytes as f64 / 1024.0 / o.ok.max(1) as f64),
                c.commits.count.to_string(),
                format!("{:.1}", o.ok as f64 / n as f64),
                format!("{:.2}", c.commits.seconds * 1000.0 / n as f64),
                format!(
                    "{:.0}",
                    (c.cpu.own + c.cpu.other) * 1e6 / o.ok.max(1) as f64
                ),
                o.note(),
            ]);
        }
        let r = ratio(cases[0].rate(), cases[1].rate());
        let lat = ratio(cases[1].p99().as_secs_f64(), cases[0].p99().as_secs_f64());
        ratios.row(vec![
            writers.to_string(),
            format!("{r:.2}"),
            format!("{lat:.2}"),
            verdict(r >= super::goals::STORE_RATIO).to_string(),
        ]);
    }
    report.table(&t);
    report.para("");
    report.table(&ratios);
    report
}
