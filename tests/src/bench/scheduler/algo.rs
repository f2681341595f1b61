//! Phase (1): the scheduling algorithm alone, in-process, one pod after
//! another on one thread: compile the pod, filter, score, assume.
use std::time::{Duration, Instant};

use orch_core::scheduler::{Algorithm, Cache, PodInfo};

use super::fixtures;
use crate::bench::report::percentile;

/// What phase (1) measured.
#[derive(Debug, Clone)]
pub struct AlgoOutcome {
    /// Share of nodes scored (0 = adaptive).
    pub percentage: u32,
    /// Pods placed.
    pub scheduled: usize,
    /// Pods that fit nowhere.
    pub unschedulable: usize,
    /// Wall time for all pods.
    pub elapsed: Duration,
    /// Per-pod time, sorted.
    pub latencies: Vec<Duration>,
    /// Average feasible nodes scored per pod.
    pub avg_scored: f64,
    /// Average nodes filtered per pod.
    pub avg_evaluated: f64,
}

impl AlgoOutcome {
    /// Pods placed per second.
    pub fn rate(&self) -> f64 {
        self.scheduled as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Per-pod percentiles and the nodes examined.
    pub fn note(&self) -> String {
        format!(
            "per pod p50 {:.1} µs, p99 {:.1} µs; {:.0} nodes filtered and {:.0} scored per pod{}",
            percentile(&self.latencies, 50.0).as_secs_f64() * 1e6,
            percentile(&self.latencies, 99.0).as_secs_f64() * 1e6,
            self.avg_evaluated,
            self.avg_scored,
            if self.unschedulable > 0 {
                format!("; {} unschedulable", self.unschedulable)
            } else {
                String::new()
            },
        )
    }
}

/// Schedules `pods` pods onto `nodes` fake nodes.
pub fn run(nodes: usize, pods: usize, percentage: u32) -> AlgoOutcome {
    let mut cache = Cache::default();
    for i in 0..nodes {
        cache.upsert_node(&fixtures::node(i, true));
    }
    let objects: Vec<_> = (0..pods).map(|i| fixtures::pod(i, "bench")).collect();
    let mut alg = Algorithm::new(percentage);
    let mut out = AlgoOutcome {
        percentage,
        scheduled: 0,
        unschedulable: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::with_capacity(pods),
        avg_scored: 0.0,
        avg_evaluated: 0.0,
    };
    let (mut scored, mut evaluated) = (0usize, 0usize);
    let start = Instant::now();
    for pod in &objects {
        let t = Instant::now();
        let info = PodInfo::from_pod(pod);
        match alg.schedule(&cache, &info) {
            Ok(pl) => {
                cache.assume(&info, &pl.node);
                out.scheduled += 1;
                scored += pl.feasible;
                evaluated += pl.evaluated;
            }
            Err(_) => out.unschedulable += 1,
        }
        out.latencies.push(t.elapsed());
    }
    out.elapsed = start.elapsed();
    out.latencies.sort_unstable();
    out.avg_scored = scored as f64 / out.scheduled.max(1) as f64;
    out.avg_evaluated = evaluated as f64 / out.scheduled.max(1) as f64;
    out
}
