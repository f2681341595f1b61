//! The DNS benchmark's Markdown report.
use std::time::Duration;

use super::{
    dns::Measured,
    dns_peers::PerfResult,
    report::{ms, percentile, rate, ratio, verdict, Report, Table},
};

/// Goal: orch-dns answers at least this many queries per second.
pub const GOAL_QPS: f64 = 70_000.0;
/// Goal: orch-dns reaches at least this fraction of Knot's throughput.
pub const GOAL_RATIO: f64 = 0.5;
/// Goal: a change is answerable within this long (p99).
pub const GOAL_CHANGE: Duration = Duration::from_millis(100);

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn codes(r: &PerfResult) -> String {
    r.rcodes
        .iter()
        .map(|(k, v)| format!("{k} {}", rate(*v as f64)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Builds the report.
pub fn report(m: &Measured) -> Report {
    let p = &m.params;
    let mut r = Report::new("DNS: orch-dns vs Knot DNS");
    r.heading("Setup");
    r.para(&format!(
        "- A real `orch server` (release) holds {} Services in namespace `bench`, each a ClusterIP with a named port and an EndpointSlice of two ready endpoints, created through the API by {} clients: Services at {}/s, slices at {}/s{}.\n\
         - orch-dns: release binary, stand-alone with the admin kubeconfig, {} UDP sockets (`SO_REUSEPORT`, one thread each), forwarding off. It was ready (both complete lists applied) {:.2} s after it started.\n\
         - {}: {} UDP workers, serving a zone file generated from the same Services ({} records: A, SRV and endpoint names, TTL 5).\n\
         - {} sampled answers (A, SRV, NXDOMAIN, endpoint names) were identical on both servers before measuring.\n\
         - dnsperf 2.10, same query file for both: {} queries, one per Service, shuffled: {} A for Service names, {} SRV (`_http._tcp.<svc>`), {} A for missing names (NXDOMAIN). dnsperf and the server share the machine's cores.",
        rate(m.services as f64),
        p.clients,
        rate(m.create_services.rate()),
        rate(m.create_slices.rate()),
        {
            let n = [m.create_services.note(), m.create_slices.note()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            if n.is_empty() { String::new() } else { format!(" ({n})") }
        },
        p.udp_workers,
        m.time_to_ready.as_secs_f64(),
        if m.knot_version.is_empty() { "Knot DNS".to_string() } else { m.knot_version.clone() },
        p.udp_workers,
        rate(m.zone_records as f64),
        m.compared,
        rate((m.mix.a + m.mix.srv + m.mix.nxdomain) as f64),
        rate(m.mix.a as f64),
        rate(m.mix.srv as f64),
        rate(m.mix.nxdomain as f64),
    ));

    r.heading("Throughput");
    r.para(&format!(
        "dnsperf `-c {} -T {} -q {}`, {} s per server, as fast as the server answers.",
        p.perf_clients, p.perf_threads, p.outstanding, p.seconds
    ));
    let mut t = Table::new(&[
        "server",
        "queries/s",
        "mean latency",
        "lost",
        "server CPU (cores)",
        "response codes",
    ]);
    for (name, run) in [("orch-dns", &m.orch), ("Knot", &m.knot)] {
        let tp = &run.throughput;
        t.row(vec![
            name.into(),
            rate(tp.qps),
            us(tp.avg),
            rate(tp.lost as f64),
            format!("{:.2}", tp.server_cpu / tp.wall.max(1e-9)),
            codes(tp),
        ]);
    }
    r.table(&t);
    let q = m.orch.throughput.qps;
    let ratio_v = ratio(q, m.knot.throughput.qps);
    r.para(&format!(
        "\n- orch-dns / Knot: **{ratio_v:.2}×** (goal ≥ {GOAL_RATIO}×: {}).\n- orch-dns: **{} queries/s** (goal ≥ {}: {}).",
        verdict(ratio_v >= GOAL_RATIO),
        rate(q),
        rate(GOAL_QPS),
        verdict(q >= GOAL_QPS),
    ));

    r.heading("Latency at a fixed rate");
    r.para(&format!(
        "dnsperf `-Q {} -v`, {} s per server: every query's latency, as dnsperf saw it.",
        p.latency_qps, p.latency_seconds
    ));
    let mut t = Table::new(&["server", "answered", "p50", "p99", "p99.9", "max", "lost"]);
    for (name, run) in [("orch-dns", &m.orch), ("Knot", &m.knot)] {
        let l = &run.latency.latencies;
        t.row(vec![
            name.into(),
            rate(l.len() as f64),
            us(percentile(l, 50.0)),
            us(percentile(l, 99.0)),
            us(percentile(l, 99.9)),
            us(l.last().copied().unwrap_or_default()),
            rate(run.latency.lost as f64),
        ]);
    }
    r.table(&t);

    r.heading("Memory");
    let mut t = Table::new(&["process", "VmRSS", "VmHWM (peak)"]);
    t.row(vec![
        format!(
            "orch-dns with {} Services, just ready",
            rate(m.services as f64)
        ),
        mib(m.dns_rss_ready.0),
        mib(m.dns_rss_ready.1),
    ]);
    t.row(vec![
        "orch-dns at the end".into(),
        mib(m.dns_rss_end.0),
        mib(m.dns_rss_end.1),
    ]);
    t.row(vec![
        "knotd with the zone".into(),
        mib(m.knot_rss.0),
        mib(m.knot_rss.1),
    ]);
    r.table(&t);
    r.para(&format!(
        "\norch-dns's table: {} names, {} compiled answers, {} of answers.",
        rate(m.table.0),
        rate(m.table.1),
        mib((m.table.2 / 1024.0) as u64)
    ));

    r.heading("A change in the API → answerable");
    r.para(&format!(
        "{} Services created one at a time through the API, each polled with UDP queries every 0.2 ms until orch-dns answered its ClusterIP; then each deleted and polled until NXDOMAIN.",
        m.changes.create_total.len()
    ));
    let mut t = Table::new(&["change", "p50", "p99", "max"]);
    for (what, v) in [
        ("create: API call → answerable", &m.changes.create_total),
        (
            "create: API reply → answerable",
            &m.changes.create_after_reply,
        ),
        ("delete: API call → NXDOMAIN", &m.changes.delete_total),
    ] {
        t.row(vec![
            what.into(),
            ms(percentile(v, 50.0)),
            ms(percentile(v, 99.0)),
            ms(v.last().copied().unwrap_or_default()),
        ]);
    }
    r.table(&t);
    let worst =
        percentile(&m.changes.create_total, 99.0).max(percentile(&m.changes.delete_total, 99.0));
    r.para(&format!(
        "\nGoal: answerable in under {} ms (p99, API call included): {}.",
        GOAL_CHANGE.as_millis(),
        verdict(worst < GOAL_CHANGE)
    ));
    r
}
