//! The summary's second table: goals with no baseline, a figure against a
//! fixed bound (watch latency, memory, scheduling rates, iptables
//! programming, DNS throughput and change latency).
use super::rows::{bound, ms, GoalRow, Verdict};
use crate::bench::{
    goals,
    report::rate,
    results::{
        millis, ApiFigures, Bench, DnsFigures, Figures, Found, ProxyFigures, ProxyMode,
        SchedulerFigures,
    },
};

/// Every goal row, in report order.
pub fn rows(found: &[(Bench, Found)]) -> Vec<GoalRow> {
    let mut out = Vec::new();
    for (bench, f) in found {
        match (f.figures(), f.absence()) {
            (Some(Figures::Api(a)), _) => out.extend(api(a)),
            (Some(Figures::Scheduler(s)), _) => out.extend(scheduler(s)),
            (Some(Figures::Proxy(p)), _) => out.extend(proxy(p)),
            (Some(Figures::Dns(d)), _) => out.extend(dns(d)),
            (Some(_), _) => {}
            (None, why) if has_goals(*bench) => out.push(GoalRow {
                benchmark: bench.name().into(),
                measure: "—".into(),
                figure: "—".into(),
                goal: "—".into(),
                verdict: Verdict::NotMeasured(why.unwrap_or_else(|| "no figures".into())),
            }),
            (None, _) => {}
        }
    }
    out
}

/// Whether this table holds goals of `b`.
fn has_goals(b: Bench) -> bool {
    matches!(b, Bench::Api | Bench::Scheduler | Bench::Proxy | Bench::Dns)
}

fn row(bench: Bench, measure: String, figure: String, goal: String, v: Verdict) -> GoalRow {
    GoalRow {
        benchmark: bench.name().into(),
        measure,
        figure,
        goal,
        verdict: v,
    }
}

fn api(f: &ApiFigures) -> Vec<GoalRow> {
    let watch = millis(goals::API_WATCH_P99);
    let mut out = Vec::new();
    for v in &f.variants {
        let missing = if v.watch_missing > 0 {
            format!(" ({} missing)", v.watch_missing)
        } else {
            String::new()
        };
        out.push(row(
            Bench::Api,
            format!("watch delivery p99 ({})", v.label),
            format!("{}{missing}", ms(v.watch_p99_ms)),
            format!("< {}, none missing", bound(goals::API_WATCH_P99)),
            Verdict::of(v.watch_missing == 0 && v.watch_p99_ms < watch),
        ));
        out.push(row(
            Bench::Api,
            format!(
                "server RSS holding {} Pods ({})",
                rate(v.pods as f64),
                v.label
            ),
            format!("{:.1} MiB", v.rss_holding_mib),
            format!("< {:.0} MB", goals::API_RSS_BYTES / 1e6),
            Verdict::of(v.rss_holding_mib * 1024.0 * 1024.0 < goals::API_RSS_BYTES),
        ));
    }
    out
}

fn scheduler(f: &SchedulerFigures) -> Vec<GoalRow> {
    let deploy = match f.deploy_seconds {
        Some(s) => (
            format!(
                "{s:.2} s ({} of {} bound)",
                f.deploy_bound, f.deploy_replicas
            ),
            Verdict::of(f.deploy_bound == f.deploy_replicas),
        ),
        None => (
            "—".into(),
            Verdict::NotMeasured("no time to the last binding".into()),
        ),
    };
    vec![
        row(
            Bench::Scheduler,
            format!("algorithm alone, {} nodes, pods/s", rate(f.nodes as f64)),
            rate(f.algo_pods_per_sec),
            format!("≥ {}", rate(goals::SCHED_ALGO_RATE)),
            Verdict::of(f.algo_pods_per_sec >= goals::SCHED_ALGO_RATE),
        ),
        row(
            Bench::Scheduler,
            "end to end through the API, pods/s".into(),
            format!(
                "{} ({} of {} bound)",
                rate(f.e2e_pods_per_sec),
                f.e2e_bound,
                f.pods
            ),
            format!("≥ {}, every pod bound", rate(goals::SCHED_E2E_RATE)),
            Verdict::of(
                !f.e2e_capped
                    && f.e2e_bound == f.pods
                    && f.e2e_pods_per_sec >= goals::SCHED_E2E_RATE,
            ),
        ),
        row(
            Bench::Scheduler,
            format!(
                "Deployment of {} replicas, create → every pod bound",
                rate(f.deploy_replicas as f64)
            ),
            deploy.0,
            "every pod bound".into(),
            deploy.1,
        ),
    ]
}

fn proxy(f: &ProxyFigures) -> Vec<GoalRow> {
    let goal = millis(goals::PROXY_IPTABLES_P99);
    f.programming
        .iter()
        .filter(|p| p.mode == ProxyMode::Iptables)
        .map(|p| {
            row(
                Bench::Proxy,
                format!(
                    "iptables: one change live, p99, {} Services",
                    rate(p.services.into())
                ),
                ms(p.p99_ms),
                format!("< {}", bound(goals::PROXY_IPTABLES_P99)),
                Verdict::of(p.changes > 0 && p.p99_ms < goal),
            )
        })
        .collect()
}

fn dns(f: &DnsFigures) -> Vec<GoalRow> {
    let change = millis(goals::DNS_CHANGE_P99);
    vec![
        row(
            Bench::Dns,
            format!("orch-dns queries/s, {} Services", rate(f.services as f64)),
            rate(f.orch.median_qps),
            format!("≥ {}", rate(goals::DNS_QPS)),
            Verdict::of(f.orch.median_qps >= goals::DNS_QPS),
        ),
        row(
            Bench::Dns,
            "API change → answerable, p99 (create / delete)".into(),
            format!("{} / {}", ms(f.create_p99_ms), ms(f.delete_p99_ms)),
            format!("< {}", bound(goals::DNS_CHANGE_P99)),
            Verdict::of(f.create_p99_ms.max(f.delete_p99_ms) < change),
        ),
    ]
}
