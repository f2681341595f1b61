//! Prometheus metrics of the proxy: the mode in use, what is programmed,
//! network programming latency (from the API change to the data path), sync
//! duration, and per-Service connection counters read from the data path at
//! scrape time.
use std::sync::{Arc, Mutex};

use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabel {
    mode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    service: String,
    frontend: String,
}

fn latency() -> Histogram {
    Histogram::new([
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        5.0, 10.0,
    ])
}

/// The proxy's metrics.
#[derive(Clone)]
pub struct ProxyMetrics {
    registry: Arc<Mutex<Registry>>,
    mode: Family<ModeLabel, Gauge>,
    services: Gauge,
    backends: Gauge,
    programming: Histogram,
    sync: Histogram,
    sync_errors: Counter,
    connections: Family<ServiceLabels, Gauge>,
}

impl std::fmt::Debug for ProxyMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxyMetrics")
    }
}

impl Default for ProxyMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ProxyMetrics {
    /// Creates and registers the metrics.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("orch_proxy");
        let m = Self {
            registry: Arc::new(Mutex::new(Registry::default())),
            mode: Family::default(),
            services: Gauge::default(),
            backends: Gauge::default(),
            programming: latency(),
            sync: latency(),
            sync_errors: Counter::default(),
            connections: Family::default(),
        };
        r.register(
            "mode",
            "Data-path mode in use (1 for the active mode)",
            m.mode.clone(),
        );
        r.register(
            "services_programmed",
            "Service ports programmed",
            m.services.clone(),
        );
        r.register(
            "backends_programmed",
            "Distinct backends programmed",
            m.backends.clone(),
        );
        r.register(
            "network_programming_duration_seconds",
            "From a Service or EndpointSlice change (its trigger time, else its arrival) to the data path being updated",
            m.programming.clone(),
        );
        r.register(
            "sync_duration_seconds",
            "Time to program one batch of changes",
            m.sync.clone(),
        );
        r.register(
            "sync_errors",
            "Batches that failed to program",
            m.sync_errors.clone(),
        );
        r.register(
            "service_connections",
            "Connections translated per Service port (eBPF mode)",
            m.connections.clone(),
        );
        *m.registry.lock().unwrap_or_else(|e| e.into_inner()) = r;
        m
    }

    /// Marks `mode` as the one in use.
    pub fn set_mode(&self, mode: &str) {
        self.mode.clear();
        self.mode
            .get_or_create(&ModeLabel {
                mode: mode.to_string(),
            })
            .set(1);
    }

    /// Records what is programmed.
    pub fn set_programmed(&self, services: usize, backends: usize) {
        self.services.set(services as i64);
        self.backends.set(backends as i64);
    }

    /// Records one change's programming latency.
    pub fn observe_programming(&self, seconds: f64) {
        self.programming.observe(seconds);
    }

    /// Records one batch's sync duration.
    pub fn observe_sync(&self, seconds: f64) {
        self.sync.observe(seconds);
    }

    /// Counts a failed batch.
    pub fn sync_failed(&self) {
        self.sync_errors.inc();
    }

    /// Replaces the per-Service connection counters.
    pub fn set_connections(&self, rows: impl IntoIterator<Item = (String, String, u64)>) {
        self.connections.clear();
        for (service, frontend, n) in rows {
            self.connections
                .get_or_create(&ServiceLabels { service, frontend })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let reg = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &reg);
        out
    }
}
