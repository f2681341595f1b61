//! The summary's first table: orch against each baseline measured in the
//! same run (embedded store vs etcd, eBPF vs iptables vs the direct pod IP,
//! orch-dns vs Knot, pod startup vs bare netns + veth + exec, the API
//! server vs the store under it), with the goal that applies to each
//! comparison.
use super::rows::{bound, ms, RatioRow, Verdict};
use crate::bench::{
    goals,
    report::{rate, ratio},
    results::{
        millis, ApiFigures, Bench, DnsFigures, Figures, Found, PodsFigures, ProxyFigures,
        ProxyMode, StoreCase, StoreFigures,
    },
};

/// The comparison a benchmark makes, as the table names it; `None` for a
/// benchmark measured against fixed goals only.
pub fn comparison(b: Bench) -> Option<&'static str> {
    match b {
        Bench::Store => Some("embedded store vs etcd"),
        Bench::Api => Some("API server vs in-process store"),
        Bench::Scheduler => None,
        Bench::Pods => Some("pod startup vs bare netns + veth + exec"),
        Bench::Proxy => Some("eBPF vs iptables vs direct pod IP"),
        Bench::Dns => Some("orch-dns vs Knot"),
    }
}

/// Every ratio row, in report order.
pub fn rows(found: &[(Bench, Found)]) -> Vec<RatioRow> {
    let mut out = Vec::new();
    for (bench, f) in found {
        let Some(name) = comparison(*bench) else {
            continue;
        };
        match (f.figures(), f.absence()) {
            (Some(Figures::Store(s)), _) => out.extend(store(s)),
            (Some(Figures::Api(a)), _) => out.extend(api(a)),
            (Some(Figures::Pods(p)), _) => out.extend(pods(p)),
            (Some(Figures::Proxy(p)), _) => out.extend(proxy(p)),
            (Some(Figures::Dns(d)), _) => out.extend(dns(d)),
            (_, why) => out.push(RatioRow::not_measured(
                name,
                &why.unwrap_or_else(|| "no figures".into()),
            )),
        }
    }
    out
}

fn store(f: &StoreFigures) -> Vec<RatioRow> {
    let mut rows = store_rows(&f.cases, |w| {
        format!("durable writes/s, {w} writer{}", plural(w))
    });
    for mut row in store_rows(&f.api, |c| {
        format!("orch server creates/s, {c} client{}", plural(c))
    }) {
        // The API comparison is reported, not held to the store's goal.
        row.goal = "—".into();
        row.verdict = Verdict::NoGoal;
        rows.push(row);
    }
    rows
}

/// One row per concurrency of `cases`: embedded's rate against etcd's.
fn store_rows(cases: &[StoreCase], measure: impl Fn(usize) -> String) -> Vec<RatioRow> {
    let mut writers: Vec<usize> = cases.iter().map(|c| c.writers).collect();
    writers.sort_unstable();
    writers.dedup();
    let rate_of = |w: usize, backend: &str| {
        cases
            .iter()
            .find(|c| c.writers == w && c.backend == backend)
            .map(|c| c.writes_per_sec)
    };
    writers
        .into_iter()
        .filter_map(|w| {
            let (e, etcd) = (rate_of(w, "embedded")?, rate_of(w, "etcd")?);
            let r = ratio(e, etcd);
            Some(RatioRow {
                comparison: "embedded store vs etcd".into(),
                measure: measure(w),
                orch: rate(e),
                baseline: rate(etcd),
                ratio: r,
                goal: format!("≥ {}×", goals::STORE_RATIO),
                verdict: Verdict::of(r >= goals::STORE_RATIO),
            })
        })
        .collect()
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn api(f: &ApiFigures) -> Vec<RatioRow> {
    f.variants
        .iter()
        .map(|v| RatioRow {
            comparison: "API server vs in-process store".into(),
            measure: format!("Pod creates/s over HTTPS ({})", v.label),
            orch: rate(v.pod_creates_per_sec),
            baseline: rate(f.store_creates_per_sec),
            ratio: ratio(v.pod_creates_per_sec, f.store_creates_per_sec),
            goal: "—".into(),
            verdict: Verdict::NoGoal,
        })
        .collect()
}

fn pods(f: &PodsFigures) -> Vec<RatioRow> {
    let goal = millis(goals::POD_STARTUP_P99);
    let all_ready = !f.capped && f.ready == f.created;
    vec![
        RatioRow {
            comparison: "pod startup vs bare netns + veth + exec".into(),
            measure: "p50".into(),
            orch: ms(f.pod_p50_ms),
            baseline: ms(f.bare_p50_ms),
            ratio: ratio(f.pod_p50_ms, f.bare_p50_ms),
            goal: "—".into(),
            verdict: Verdict::NoGoal,
        },
        RatioRow {
            comparison: "pod startup vs bare netns + veth + exec".into(),
            measure: format!("p99 ({} of {} pods Ready)", f.ready, f.created),
            orch: ms(f.pod_p99_ms),
            baseline: ms(f.bare_p99_ms),
            ratio: ratio(f.pod_p99_ms, f.bare_p99_ms),
            goal: format!(
                "pod p99 ≤ {}, every pod Ready",
                bound(goals::POD_STARTUP_P99)
            ),
            verdict: Verdict::of(all_ready && f.pod_p99_ms <= goal),
        },
    ]
}

fn proxy(f: &ProxyFigures) -> Vec<RatioRow> {
    let mut out = Vec::new();
    let goal = millis(goals::PROXY_EBPF_P99);
    for e in f.programming.iter().filter(|p| p.mode == ProxyMode::Ebpf) {
        let ipt = f
            .programming
            .iter()
            .find(|p| p.mode == ProxyMode::Iptables && p.services == e.services);
        out.push(RatioRow {
            comparison: "eBPF vs iptables".into(),
            measure: format!("one change live, p99, {} Services", rate(e.services.into())),
            orch: ms(e.p99_ms),
            baseline: ipt.map_or("—".into(), |i| ms(i.p99_ms)),
            ratio: ipt.map_or(f64::NAN, |i| ratio(e.p99_ms, i.p99_ms)),
            goal: format!("eBPF p99 < {}", bound(goals::PROXY_EBPF_P99)),
            verdict: Verdict::of(e.changes > 0 && e.p99_ms < goal),
        });
    }
    let Some(direct) = f.data_path.iter().find(|d| d.mode.is_none()) else {
        return out;
    };
    for d in f.data_path.iter().filter(|d| d.mode.is_some()) {
        for (what, vip, base, want) in [
            (
                "keep-alive req/s",
                d.keepalive_per_sec,
                direct.keepalive_per_sec,
                goals::PROXY_KEEPALIVE_RATIO,
            ),
            (
                "new connections/s",
                d.new_conns_per_sec,
                direct.new_conns_per_sec,
                goals::PROXY_NEW_CONN_RATIO,
            ),
        ] {
            let r = ratio(vip, base);
            out.push(RatioRow {
                comparison: "VIP vs direct pod IP".into(),
                measure: format!("{what}, {}", d.label()),
                orch: rate(vip),
                baseline: rate(base),
                ratio: r,
                goal: format!("≥ {want}×"),
                verdict: Verdict::of(r >= want),
            });
        }
    }
    out
}

fn dns(f: &DnsFigures) -> Vec<RatioRow> {
    let r = ratio(f.orch.median_qps, f.knot.median_qps);
    vec![
        RatioRow {
            comparison: "orch-dns vs Knot".into(),
            measure: format!(
                "queries/s, median of {} run{}",
                f.orch.rounds_qps.len(),
                plural(f.orch.rounds_qps.len())
            ),
            orch: rate(f.orch.median_qps),
            baseline: rate(f.knot.median_qps),
            ratio: r,
            goal: format!("≥ {}×", goals::DNS_RATIO),
            verdict: Verdict::of(r >= goals::DNS_RATIO),
        },
        RatioRow {
            comparison: "orch-dns vs Knot".into(),
            measure: "latency p99 at a fixed rate".into(),
            orch: format!("{:.0} µs", f.orch.latency_p99_us),
            baseline: format!("{:.0} µs", f.knot.latency_p99_us),
            ratio: ratio(f.orch.latency_p99_us, f.knot.latency_p99_us),
            goal: "—".into(),
            verdict: Verdict::NoGoal,
        },
    ]
}
