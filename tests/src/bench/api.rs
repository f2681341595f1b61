//! `bench api`: the real `orch server` (release binary) over HTTPS with
//! kube-rs clients. Measures (1) create throughput and latency with 64
//! concurrent clients (10,000 Pods, then 1,000 Services), against two
//! baselines from the same run: `GET /version` through the same clients,
//! and the embedded store alone, in-process, with values of the stored
//! pod's size; (2) watch delivery latency with 100 watchers (goal p99
//! < 10 ms); (3) the server's resident memory holding 10k Pods and 1k
//! Services (goal < 150 MB). Each server variant (the API server alone,
//! then `orch server` with its in-process scheduler and controllers) runs
//! the same phases on a fresh data directory; the report is in
//! [`super::api_report`].
use std::{collections::BTreeMap, path::Path, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use k8s_openapi::{
    api::core::v1::{
        ConfigMap, Container, Namespace, Pod, PodSpec, Service, ServicePort, ServiceSpec,
    },
    apimachinery::pkg::util::intstr::IntOrString,
};
use kube::{
    api::{ObjectMeta, PostParams},
    Api,
};
use orch_core::store::{
    embedded::{EmbeddedOptions, EmbeddedStore},
    Store,
};

use super::{
    api_report,
    api_watch::{self, WatchOutcome},
    load::{self, Load, Outcome},
    orch::OrchServer,
    process::{rss_kib, CpuMark},
    report::rate,
    results::ApiFigures,
};

/// Parameters of the API benchmark.
#[derive(Debug, Clone)]
pub struct ApiParams {
    /// Concurrent clients for creates (one connection each).
    pub clients: usize,
    /// Pods to create (and hold for the memory reading).
    pub pods: usize,
    /// Services to create (and hold).
    pub services: usize,
    /// `GET /version` requests, and in-process store writes, for the
    /// baselines.
    pub baseline_ops: usize,
    /// Watchers in the watch phase.
    pub watchers: usize,
    /// Objects created in the watch phase.
    pub watch_events: usize,
    /// Creates per second in the watch phase.
    pub watch_rate: u32,
    /// Time cap per create phase.
    pub cap: Duration,
    /// The server variants to measure, one after the other.
    pub variants: Vec<Variant>,
}

/// One way to run `orch server`.
#[derive(Debug, Clone)]
pub struct Variant {
    /// What the report calls it.
    pub label: String,
    /// Extra `orch server` flags.
    pub args: Vec<String>,
}

impl Variant {
    /// The API server and store only.
    pub fn api_only() -> Self {
        Self {
            label: "API server alone".into(),
            args: vec!["--no-controllers".into(), "--no-scheduler".into()],
        }
    }

    /// `orch server` as users start it: scheduler and controllers too.
    pub fn defaults() -> Self {
        Self {
            label: "orch server defaults (scheduler and controllers in-process)".into(),
            args: Vec::new(),
        }
    }
}

impl Default for ApiParams {
    fn default() -> Self {
        Self {
            clients: 64,
            pods: 10_000,
            services: 1_000,
            baseline_ops: 10_000,
            watchers: 100,
            watch_events: 500,
            watch_rate: 50,
            cap: Duration::from_secs(60),
            variants: vec![Variant::api_only(), Variant::defaults()],
        }
    }
}

/// Namespace of the created Pods, Services and single-client ConfigMaps.
pub const NS: &str = "bench";
/// Namespace the watchers watch.
pub const WATCH_NS: &str = "bench-watch";

fn pod(i: usize) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("p-{i:05}")),
            labels: Some(BTreeMap::from([("app".into(), format!("app-{}", i % 100))])),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "app".into(),
                image: Some("registry.example/bench/app:1.0".into()),
                command: Some(vec!["/bin/sleep".into(), "3600".into()]),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn config_map(i: usize) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(format!("c-{i:05}")),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_string(), "v".repeat(64))])),
        ..Default::default()
    }
}

fn service(i: usize) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(format!("s-{i:05}")),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([("app".into(), format!("app-{}", i % 100))])),
            ports: Some(vec![ServicePort {
                port: 80,
                target_port: Some(IntOrString::Int(8080)),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn namespace(client: &kube::Client, name: &str) -> Result<()> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}

/// One kube client per worker, each with its own connection.
fn clients(server: &OrchServer, n: usize) -> Result<Arc<Vec<kube::Client>>> {
    Ok(Arc::new(
        (0..n).map(|_| server.client()).collect::<Result<_>>()?,
    ))
}

/// The in-process baseline: the embedded store alone, `writers` tasks,
/// `ops` creates of `value`.
async fn store_baseline(
    value: Vec<u8>,
    ops: usize,
    writers: usize,
    cap: Duration,
) -> Result<Outcome> {
    let dir = tempfile::Builder::new()
        .prefix("orch-bench-baseline")
        .tempdir()?;
    let store = Arc::new(EmbeddedStore::open_dir(
        dir.path(),
        EmbeddedOptions::default(),
    )?);
    let value = Arc::new(value);
    let load = Load {
        ops,
        workers: writers,
        cap,
    };
    let o = load::run(load, move |_, i| {
        let (store, value) = (store.clone(), value.clone());
        async move {
            store
                .create(&format!("/registry/pods/{NS}/p-{i:05}"), value.to_vec())
                .await?;
            Ok(())
        }
    })
    .await;
    Ok(o)
}

/// Memory readings of the server, in KiB.
#[derive(Debug, Clone, Copy)]
pub struct Rss {
    /// `VmRSS`.
    pub rss: u64,
    /// `VmHWM`.
    pub hwm: u64,
}

impl Rss {
    fn of(pid: u32) -> Result<Self> {
        let (rss, hwm) = rss_kib(pid)?;
        Ok(Self { rss, hwm })
    }
}

/// One measured phase and the CPU it took.
#[derive(Debug, Clone)]
pub struct Phase {
    /// Counts and latencies.
    pub outcome: Outcome,
    /// CPU of this process (`own`, the clients) and of the server
    /// (`other`).
    pub cpu: CpuMark,
}

impl Phase {
    /// Runs `load` and reads both CPU clocks around it.
    async fn measure(
        server: Option<u32>,
        load: impl std::future::Future<Output = Outcome>,
    ) -> Self {
        let start = CpuMark::now(server);
        let outcome = load.await;
        Self {
            outcome,
            cpu: CpuMark::now(server).since(start),
        }
    }
}

/// Everything measured on one server variant.
#[derive(Debug, Clone)]
pub struct Measured {
    /// The variant.
    pub variant: Variant,
    /// `GET /version` through the creating clients.
    pub version: Phase,
    /// Pod creates.
    pub pods: Phase,
    /// Service creates.
    pub services: Phase,
    /// ConfigMap creates from one client, no watchers.
    pub single: Phase,
    /// The watch phase.
    pub watch: WatchOutcome,
    /// Memory after start.
    pub idle: Rss,
    /// Memory holding the Pods and Services, once the server settled.
    pub holding: Rss,
    /// How long after the last create the server settled (see [`settle`]).
    pub settled_after: Duration,
    /// Memory after the watch phase.
    pub after_watch: Rss,
    /// Size of one stored Pod as JSON.
    pub pod_bytes: Vec<u8>,
    /// The server's `/metrics` after the Pods and Services were created.
    pub metrics_holding: String,
    /// The server's `/metrics` at the end.
    pub metrics_end: String,
}

/// The server's Prometheus text (empty if it cannot be read).
async fn server_metrics(client: &kube::Client) -> String {
    let Ok(req) = http::Request::get("/metrics").body(Vec::new()) else {
        return String::new();
    };
    client.request_text(req).await.unwrap_or_default()
}

/// Polls between two readings of the server's store writes in [`settle`].
const SETTLE_POLL: Duration = Duration::from_secs(1);
/// Readings in a row with at most [`SETTLE_IDLE_WRITES`] new writes that
/// count as settled.
const SETTLE_QUIET: u32 = 5;
/// Writes per poll a settled server still makes: Lease renewals of the
/// controller manager, the scheduler and the API server's endpoints.
const SETTLE_IDLE_WRITES: f64 = 10.0;
/// Longest wait for the server to settle.
const SETTLE_CAP: Duration = Duration::from_secs(180);

/// Waits until the server stops writing: its controllers and scheduler
/// have acted on every object created (slices written, pods' scheduling
/// reported, events recorded), so that memory is read in the steady state
/// the objects cause, not halfway through reacting to them. Returns how
/// long that took (at most [`SETTLE_CAP`]).
async fn settle(admin: &kube::Client) -> Duration {
    let started = tokio::time::Instant::now();
    let writes = |text: &str| super::prom::value(text, "orch_store_writes_total");
    let mut last = writes(&server_metrics(admin).await);
    let mut quiet = 0;
    while quiet < SETTLE_QUIET && started.elapsed() < SETTLE_CAP {
        tokio::time::sleep(SETTLE_POLL).await;
        let now = writes(&server_metrics(admin).await);
        quiet = match (last, now) {
            (Some(a), Some(b)) if b - a <= SETTLE_IDLE_WRITES => quiet + 1,
            _ => 0,
        };
        last = now;
    }
    started.elapsed()
}

/// Runs every phase against a fresh server of `variant`.
async fn measure(p: &ApiParams, variant: &Variant, orch_bin: &Path) -> Result<Measured> {
    eprintln!(
        "bench api: {}: {} server {}",
        variant.label,
        orch_bin.display(),
        variant.args.join(" ")
    );
    let server = OrchServer::start(orch_bin, &variant.args).await?;
    let pid = server.pid();
    let admin = server.client()?;
    namespace(&admin, NS).await?;
    namespace(&admin, WATCH_NS).await?;
    let idle = Rss::of(pid)?;

    let cl = clients(&server, p.clients)?;
    let phase = |ops| Load {
        ops,
        workers: p.clients,
        cap: p.cap,
    };

    eprintln!(
        "    GET /version x{} over {} clients",
        p.baseline_ops, p.clients
    );
    let c = cl.clone();
    let version = Phase::measure(
        Some(pid),
        load::run(phase(p.baseline_ops), move |w, _| {
            let client = c[w].clone();
            async move {
                client.apiserver_version().await?;
                Ok(())
            }
        }),
    )
    .await;

    eprintln!("    create {} pods over {} clients", p.pods, p.clients);
    let c = cl.clone();
    let pods = Phase::measure(
        Some(pid),
        load::run(phase(p.pods), move |w, i| {
            let api: Api<Pod> = Api::namespaced(c[w].clone(), NS);
            async move {
                api.create(&PostParams::default(), &pod(i)).await?;
                Ok(())
            }
        }),
    )
    .await;
    eprintln!(
        "    {} pods/s {}",
        rate(pods.outcome.rate()),
        pods.outcome.note()
    );

    eprintln!(
        "    create {} services over {} clients",
        p.services, p.clients
    );
    let c = cl.clone();
    let services = Phase::measure(
        Some(pid),
        load::run(phase(p.services), move |w, i| {
            let api: Api<Service> = Api::namespaced(c[w].clone(), NS);
            async move {
                api.create(&PostParams::default(), &service(i)).await?;
                Ok(())
            }
        }),
    )
    .await;
    eprintln!(
        "    {} services/s {}",
        rate(services.outcome.rate()),
        services.outcome.note()
    );
    drop(cl);

    // The stored form of one pod, for the in-process baseline's value size.
    let stored = Api::<Pod>::namespaced(admin.clone(), NS)
        .get("p-00000")
        .await
        .context("reading back a pod")?;
    let pod_bytes = serde_json::to_vec(&stored)?;
    let settled_after = settle(&admin).await;
    let holding = Rss::of(pid)?;
    let metrics_holding = server_metrics(&admin).await;
    eprintln!(
        "    server VmRSS {} KiB holding the objects, {:.0} s after the creates",
        holding.rss,
        settled_after.as_secs_f64()
    );

    eprintln!("    create {SINGLE} ConfigMaps, 1 client, no watchers");
    let c = admin.clone();
    let single = Phase::measure(
        Some(pid),
        load::run(
            Load {
                ops: SINGLE,
                workers: 1,
                cap: SINGLE_CAP,
            },
            move |_, i| {
                let api: Api<ConfigMap> = Api::namespaced(c.clone(), NS);
                async move {
                    api.create(&PostParams::default(), &config_map(i)).await?;
                    Ok(())
                }
            },
        ),
    )
    .await;

    eprintln!(
        "    {} watchers, {} creates at {}/s",
        p.watchers, p.watch_events, p.watch_rate
    );
    let watch = api_watch::run(&server, WATCH_NS, p.watchers, p.watch_events, p.watch_rate).await?;
    let after_watch = Rss::of(pid)?;
    let metrics_end = server_metrics(&admin).await;
    Ok(Measured {
        variant: variant.clone(),
        version,
        pods,
        services,
        single,
        watch,
        idle,
        holding,
        settled_after,
        after_watch,
        pod_bytes,
        metrics_holding,
        metrics_end,
    })
}

/// ConfigMaps created by one client with no watchers open.
pub const SINGLE: usize = 200;
/// Time cap of that phase.
const SINGLE_CAP: Duration = Duration::from_secs(15);

/// Runs the benchmark, writes `api.md` into `out` and returns the figures.
pub async fn run(p: &ApiParams, orch_bin: &Path, out: &Path) -> Result<ApiFigures> {
    let mut all = Vec::new();
    for v in &p.variants {
        all.push(measure(p, v, orch_bin).await?);
    }
    let pod_bytes = all.first().map(|m| m.pod_bytes.clone()).unwrap_or_default();
    eprintln!(
        "bench api: baseline, embedded store in-process, {} writes of {} B",
        p.baseline_ops,
        pod_bytes.len()
    );
    let start = CpuMark::now(None);
    let outcome = store_baseline(pod_bytes, p.baseline_ops, p.clients, p.cap).await?;
    let store = Phase {
        outcome,
        cpu: CpuMark::now(None).since(start),
    };
    api_report::report(p, &all, &store).emit(out, "api.md")?;
    Ok(api_report::figures(&all, &store))
}
