//! The proxy loop of one node: kube-rs watchers over Services,
//! EndpointSlices and the node's Pods feed a [`Cache`]; each batch of events
//! recomputes only the Services it touched and hands the changes to the
//! [`Dataplane`]. The whole table is re-synced at start, after a re-list,
//! after an error, and periodically.
pub mod cache;
pub mod dump;
pub mod metrics;
pub mod scope;
pub mod select;
mod serve;

use std::{
    collections::{BTreeSet, HashMap},
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::{
    core::v1::{Pod, Service},
    discovery::v1::EndpointSlice,
};
use kube::{
    runtime::{watcher, WatchStreamExt},
    Api, Client,
};

pub use cache::Cache;
pub use metrics::ProxyMetrics;
pub use select::ModeChoice;

use crate::{dataplane::Dataplane, ProxyError};
use cache::ServiceRef;
use scope::Scope;

/// Annotation an EndpointSlice controller sets to when the change that
/// produced the slice happened.
pub const TRIGGER_TIME_ANNOTATION: &str = "endpoints.kubernetes.io/last-change-trigger-time";

/// How to run the proxy of one node.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The node this proxy serves.
    pub node_name: String,
    /// The node's network namespace (`None`: the current one).
    pub netns: Option<PathBuf>,
    /// Which data path.
    pub mode: ModeChoice,
    /// Service ports and backends the eBPF maps hold.
    pub capacity: u32,
    /// Period of the full resync.
    pub resync_interval: Duration,
    /// Where to serve `/metrics` and `/healthz` (inside the node netns).
    pub metrics_addr: Option<SocketAddr>,
    /// eBPF-side diagnostics forwarded to the log (off by default).
    pub ebpf_log_level: crate::ebpf::LogLevel,
}

impl ProxyConfig {
    /// Defaults for `node`.
    pub fn new(node: &str) -> Self {
        Self {
            node_name: node.to_string(),
            netns: None,
            mode: ModeChoice::Auto,
            capacity: orch_proxy_common::DEFAULT_CAPACITY,
            resync_interval: Duration::from_secs(30),
            metrics_addr: None,
            ebpf_log_level: crate::ebpf::LogLevel::Off,
        }
    }
}

enum Ev {
    Svc(Box<watcher::Event<Service>>),
    Slice(Box<watcher::Event<EndpointSlice>>),
    Pod(Box<watcher::Event<Pod>>),
}

/// A full list in progress or done, per kind.
#[derive(Default)]
struct Lists {
    services: Option<Vec<Service>>,
    slices: Option<Vec<EndpointSlice>>,
    synced: [bool; 3],
}

/// Runs the proxy until `shutdown` resolves. The data path stays programmed
/// (pinned) after return, so a restarted proxy serves without a gap; use
/// [`select::cleanup`] to remove it.
pub async fn run(
    client: Client,
    cfg: ProxyConfig,
    metrics: ProxyMetrics,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ProxyError> {
    let mut dp = select::start(
        cfg.mode,
        &cfg.node_name,
        cfg.netns.as_deref(),
        cfg.capacity,
        cfg.ebpf_log_level,
    )?;
    tracing::info!(node = %cfg.node_name, mode = %dp.mode(), "service proxy started");
    metrics.set_mode(dp.mode().as_str());
    let own_netns = cfg
        .netns
        .clone()
        .unwrap_or_else(|| PathBuf::from("/proc/self/ns/net"));
    dp.scope(scope::NODE_KEY, &own_netns)?;
    let _server = cfg.metrics_addr.and_then(|addr| {
        serve::spawn(addr, cfg.netns.as_deref(), metrics.clone())
            .inspect_err(|e| tracing::warn!(error = %e, "serving proxy metrics"))
            .ok()
    });

    let pods_cfg = watcher::Config::default().fields(&format!("spec.nodeName={}", cfg.node_name));
    let services = watcher(Api::<Service>::all(client.clone()), Default::default())
        .default_backoff()
        .map(|e| e.map(|s| Ev::Svc(Box::new(s))));
    let slices = watcher(
        Api::<EndpointSlice>::all(client.clone()),
        Default::default(),
    )
    .default_backoff()
    .map(|e| e.map(|s| Ev::Slice(Box::new(s))));
    let pods = watcher(Api::<Pod>::all(client), pods_cfg)
        .default_backoff()
        .map(|e| e.map(|p| Ev::Pod(Box::new(p))));
    let mut events = futures::stream::select_all([services.boxed(), slices.boxed(), pods.boxed()]);

    let mut lp = Loop {
        dp: dp.as_mut(),
        cache: Cache::default(),
        scope: Scope::default(),
        lists: Lists::default(),
        ready: false,
        needs_resync: false,
        touched: BTreeSet::new(),
        arrived: HashMap::new(),
        metrics: &metrics,
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_resync = Instant::now();
    let shutdown = shutdown.fuse();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            ev = events.next() => {
                let Some(ev) = ev else { break };
                lp.handle(ev);
                // Drain what is already queued into the same batch.
                for _ in 0..4096 {
                    match events.next().now_or_never() {
                        Some(Some(ev)) => lp.handle(ev),
                        _ => break,
                    }
                }
                lp.flush();
            }
            _ = tick.tick() => {
                if lp.ready && last_resync.elapsed() >= cfg.resync_interval {
                    lp.needs_resync = true;
                    last_resync = Instant::now();
                }
                lp.scope.retry(lp.dp);
                lp.dp.flush_diagnostics();
                lp.flush();
                lp.publish_connections();
            }
        }
    }
    tracing::info!(node = %cfg.node_name, "service proxy stopped; the data path stays programmed");
    Ok(())
}

struct Loop<'a> {
    dp: &'a mut dyn Dataplane,
    cache: Cache,
    scope: Scope,
    lists: Lists,
    ready: bool,
    needs_resync: bool,
    touched: BTreeSet<ServiceRef>,
    arrived: HashMap<ServiceRef, Instant>,
    metrics: &'a ProxyMetrics,
}

impl Loop<'_> {
    fn touch(&mut self, refs: impl IntoIterator<Item = ServiceRef>) {
        let now = Instant::now();
        for r in refs {
            self.arrived.entry(r.clone()).or_insert(now);
            self.touched.insert(r);
        }
    }

    fn handle(&mut self, ev: Result<Ev, watcher::Error>) {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!(error = %e, "watch failed; retrying with backoff");
                return;
            }
        };
        match ev {
            Ev::Svc(e) => match *e {
                watcher::Event::Init => self.lists.services = Some(Vec::new()),
                watcher::Event::InitApply(s) => {
                    self.lists.services.get_or_insert_with(Vec::new).push(s)
                }
                watcher::Event::InitDone => {
                    self.cache
                        .replace_services(self.lists.services.take().unwrap_or_default());
                    self.lists.synced[0] = true;
                    self.relisted();
                }
                watcher::Event::Apply(s) => {
                    let r = self.cache.apply_service(s);
                    self.touch([r]);
                }
                watcher::Event::Delete(s) => {
                    let r = self.cache.delete_service(&s);
                    self.touch([r]);
                }
            },
            Ev::Slice(e) => match *e {
                watcher::Event::Init => self.lists.slices = Some(Vec::new()),
                watcher::Event::InitApply(s) => {
                    self.lists.slices.get_or_insert_with(Vec::new).push(s)
                }
                watcher::Event::InitDone => {
                    self.cache
                        .replace_slices(self.lists.slices.take().unwrap_or_default());
                    self.lists.synced[1] = true;
                    self.relisted();
                }
                watcher::Event::Apply(s) => {
                    let r = self.cache.apply_slice(s);
                    self.touch(r);
                }
                watcher::Event::Delete(s) => {
                    let r = self.cache.delete_slice(&s);
                    self.touch(r);
                }
            },
            Ev::Pod(e) => match *e {
                watcher::Event::Init => self.scope.begin_list(),
                watcher::Event::InitApply(p) | watcher::Event::Apply(p) => {
                    self.scope.apply(self.dp, &p);
                }
                watcher::Event::InitDone => {
                    self.scope.end_list(self.dp);
                    self.lists.synced[2] = true;
                    self.relisted();
                }
                watcher::Event::Delete(p) => self.scope.delete(self.dp, &p),
            },
        }
    }

    /// After a (re-)list of any kind, once all kinds have been listed, the
    /// whole table is re-synced.
    fn relisted(&mut self) {
        if self.lists.synced.iter().all(|s| *s) {
            self.needs_resync = true;
        }
    }

    fn flush(&mut self) {
        if self.needs_resync {
            self.needs_resync = false;
            self.touched.clear();
            self.arrived.clear();
            let start = Instant::now();
            let table = self.cache.full_table();
            match self.dp.resync(&table) {
                Ok(()) => {
                    if !self.ready {
                        tracing::info!(ports = table.len(), "initial sync done");
                    }
                    self.ready = true;
                    self.metrics.observe_sync(start.elapsed().as_secs_f64());
                }
                Err(e) => {
                    tracing::error!(error = %e, "full resync failed; retrying");
                    self.metrics.sync_failed();
                    self.needs_resync = true;
                }
            }
            self.publish_counts();
            return;
        }
        if !self.ready || self.touched.is_empty() {
            return;
        }
        let touched = std::mem::take(&mut self.touched);
        let start = Instant::now();
        let changes = self.cache.changes(&touched);
        if !changes.is_empty() {
            if let Err(e) = self.dp.apply(&changes) {
                tracing::error!(error = %e, "programming changes failed; a full resync follows");
                self.metrics.sync_failed();
                self.needs_resync = true;
                return;
            }
            let done = Instant::now();
            self.metrics.observe_sync((done - start).as_secs_f64());
            for r in &touched {
                let arrived = self.arrived.get(r).copied().unwrap_or(start);
                let since = self.trigger_age(r).unwrap_or(done - arrived);
                self.metrics.observe_programming(since.as_secs_f64());
            }
            tracing::debug!(changes = changes.len(), took = ?(done - start), "programmed");
        }
        self.arrived.clear();
        self.publish_counts();
    }

    /// How long ago the newest slice of `r` says its change happened.
    fn trigger_age(&self, r: &ServiceRef) -> Option<Duration> {
        let newest = self
            .cache
            .slices_of(r)
            .filter_map(|s| {
                s.metadata
                    .annotations
                    .as_ref()?
                    .get(TRIGGER_TIME_ANNOTATION)
            })
            .filter_map(|t| t.parse::<jiff::Timestamp>().ok())
            .max()?;
        let age = jiff::Timestamp::now().duration_since(newest);
        let age = Duration::try_from(age).ok()?;
        // Only trust it for changes this proxy just saw.
        (age < Duration::from_secs(600)).then_some(age)
    }

    fn publish_counts(&self) {
        let (ports, backends) = self.cache.counts();
        self.metrics.set_programmed(ports, backends);
    }

    fn publish_connections(&mut self) {
        match self.dp.connection_counts() {
            Ok(rows) => self.metrics.set_connections(
                rows.into_iter()
                    .map(|(p, n)| (p.name.to_string(), p.frontend.to_string(), n)),
            ),
            Err(e) => tracing::debug!(error = %e, "reading connection counters"),
        }
    }
}

/// Path of a named netns.
pub fn netns_path(name: &str) -> PathBuf {
    Path::new(scope::NETNS_DIR).join(name)
}
