//! Query metrics cheap enough for the UDP fast path: plain atomic counters
//! in one cache-line-aligned shard per UDP worker (plus one shared by the
//! slow path and TCP), summed when `/metrics` is scraped. Exposes queries
//! by type and response code, a latency histogram, forwarded queries, and
//! the size of the compiled zone table.
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, NoLabelSet},
    metrics::MetricType,
    registry::Registry,
};

use crate::zone::Table;

/// Query types counted by name; everything else is `other`.
pub const QTYPES: [(u16, &str); 9] = [
    (1, "A"),
    (28, "AAAA"),
    (33, "SRV"),
    (12, "PTR"),
    (5, "CNAME"),
    (16, "TXT"),
    (6, "SOA"),
    (2, "NS"),
    (255, "ANY"),
];
const NT: usize = QTYPES.len() + 1;

/// Response codes counted by name; everything else is `other`.
pub const RCODES: [(u16, &str); 6] = [
    (0, "NOERROR"),
    (1, "FORMERR"),
    (2, "SERVFAIL"),
    (3, "NXDOMAIN"),
    (4, "NOTIMP"),
    (5, "REFUSED"),
];
const NR: usize = RCODES.len() + 1;

/// Upper bounds of the latency buckets, in seconds.
pub const BUCKETS: [f64; 14] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.5, 2.0,
];
const NB: usize = BUCKETS.len() + 1;

fn type_index(qtype: u16) -> usize {
    QTYPES
        .iter()
        .position(|(t, _)| *t == qtype)
        .unwrap_or(NT - 1)
}

fn rcode_index(rcode: u16) -> usize {
    RCODES
        .iter()
        .position(|(c, _)| *c == rcode)
        .unwrap_or(NR - 1)
}

/// The counters of one worker, on their own cache lines.
#[repr(align(128))]
#[derive(Debug)]
struct Shard {
    queries: [[AtomicU64; NR]; NT],
    buckets: [AtomicU64; NB],
    sum_nanos: AtomicU64,
}

impl Shard {
    fn new() -> Self {
        Self {
            queries: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

/// All query counters.
#[derive(Debug)]
pub struct Stats {
    shards: Box<[Shard]>,
    forwarded: AtomicU64,
    forward_errors: AtomicU64,
    dropped: AtomicU64,
}

impl Stats {
    /// Counters for `workers` UDP workers (shard `workers` is shared by
    /// everything else).
    pub fn new(workers: usize) -> Self {
        Self {
            shards: (0..=workers).map(|_| Shard::new()).collect(),
            forwarded: AtomicU64::new(0),
            forward_errors: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// The shard of the slow path and TCP.
    pub fn shared_shard(&self) -> usize {
        self.shards.len() - 1
    }

    /// Counts one answered query.
    pub fn record(&self, shard: usize, qtype: u16, rcode: u16, took: Duration) {
        let s = &self.shards[shard.min(self.shards.len() - 1)];
        s.queries[type_index(qtype)][rcode_index(rcode)].fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        let b = BUCKETS.iter().position(|u| secs <= *u).unwrap_or(NB - 1);
        s.buckets[b].fetch_add(1, Ordering::Relaxed);
        s.sum_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Counts one query sent upstream.
    pub fn forwarded(&self, ok: bool) {
        self.forwarded.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.forward_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one packet dropped without an answer (too short, a
    /// response, or no capacity left).
    pub fn dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Queries answered with `qtype` and `rcode` names (as in the labels).
    pub fn queries(&self, qtype: &str, rcode: &str) -> u64 {
        let t = QTYPES
            .iter()
            .position(|(_, n)| *n == qtype)
            .unwrap_or(NT - 1);
        let r = RCODES
            .iter()
            .position(|(_, n)| *n == rcode)
            .unwrap_or(NR - 1);
        self.shards
            .iter()
            .map(|s| s.queries[t][r].load(Ordering::Relaxed))
            .sum()
    }

    /// Queries forwarded so far.
    pub fn forwarded_total(&self) -> u64 {
        self.forwarded.load(Ordering::Relaxed)
    }

    /// Packets dropped so far.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Renders [`Stats`] and the table size for Prometheus.
#[derive(Debug)]
struct StatsCollector {
    stats: Arc<Stats>,
    table: Arc<Table>,
}

fn counter(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    v: u64,
) -> Result<(), std::fmt::Error> {
    enc.encode_descriptor(name, help, None, MetricType::Counter)?
        .encode_counter::<NoLabelSet, _, u64>(&v, None)
}

fn gauge(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    v: i64,
) -> Result<(), std::fmt::Error> {
    enc.encode_descriptor(name, help, None, MetricType::Gauge)?
        .encode_gauge(&v)
}

impl Collector for StatsCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.stats;
        {
            let mut m = enc.encode_descriptor(
                "orch_dns_queries",
                "DNS queries answered, by query type and response code",
                None,
                MetricType::Counter,
            )?;
            for (ti, t) in QTYPES.iter().map(|(_, n)| *n).chain(["other"]).enumerate() {
                for (ri, r) in RCODES.iter().map(|(_, n)| *n).chain(["other"]).enumerate() {
                    let v: u64 = s
                        .shards
                        .iter()
                        .map(|sh| sh.queries[ti][ri].load(Ordering::Relaxed))
                        .sum();
                    if v == 0 {
                        continue;
                    }
                    let labels = [("type", t), ("rcode", r)];
                    m.encode_family(&labels)?
                        .encode_counter::<NoLabelSet, _, u64>(&v, None)?;
                }
            }
        }
        {
            // Per-bucket counts: the encoder accumulates them.
            let mut count = 0u64;
            let mut buckets = Vec::with_capacity(NB);
            for (i, upper) in BUCKETS.iter().copied().chain([f64::INFINITY]).enumerate() {
                let n = s
                    .shards
                    .iter()
                    .map(|sh| sh.buckets[i].load(Ordering::Relaxed))
                    .sum::<u64>();
                count += n;
                buckets.push((upper, n));
            }
            let sum: u64 = s
                .shards
                .iter()
                .map(|sh| sh.sum_nanos.load(Ordering::Relaxed))
                .sum();
            enc.encode_descriptor(
                "orch_dns_query_duration_seconds",
                "Time from receiving a query to having its answer ready to send",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<NoLabelSet>(
                sum as f64 / 1e9,
                count,
                &buckets,
                None,
            )?;
        }
        counter(
            &mut enc,
            "orch_dns_forwarded_queries",
            "Queries for names outside the cluster zones sent to an upstream",
            s.forwarded.load(Ordering::Relaxed),
        )?;
        counter(
            &mut enc,
            "orch_dns_forward_errors",
            "Forwarded queries that failed (timeout, upstream error)",
            s.forward_errors.load(Ordering::Relaxed),
        )?;
        counter(
            &mut enc,
            "orch_dns_dropped_packets",
            "Packets dropped without an answer (shorter than a header, responses, overload)",
            s.dropped.load(Ordering::Relaxed),
        )?;
        gauge(
            &mut enc,
            "orch_dns_cache_names",
            "Names held in the compiled cluster zones",
            self.table.len() as i64,
        )?;
        gauge(
            &mut enc,
            "orch_dns_cache_answers",
            "Compiled answers (one per name and record type)",
            self.table.templates() as i64,
        )?;
        gauge(
            &mut enc,
            "orch_dns_cache_answer_bytes",
            "Bytes of compiled answers",
            self.table.template_bytes() as i64,
        )?;
        Ok(())
    }
}

/// A registry rendering `stats` and the size of `table`.
pub fn registry(stats: Arc<Stats>, table: Arc<Table>) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(StatsCollector { stats, table }));
    r
}

/// The registry in Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_histogram() {
        let stats = Arc::new(Stats::new(2));
        stats.record(0, 1, 0, Duration::from_micros(30));
        stats.record(1, 1, 0, Duration::from_micros(30));
        stats.record(2, 33, 3, Duration::from_millis(3));
        stats.record(2, 99, 9, Duration::from_secs(5));
        stats.forwarded(false);
        assert_eq!(stats.queries("A", "NOERROR"), 2);
        assert_eq!(stats.queries("other", "other"), 1);
        let text = render(&registry(stats, Arc::new(Table::new())));
        assert!(
            text.contains("orch_dns_queries_total{type=\"A\",rcode=\"NOERROR\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("orch_dns_queries_total{type=\"SRV\",rcode=\"NXDOMAIN\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("orch_dns_query_duration_seconds_count 4"),
            "{text}"
        );
        assert!(
            text.contains("orch_dns_query_duration_seconds_bucket{le=\"0.00005\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("orch_dns_query_duration_seconds_bucket{le=\"0.0025\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("orch_dns_query_duration_seconds_bucket{le=\"0.005\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("orch_dns_query_duration_seconds_bucket{le=\"+Inf\"} 4"),
            "{text}"
        );
        assert!(text.contains("orch_dns_forward_errors_total 1"), "{text}");
        assert!(text.contains("orch_dns_cache_names 0"), "{text}");
    }
}
