//! Prometheus metrics of the API server: request latency by verb, resource
//! and code; open watches by resource. The store registers its own (fsync
//! latency) into the same registry.
use std::sync::Mutex;

use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    verb: String,
    resource: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabel {
    resource: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    ])
}

/// The API server's metrics and the registry that renders them.
pub struct ApiMetrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Histogram>,
    watches: Family<ResourceLabel, Gauge>,
}

impl std::fmt::Debug for ApiMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiMetrics")
    }
}

impl Default for ApiMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Decrements the open-watch gauge when dropped.
#[derive(Debug)]
pub struct WatchGuard(Gauge);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl ApiMetrics {
    /// Creates and registers the metrics.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let watches = Family::<ResourceLabel, Gauge>::default();
        registry.register(
            "apiserver_request_duration_seconds",
            "API request latency by verb, resource and HTTP code",
            requests.clone(),
        );
        registry.register(
            "apiserver_open_watches",
            "Watches currently open, by resource",
            watches.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            requests,
            watches,
        }
    }

    /// Lets another component add metrics to the same registry.
    pub fn with_registry<T>(&self, f: impl FnOnce(&mut Registry) -> T) -> T {
        f(&mut self.registry.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Records one request.
    pub fn observe(&self, verb: &str, resource: &str, code: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                verb: verb.into(),
                resource: resource.into(),
                code: code.to_string(),
            })
            .observe(seconds);
    }

    /// Counts an open watch until the guard drops.
    pub fn watch_opened(&self, resource: &str) -> WatchGuard {
        let g = self
            .watches
            .get_or_create(&ResourceLabel {
                resource: resource.into(),
            })
            .clone();
        g.inc();
        WatchGuard(g)
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        let _ = encode(&mut out, &reg);
        out
    }
}
