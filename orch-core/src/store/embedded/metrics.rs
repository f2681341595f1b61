//! Prometheus metrics of the embedded store's group commit.
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Commit latency and batching counters. Cloning shares the same series.
#[derive(Debug, Clone)]
pub struct StoreMetrics {
    commit_seconds: Histogram,
    batch_size: Histogram,
    batches: Counter,
    writes: Counter,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        Self {
            // 50µs .. ~1.6s
            commit_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            // 1 .. 4096
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 13)),
            batches: Counter::default(),
            writes: Counter::default(),
        }
    }
}

impl StoreMetrics {
    /// Registers every series under `registry`, prefixed `orch_store_`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "orch_store_commit_duration_seconds",
            "Time to commit and fsync one write batch",
            self.commit_seconds.clone(),
        );
        registry.register(
            "orch_store_batch_writes",
            "Writes committed per batch",
            self.batch_size.clone(),
        );
        registry.register(
            "orch_store_batches",
            "Write batches committed",
            self.batches.clone(),
        );
        registry.register("orch_store_writes", "Writes committed", self.writes.clone());
    }

    /// Batches committed since the store opened.
    pub fn batches(&self) -> u64 {
        self.batches.get()
    }

    /// Writes committed since the store opened.
    pub fn writes(&self) -> u64 {
        self.writes.get()
    }

    /// Records one committed batch of `writes` writes.
    pub(crate) fn observe_batch(&self, writes: usize, commit: Duration) {
        self.commit_seconds.observe(commit.as_secs_f64());
        self.batch_size.observe(writes as f64);
        self.batches.inc();
        self.writes.inc_by(writes as u64);
    }
}
