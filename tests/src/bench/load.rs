//! A bounded closed-loop load: `workers` tasks share a counter of `ops`
//! operations and a time cap; each operation is timed on its own.
use std::{
    future::Future,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use super::report::percentile;

/// Longest a single operation may take before it counts as failed.
const OP_TIMEOUT: Duration = Duration::from_secs(30);

/// How much load to offer.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Operations in all.
    pub ops: usize,
    /// Concurrent workers, each running one operation at a time.
    pub workers: usize,
    /// Workers take no new operation after this long.
    pub cap: Duration,
}

/// What a load run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Operations that succeeded.
    pub ok: usize,
    /// Operations that failed or timed out.
    pub failed: usize,
    /// From the first operation started to the last one finished.
    pub elapsed: Duration,
    /// Latencies of the successful operations, sorted.
    pub latencies: Vec<Duration>,
    /// The first failure, for the report.
    pub first_error: Option<String>,
    /// Whether the time cap stopped the run before `ops` were issued.
    pub capped: bool,
}

impl Outcome {
    /// Successful operations per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q`-th latency percentile.
    pub fn p(&self, q: f64) -> Duration {
        percentile(&self.latencies, q)
    }

    /// Adds the results of another run of the same operation (run after
    /// this one): counts and times add up, latencies merge.
    pub fn merge(&mut self, other: Outcome) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
        self.latencies.sort_unstable();
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.capped |= other.capped;
    }

    /// Mean latency of the successful operations.
    pub fn mean(&self) -> Duration {
        let n = u32::try_from(self.latencies.len().max(1)).unwrap_or(u32::MAX);
        self.latencies.iter().sum::<Duration>() / n
    }

    /// A short note on failures and the cap, empty when all went well.
    pub fn note(&self) -> String {
        let mut parts = Vec::new();
        if self.failed > 0 {
            parts.push(format!(
                "{} failed (first: {})",
                self.failed,
                self.first_error.as_deref().unwrap_or("?")
            ));
        }
        if self.capped {
            parts.push("stopped by the time cap".to_string());
        }
        parts.join("; ")
    }
}

/// Per-worker results.
struct WorkerOutcome {
    latencies: Vec<Duration>,
    failed: usize,
    first_error: Option<String>,
}

/// Runs `op(worker, index)` for every index in `0..load.ops` on
/// `load.workers` tokio tasks, until all are done or the cap is reached.
pub async fn run<F, Fut>(load: Load, op: F) -> Outcome
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + load.cap;
    let mut tasks = Vec::with_capacity(load.workers);
    for worker in 0..load.workers.max(1) {
        let (op, next) = (op.clone(), next.clone());
        let ops = load.ops;
        tasks.push(tokio::spawn(async move {
            let mut out = WorkerOutcome {
                latencies: Vec::new(),
                failed: 0,
                first_error: None,
            };
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ops {
                    break;
                }
                let t = Instant::now();
                let res = tokio::time::timeout(OP_TIMEOUT, op(worker, i)).await;
                let took = t.elapsed();
                match res {
                    Ok(Ok(())) => out.latencies.push(took),
                    Ok(Err(e)) => {
                        out.failed += 1;
                        out.first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                    Err(_) => {
                        out.failed += 1;
                        out.first_error
                            .get_or_insert_with(|| format!("timed out after {OP_TIMEOUT:?}"));
                    }
                }
            }
            out
        }));
    }
    let mut all = Outcome {
        ok: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::with_capacity(load.ops),
        first_error: None,
        capped: false,
    };
    for t in tasks {
        match t.await {
            Ok(w) => {
                all.failed += w.failed;
                all.latencies.extend(w.latencies);
                if all.first_error.is_none() {
                    all.first_error = w.first_error;
                }
            }
            Err(e) => {
                all.failed += 1;
                all.first_error
                    .get_or_insert_with(|| format!("worker: {e}"));
            }
        }
    }
    all.elapsed = started.elapsed();
    all.ok = all.latencies.len();
    all.latencies.sort_unstable();
    all.capped = next.load(Ordering::Relaxed) < load.ops;
    all
}
