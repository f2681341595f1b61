//! The DNS benchmark's Markdown report.
use std::time::Duration;

use super::{
    dns::Measured,
    dns_peers::PerfResult,
    goals::{DNS_CHANGE_P99 as GOAL_CHANGE, DNS_QPS as GOAL_QPS, DNS_RATIO as GOAL_RATIO},
    report::{ms, percentile, rate, ratio, verdict, Report, Table},
};

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
        "dnsperf `-c {} -T {} -q {}`, as fast as the server answers: {} runs of {} s per server, interleaved (orch-dns, Knot, Knot, orch-dns, ...). Queries/s is the median run; the other columns add all runs up. Server CPU is the server's CPU time over wall time; queries per CPU-second shows how much each server spends per query, whatever the load generator's own limit.",
        p.perf_clients,
        p.perf_threads,
        p.outstanding,
        p.rounds.max(1),
        p.seconds
    ));
    let mut t = Table::new(&[
        "server",
        "queries/s (median)",
        "runs (queries/s)",
        "mean latency",
        "lost",
        "server CPU (cores)",
        "queries per CPU-second",
        "response codes",
    ]);
    let per_cpu = |run: &super::dns::ServerRun| {
        let t = run.total();
        t.completed as f64 / t.server_cpu.max(1e-9)
    };
    for (name, run) in [("orch-dns", &m.orch), ("Knot", &m.knot)] {
        let tot = run.total();
        t.row(vec![
            name.into(),
            rate(run.median_qps()),
            run.rounds
                .iter()
                .map(|r| rate(r.qps))
                .collect::<Vec<_>>()
                .join(" / "),
            us(tot.avg),
            rate(tot.lost as f64),
            format!("{:.2}", tot.server_cpu / tot.wall.max(1e-9)),
            rate(per_cpu(run)),
            codes(&tot),
        ]);
    }
    r.table(&t);
    let q = m.orch.median_qps();
    let ratio_v = ratio(q, m.knot.median_qps());
    r.para(&format!(
        "\n- orch-dns / Knot: **{ratio_v:.2}×** (goal ≥ {GOAL_RATIO}×: {}); per CPU-second: {:.2}×.\n- orch-dns: **{} queries/s** (goal ≥ {}: {}).",
        verdict(ratio_v >= GOAL_RATIO),
        ratio(per_cpu(&m.orch), per_cpu(&m.knot)),
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
    let mut t = Table::new(&["change", "p50 (ms)", "p99 (ms)", "max (ms)"]);
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
