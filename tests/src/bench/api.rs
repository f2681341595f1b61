//! `bench api`: the real `orch server` (release binary) over HTTPS with
//! kube-rs clients. Measures (1) create throughput and latency with 64
//! concurrent clients (10,000 Pods, then 1,000 Services), against two
//! baselines from the same run: `GET /version` through the same clients,
//! and the embedded store alone, in-process, with values of the stored
//! pod's size; (2) watch delivery latency with 100 watchers (goal p99
//! < 10 ms); (3) the server's resident memory holding 10k Pods and 1k
//! Services (goal < 150 MB).
use std::{collections::BTreeMap, path::Path, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use k8s_openapi::{
    api::core::v1::{Container, Namespace, Pod, PodSpec, Service, ServicePort, ServiceSpec},
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
    api_watch::{self, WatchOutcome},
    load::{self, Load, Outcome},
    orch::OrchServer,
    report::{ms, percentile, rate, ratio, verdict, Report, Table},
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
        }
    }
}

const NS: &str = "bench";
const WATCH_NS: &str = "bench-watch";

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
async fn store_baseline(value: Vec<u8>, ops: usize, writers: usize, cap: Duration) -> Result<Outcome> {
    let dir = tempfile::Builder::new()
        .prefix("orch-bench-baseline")
        .tempdir()?;
    let store = Arc::new(EmbeddedStore::open_dir(dir.path(), EmbeddedOptions::default())?);
    let value = Arc::new(value);
    let load = Load { ops, workers: writers, cap };
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

/// Memory readings, in KiB.
#[derive(Debug, Clone, Copy)]
struct Rss {
    rss: u64,
    hwm: u64,
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// Runs the benchmark and writes `api.md` into `out`.
pub async fn run(p: &ApiParams, orch_bin: &Path, out: &Path) -> Result<()> {
    eprintln!("bench api: starting {}", orch_bin.display());
    let server = OrchServer::start(orch_bin).await?;
    let admin = server.client()?;
    namespace(&admin, NS).await?;
    namespace(&admin, WATCH_NS).await?;
    let (rss, hwm) = server.rss_kib()?;
    let idle = Rss { rss, hwm };

    let cl = clients(&server, p.clients)?;
    let phase = |ops| Load { ops, workers: p.clients, cap: p.cap };

    eprintln!("bench api: GET /version x{} over {} clients", p.baseline_ops, p.clients);
    let c = cl.clone();
    let version = load::run(phase(p.baseline_ops), move |w, _| {
        let client = c[w].clone();
        async move {
            client.apiserver_version().await?;
            Ok(())
        }
    })
    .await;

    eprintln!("bench api: create {} pods over {} clients", p.pods, p.clients);
    let c = cl.clone();
    let pods = load::run(phase(p.pods), move |w, i| {
        let api: Api<Pod> = Api::namespaced(c[w].clone(), NS);
        async move {
            api.create(&PostParams::default(), &pod(i)).await?;
            Ok(())
        }
    })
    .await;
    eprintln!("    {} pods/s {}", rate(pods.rate()), pods.note());

    eprintln!("bench api: create {} services over {} clients", p.services, p.clients);
    let c = cl.clone();
    let services = load::run(phase(p.services), move |w, i| {
        let api: Api<Service> = Api::namespaced(c[w].clone(), NS);
        async move {
            api.create(&PostParams::default(), &service(i)).await?;
            Ok(())
        }
    })
    .await;
    eprintln!("    {} services/s {}", rate(services.rate()), services.note());
    drop(cl);

    // The stored form of one pod, for the in-process baseline's value size.
    let stored = Api::<Pod>::namespaced(admin.clone(), NS)
        .get("p-00000")
        .await
        .context("reading back a pod")?;
    let pod_bytes = serde_json::to_vec(&stored)?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss, hwm) = server.rss_kib()?;
    let holding = Rss { rss, hwm };
    eprintln!("    server VmRSS {} MiB holding the objects", mib(rss));

    eprintln!(
        "bench api: {} watchers, {} creates at {}/s",
        p.watchers, p.watch_events, p.watch_rate
    );
    let watch = api_watch::run(&server, WATCH_NS, p.watchers, p.watch_events, p.watch_rate).await?;
    let (rss, hwm) = server.rss_kib()?;
    let after_watch = Rss { rss, hwm };
    let pid = server.pid();
    drop(server);

    eprintln!(
        "bench api: baseline, embedded store in-process, {} writes of {} B",
        p.baseline_ops,
        pod_bytes.len()
    );
    let store = store_baseline(pod_bytes.clone(), p.baseline_ops, p.clients, p.cap).await?;

    let mut r = Report::new("orch benchmark: API server");
    r.para(&format!(
        "\nParameters: `orch server` release binary (pid {pid}) with default flags, \
         `--listen` on 127.0.0.1; clients are kube-rs `Client`s built from its \
         `admin.kubeconfig` (HTTPS, bearer token), each with its own connection, all \
         in one benchmark process (tokio, {} worker threads) on the same machine. \
         Creates: {} concurrent clients, closed loop, {} Pods (one container, \
         {} B as stored) then {} Services (ClusterIP allocated by the server) in \
         namespace `{NS}`; time cap {} s per phase. Baselines in the same run: \
         `GET /version` x{} through the same clients, and `EmbeddedStore::create` \
         in-process x{} at {} writers with values of the stored pod's size.",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        p.clients,
        p.pods,
        pod_bytes.len(),
        p.services,
        p.cap.as_secs(),
        p.baseline_ops,
        p.baseline_ops,
        p.clients,
    ));

    r.heading("Create throughput and latency");
    let mut t = Table::new(&["operation", "ok", "per second", "p50 ms", "p99 ms", "notes"]);
    for (name, o) in [
        ("baseline: GET /version over HTTPS", &version),
        ("create Pod", &pods),
        ("create Service", &services),
        ("baseline: embedded store create, in-process", &store),
    ] {
        t.row(vec![
            name.into(),
            o.ok.to_string(),
            rate(o.rate()),
            ms(o.p(50.0)),
            ms(o.p(99.0)),
            o.note(),
        ]);
    }
    r.table(&t);
    let mut t = Table::new(&["ratio (same run)", "value"]);
    t.row(vec![
        "Pod creates/s ÷ in-process store creates/s".into(),
        format!("{:.2}", ratio(pods.rate(), store.rate())),
    ]);
    t.row(vec![
        "Pod creates/s ÷ GET /version/s".into(),
        format!("{:.2}", ratio(pods.rate(), version.rate())),
    ]);
    r.para("");
    r.table(&t);

    r.heading("Watch delivery latency");
    r.para(&watch_note(&watch, p));
    r.table(&watch_table(&watch));

    r.heading("Server memory");
    r.para(
        "`VmRSS` (resident) and `VmHWM` (peak resident) from `/proc/<pid>/status`, \
         in MiB (1 MiB = 1.048576 MB, so a reading under 150 MiB is under 150 MB only \
         if under 143 MiB).",
    );
    let mut t = Table::new(&["when", "VmRSS MiB", "VmHWM MiB", "goal < 150 MB"]);
    let goal = |x: Rss| verdict((x.rss as f64) * 1024.0 < 150e6).to_string();
    t.row(vec![
        "idle, after start".into(),
        mib(idle.rss),
        mib(idle.hwm),
        String::new(),
    ]);
    t.row(vec![
        format!("holding {} Pods + {} Services", pods.ok, services.ok),
        mib(holding.rss),
        mib(holding.hwm),
        goal(holding),
    ]);
    t.row(vec![
        format!("after the watch phase (+{} ConfigMaps)", watch.created),
        mib(after_watch.rss),
        mib(after_watch.hwm),
        String::new(),
    ]);
    r.table(&t);
    r.emit(out, "api.md")
}

fn watch_note(w: &WatchOutcome, p: &ApiParams) -> String {
    format!(
        "{} kube-rs watches (one connection each) on ConfigMaps in namespace \
         `{WATCH_NS}`, all from one resourceVersion; one more client creates {} \
         ConfigMaps (64 B of data) one at a time at {}/s. Latency runs from the create \
         call returning to each watcher decoding the ADDED event (an event that beat \
         the response counts as 0; {} of {} did), and, for reference, from the create \
         call being sent (this includes the durable write). Create call p50 {} ms, \
         p99 {} ms.",
        w.watchers,
        w.created,
        p.watch_rate,
        w.before_return,
        w.delivered,
        ms(percentile(&w.create_latency, 50.0)),
        ms(percentile(&w.create_latency, 99.0)),
    )
}

fn watch_table(w: &WatchOutcome) -> Table {
    let mut t = Table::new(&[
        "watchers",
        "events",
        "deliveries",
        "missing",
        "p50 ms (from return)",
        "p99 ms (from return)",
        "max ms",
        "p50 ms (from send)",
        "p99 ms (from send)",
        "goal p99 < 10 ms",
    ]);
    let p99 = w.p_return(99.0);
    t.row(vec![
        w.watchers.to_string(),
        w.created.to_string(),
        w.delivered.to_string(),
        w.missing.to_string(),
        ms(w.p_return(50.0)),
        ms(p99),
        ms(w.p_return(100.0)),
        ms(w.p_send(50.0)),
        ms(w.p_send(99.0)),
        verdict(w.missing == 0 && p99 < Duration::from_millis(10)).into(),
    ]);
    t
}
