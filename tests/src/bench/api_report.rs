//! The Markdown report of `bench api`: parameters, then per server variant
//! the create table (with the same-run baselines and ratios), the watch
//! latency table and the memory table; and the figures of its JSON file.
use std::{collections::BTreeMap, time::Duration};

use super::{
    api::{ApiParams, Measured, Phase, Rss, NS, SINGLE, WATCH_NS},
    api_watch::WatchOutcome,
    goals, prom,
    report::{ms, percentile, rate, ratio, verdict, Report, Table},
    results::{millis, ApiFigures, ApiVariant},
};

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// Builds the report.
pub fn report(p: &ApiParams, all: &[Measured], store: &Phase) -> Report {
    let pod_size = all.first().map_or(0, |m| m.pod_bytes.len());
    let mut r = Report::new("orch benchmark: API server");
    r.para(&format!(
        "\nParameters: the `orch server` release binary, `--listen` on 127.0.0.1, a \
         fresh data directory per variant; clients are kube-rs `Client`s built from \
         its `admin.kubeconfig` (HTTPS, bearer token), each with its own connection, \
         all in one benchmark process (tokio, {cores} worker threads) on the same \
         machine, so clients and server share the {cores} cores. Creates: {} \
         concurrent clients, closed loop, {} Pods (one container, {pod_size} B as \
         stored) then {} Services (ClusterIP allocated by the server) in namespace \
         `{NS}`; time cap {} s per phase. Then {SINGLE} ConfigMaps from one client \
         with nothing watching, then the watch phase. Baselines in the same run: \
         `GET /version` x{} through the same 64 clients, and, after the servers \
         stopped, `EmbeddedStore::create` in-process x{} at {} writers with values \
         of the stored pod's size.",
        p.clients,
        p.pods,
        p.services,
        p.cap.as_secs(),
        p.baseline_ops,
        p.baseline_ops,
        p.clients,
        cores = std::thread::available_parallelism().map_or(0, |n| n.get()),
    ));
    for m in all {
        variant(&mut r, p, m, store);
    }
    r
}

/// The figures of `api.json`.
pub fn figures(all: &[Measured], store: &Phase) -> ApiFigures {
    ApiFigures {
        store_creates_per_sec: store.outcome.rate(),
        variants: all
            .iter()
            .map(|m| ApiVariant {
                label: m.variant.label.clone(),
                pods: m.pods.outcome.ok,
                pod_creates_per_sec: m.pods.outcome.rate(),
                pod_p99_ms: millis(m.pods.outcome.p(99.0)),
                version_per_sec: m.version.outcome.rate(),
                watch_p99_ms: millis(percentile(&m.watch.from_return, 99.0)),
                watch_missing: m.watch.missing,
                rss_holding_mib: m.holding.rss.max(m.after_watch.rss) as f64 / 1024.0,
            })
            .collect(),
    }
}

fn variant(r: &mut Report, p: &ApiParams, m: &Measured, store: &Phase) {
    let args = if m.variant.args.is_empty() {
        String::new()
    } else {
        format!(" {}", m.variant.args.join(" "))
    };
    r.heading(&format!("{}: `orch server{args}`", m.variant.label));
    r.para("Create throughput and latency:");
    let mut t = Table::new(&[
        "operation",
        "ok",
        "per second",
        "p50 ms",
        "p99 ms",
        "server CPU µs/op",
        "client CPU µs/op",
        "notes",
    ]);
    for (name, ph) in [
        ("baseline: GET /version over HTTPS", &m.version),
        ("create Pod", &m.pods),
        ("create Service", &m.services),
        ("create ConfigMap, 1 client, nothing watching", &m.single),
        ("baseline: embedded store create, in-process", store),
    ] {
        let o = &ph.outcome;
        let per_op = |secs: f64| format!("{:.0}", secs * 1e6 / o.ok.max(1) as f64);
        let in_process = std::ptr::eq(ph, store);
        t.row(vec![
            name.into(),
            o.ok.to_string(),
            rate(o.rate()),
            ms(o.p(50.0)),
            ms(o.p(99.0)),
            if in_process {
                "(in-process)".into()
            } else {
                per_op(ph.cpu.other)
            },
            per_op(ph.cpu.own),
            o.note(),
        ]);
    }
    r.table(&t);
    let mut t = Table::new(&["ratio (same run)", "value"]);
    t.row(vec![
        "Pod creates/s ÷ in-process store creates/s".into(),
        format!("{:.2}", ratio(m.pods.outcome.rate(), store.outcome.rate())),
    ]);
    t.row(vec![
        "Pod creates/s ÷ GET /version/s".into(),
        format!(
            "{:.2}",
            ratio(m.pods.outcome.rate(), m.version.outcome.rate())
        ),
    ]);
    r.para("");
    r.table(&t);

    r.para(&format!(
        "\nWatch delivery latency: {}",
        watch_note(&m.watch, p)
    ));
    r.table(&watch_table(&m.watch));

    r.para(
        "\nServer memory: `VmRSS` (resident) and `VmHWM` (peak resident) from \
         `/proc/<pid>/status`, in MiB (150 MB = 143.1 MiB). The holding reading is \
         taken once the server settled (its store writes down to Lease renewals), \
         so that the controllers and the scheduler have acted on every object; \
         the server still holds every object after the watch phase, so the goal \
         applies there too.",
    );
    let mut t = Table::new(&["when", "VmRSS MiB", "VmHWM MiB", "goal < 150 MB"]);
    let goal = |x: Rss| verdict((x.rss as f64) * 1024.0 < goals::API_RSS_BYTES).to_string();
    t.row(vec![
        "idle, after start".into(),
        mib(m.idle.rss),
        mib(m.idle.hwm),
        String::new(),
    ]);
    t.row(vec![
        format!(
            "holding {} Pods + {} Services (settled {:.0} s after the creates)",
            m.pods.outcome.ok,
            m.services.outcome.ok,
            m.settled_after.as_secs_f64()
        ),
        mib(m.holding.rss),
        mib(m.holding.hwm),
        goal(m.holding),
    ]);
    t.row(vec![
        format!(
            "after the watch phase (+{} ConfigMaps)",
            m.single.outcome.ok + m.watch.created
        ),
        mib(m.after_watch.rss),
        mib(m.after_watch.hwm),
        goal(m.after_watch),
    ]);
    r.table(&t);
    work(r, m);
}

/// What the server did besides the benchmark's own requests: store
/// writes, and the requests it served by verb and resource.
fn work(r: &mut Report, m: &Measured) {
    let writes = |text: &str| prom::value(text, "orch_store_writes_total").unwrap_or(f64::NAN);
    let own = m.pods.outcome.ok + m.services.outcome.ok;
    r.para(&format!(
        "\nServer work: the store had committed {:.0} writes when the {own} Pods and \
         Services were in ({own} of them the benchmark's creates), {:.0} at the end. \
         Requests served over the whole run, by verb and resource (top 8, from the \
         server's `apiserver_request_duration_seconds_count`):",
        writes(&m.metrics_holding),
        writes(&m.metrics_end),
    ));
    let mut by: BTreeMap<(String, String), f64> = BTreeMap::new();
    for (labels, n) in prom::labelled(&m.metrics_end, "apiserver_request_duration_seconds_count") {
        let get = |k: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                .unwrap_or("")
                .trim_matches('"')
                .to_string()
        };
        *by.entry((get("verb"), get("resource"))).or_default() += n;
    }
    let mut top: Vec<_> = by.into_iter().collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut t = Table::new(&["verb", "resource", "requests"]);
    for ((verb, res), n) in top.into_iter().take(8) {
        t.row(vec![verb, res, format!("{n:.0}")]);
    }
    r.table(&t);
}

fn watch_note(w: &WatchOutcome, p: &ApiParams) -> String {
    format!(
        "{} kube-rs watches (one connection each) on ConfigMaps in namespace \
         `{WATCH_NS}`, all from one resourceVersion; one more client creates {} \
         ConfigMaps (64 B of data) one at a time at {}/s. Each watcher timestamps \
         each ADDED event when kube-rs has decoded it. Three measures:\n\n\
         - from return: from the create call returning to the delivery; an event \
         that beat the HTTP response counts as 0 ({} of {} deliveries did);\n\
         - from send: from the create call being sent (includes the durable write \
         and the create's own latency: p50 {} ms, p99 {} ms under this load);\n\
         - fan-out: from the first watcher receiving an event to each watcher \
         receiving it.",
        w.watchers,
        w.created,
        p.watch_rate,
        w.before_return,
        w.delivered,
        ms(percentile(&w.create_latency, 50.0)),
        ms(percentile(&w.create_latency, 99.0)),
    )
}

fn watch_table(w: &WatchOutcome) -> Table {
    let mut t = Table::new(&[
        "measure",
        "deliveries",
        "missing",
        "p50 ms",
        "p99 ms",
        "max ms",
        "goal p99 < 10 ms",
    ]);
    let goal = |p99: Duration| verdict(w.missing == 0 && p99 < goals::API_WATCH_P99);
    for (name, v) in [
        ("from return", &w.from_return),
        ("from send", &w.from_send),
        ("fan-out", &w.spread),
    ] {
        t.row(vec![
            name.into(),
            w.delivered.to_string(),
            w.missing.to_string(),
            ms(percentile(v, 50.0)),
            ms(percentile(v, 99.0)),
            ms(percentile(v, 100.0)),
            goal(percentile(v, 99.0)).into(),
        ]);
    }
    t
}
