//! The goals the benchmarks are judged against, in one place: each
//! benchmark's own report and the combined report (`report.md`) read them
//! from here, so the two always give the same verdict.
use std::time::Duration;

/// Store: embedded writes/s ÷ etcd writes/s, at every concurrency.
pub const STORE_RATIO: f64 = 1.0;

/// API: watch delivery p99 (from the create returning).
pub const API_WATCH_P99: Duration = Duration::from_millis(10);
/// API: server resident memory holding the Pods and Services, in bytes.
pub const API_RSS_BYTES: f64 = 150e6;

/// Scheduler: the algorithm alone, pods per second.
pub const SCHED_ALGO_RATE: f64 = 5_000.0;
/// Scheduler: end to end through the API, pods per second.
pub const SCHED_E2E_RATE: f64 = 1_000.0;

/// Pods: create → Ready p99.
pub const POD_STARTUP_P99: Duration = Duration::from_millis(200);

/// Proxy: one change made live in eBPF mode, p99.
pub const PROXY_EBPF_P99: Duration = Duration::from_millis(5);
/// Proxy: one change made live in iptables mode, p99.
pub const PROXY_IPTABLES_P99: Duration = Duration::from_secs(1);
/// Proxy: keep-alive requests/s over the VIP ÷ straight to the pod IP.
pub const PROXY_KEEPALIVE_RATIO: f64 = 0.98;
/// Proxy: new connections/s over the VIP ÷ straight to the pod IP.
pub const PROXY_NEW_CONN_RATIO: f64 = 0.95;

/// DNS: orch-dns answers at least this many queries per second.
pub const DNS_QPS: f64 = 70_000.0;
/// DNS: orch-dns queries/s ÷ Knot queries/s.
pub const DNS_RATIO: f64 = 0.5;
/// DNS: a change in the API is answerable within this long (p99).
pub const DNS_CHANGE_P99: Duration = Duration::from_millis(100);
