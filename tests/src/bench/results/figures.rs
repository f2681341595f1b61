//! The figures each benchmark writes to its JSON file: only what the
//! combined report tabulates and plots (the Markdown report keeps the
//! rest). Times are in milliseconds (`_ms`) or microseconds (`_us`), rates
//! per second, memory in MiB.
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A duration in milliseconds, for the JSON files.
pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A duration in microseconds, for the JSON files.
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `bench store`: one case per backend and concurrency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreFigures {
    /// Bytes per value.
    pub value_size: usize,
    /// Every backend at every concurrency.
    pub cases: Vec<StoreCase>,
    /// ConfigMap creates through `orch server` on each backend, one case
    /// per backend and client count (`writers` = clients, `writes` =
    /// creates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api: Vec<StoreCase>,
}

/// One backend at one concurrency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreCase {
    /// Concurrent writers.
    pub writers: usize,
    /// `embedded` or `etcd`.
    pub backend: String,
    /// Durable writes that succeeded.
    pub writes: usize,
    /// Writes that failed.
    pub failed: usize,
    /// Durable writes per second.
    pub writes_per_sec: f64,
    /// Write latency, median.
    pub p50_ms: f64,
    /// Write latency, 99th percentile.
    pub p99_ms: f64,
}

/// `bench api`: each server variant, and the in-process store baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiFigures {
    /// Baseline: `EmbeddedStore::create` in-process, per second.
    pub store_creates_per_sec: f64,
    /// One entry per `orch server` variant.
    pub variants: Vec<ApiVariant>,
}

/// One `orch server` variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiVariant {
    /// What the report calls it.
    pub label: String,
    /// Pods created.
    pub pods: usize,
    /// Pod creates per second over HTTPS.
    pub pod_creates_per_sec: f64,
    /// Pod create latency, 99th percentile.
    pub pod_p99_ms: f64,
    /// Baseline: `GET /version` per second through the same clients.
    pub version_per_sec: f64,
    /// Watch delivery p99, from the create returning.
    pub watch_p99_ms: f64,
    /// Watch deliveries that never arrived.
    pub watch_missing: usize,
    /// Server `VmRSS` holding the Pods and Services: the higher of the
    /// settled reading and the one after the watch phase.
    pub rss_holding_mib: f64,
}

/// `bench scheduler`: the three phases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulerFigures {
    /// Fake nodes of phases 1 and 2.
    pub nodes: usize,
    /// Pods of phases 1 and 2.
    pub pods: usize,
    /// Phase 1: the algorithm alone, pods per second.
    pub algo_pods_per_sec: f64,
    /// Phase 2: pods seen bound.
    pub e2e_bound: usize,
    /// Phase 2: bound pods per second, end to end.
    pub e2e_pods_per_sec: f64,
    /// Phase 2: the time cap ended the wait.
    pub e2e_capped: bool,
    /// Phase 3: Deployment replicas.
    pub deploy_replicas: usize,
    /// Phase 3: pods seen bound.
    pub deploy_bound: usize,
    /// Phase 3: create → every pod bound, if measured.
    pub deploy_seconds: Option<f64>,
}

/// `bench pods`: startup next to the bare kernel cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodsFigures {
    /// Pods created.
    pub created: usize,
    /// Pods seen Ready.
    pub ready: usize,
    /// The time cap ended the wait.
    pub capped: bool,
    /// Create → Ready, median.
    pub pod_p50_ms: f64,
    /// Create → Ready, 99th percentile.
    pub pod_p99_ms: f64,
    /// Samples of the bare cost.
    pub bare_samples: usize,
    /// Bare netns + veth + exec, median.
    pub bare_p50_ms: f64,
    /// Bare netns + veth + exec, 99th percentile.
    pub bare_p99_ms: f64,
}

/// How orch-proxy programs Services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyMode {
    /// Socket load-balancing at cgroup `sock_addr` hooks.
    Ebpf,
    /// kube-proxy–style nat chains.
    Iptables,
}

impl ProxyMode {
    /// How reports name it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ebpf => "eBPF",
            Self::Iptables => "iptables",
        }
    }
}

/// `bench proxy`: programming latency and the data path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyFigures {
    /// One entry per mode and Service count.
    pub programming: Vec<Programming>,
    /// One entry per path (direct first).
    pub data_path: Vec<DataPath>,
}

/// Network programming latency of one change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Programming {
    /// The proxy mode.
    pub mode: ProxyMode,
    /// Services programmed (3 endpoints each).
    pub services: u32,
    /// Single changes measured.
    pub changes: usize,
    /// The first full sync of all Services.
    pub full_sync_ms: f64,
    /// One change, median.
    pub p50_ms: f64,
    /// One change, 99th percentile.
    pub p99_ms: f64,
}

/// Request rates on one path from the client netns to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataPath {
    /// Through the Service VIP in this mode; `None`: straight to the pod IP.
    pub mode: Option<ProxyMode>,
    /// Services programmed besides the benchmark's own.
    pub extra_services: u32,
    /// Keep-alive requests per second.
    pub keepalive_per_sec: f64,
    /// New connections per second.
    pub new_conns_per_sec: f64,
}

impl DataPath {
    /// How reports name the path.
    pub fn label(&self) -> String {
        match self.mode {
            None => "direct to pod IP".into(),
            Some(m) if self.extra_services > 0 => {
                format!(
                    "VIP, {}, {} Services",
                    m.label(),
                    super::super::report::rate(self.extra_services.into())
                )
            }
            Some(m) => format!("VIP, {}", m.label()),
        }
    }
}

/// `bench dns`: orch-dns and Knot under the same load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsFigures {
    /// Services served.
    pub services: usize,
    /// orch-dns.
    pub orch: DnsServer,
    /// Knot DNS.
    pub knot: DnsServer,
    /// Service create through the API → answerable, 99th percentile.
    pub create_p99_ms: f64,
    /// Service delete through the API → NXDOMAIN, 99th percentile.
    pub delete_p99_ms: f64,
}

/// One DNS server's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsServer {
    /// Median of the throughput runs.
    pub median_qps: f64,
    /// Every throughput run.
    pub rounds_qps: Vec<f64>,
    /// Fixed-rate run, median latency.
    pub latency_p50_us: f64,
    /// Fixed-rate run, 99th percentile.
    pub latency_p99_us: f64,
}
