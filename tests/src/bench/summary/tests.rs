//! Tests of the combined report from sample figures: tables, ratios and
//! verdicts, notes for missing and failed benchmarks, and the PNG plots.
use std::path::Path;

use super::{
    plot, plots,
    rows::{RatioRow, Verdict},
    *,
};
use crate::bench::results::*;

fn store() -> StoreFigures {
    let case = |writers, backend: &str, writes_per_sec| StoreCase {
        writers,
        backend: backend.into(),
        writes: 1000,
        failed: 0,
        writes_per_sec,
        p50_ms: 2.0,
        p99_ms: 9.0,
    };
    StoreFigures {
        value_size: 1024,
        cases: vec![
            case(1, "embedded", 400.0),
            case(1, "etcd", 1000.0),
            case(64, "embedded", 15_000.0),
            case(64, "etcd", 5_000.0),
        ],
        api: vec![
            case(1, "embedded", 300.0),
            case(1, "etcd", 250.0),
            case(64, "embedded", 3_000.0),
            case(64, "etcd", 2_000.0),
        ],
    }
}

fn proxy() -> ProxyFigures {
    let prog = |mode, services, p50_ms, p99_ms| Programming {
        mode,
        services,
        changes: 100,
        full_sync_ms: 10.0,
        p50_ms,
        p99_ms,
    };
    let path = |mode, extra_services, keepalive_per_sec, new_conns_per_sec| DataPath {
        mode,
        extra_services,
        keepalive_per_sec,
        new_conns_per_sec,
    };
    ProxyFigures {
        programming: vec![
            prog(ProxyMode::Ebpf, 1_000, 0.01, 0.02),
            prog(ProxyMode::Iptables, 1_000, 28.0, 44.0),
            prog(ProxyMode::Ebpf, 10_000, 0.01, 6.0),
            prog(ProxyMode::Iptables, 10_000, 160.0, 1_200.0),
        ],
        data_path: vec![
            path(None, 0, 10_000.0, 2_000.0),
            path(Some(ProxyMode::Ebpf), 0, 9_900.0, 1_960.0),
            path(Some(ProxyMode::Iptables), 10_000, 9_700.0, 1_000.0),
        ],
    }
}

fn dns() -> DnsFigures {
    let server = |median_qps: f64| DnsServer {
        median_qps,
        rounds_qps: vec![median_qps * 0.9, median_qps, median_qps * 1.1],
        latency_p50_us: 80.0,
        latency_p99_us: 300.0,
    };
    DnsFigures {
        services: 10_000,
        orch: server(60_000.0),
        knot: server(100_000.0),
        create_p99_ms: 20.0,
        delete_p99_ms: 120.0,
    }
}

fn pods(capped: bool) -> PodsFigures {
    PodsFigures {
        created: 100,
        ready: if capped { 90 } else { 100 },
        capped,
        pod_p50_ms: 60.0,
        pod_p99_ms: 150.0,
        bare_samples: 100,
        bare_p50_ms: 15.0,
        bare_p99_ms: 30.0,
    }
}

fn ok(f: Figures) -> Found {
    Found::Result(BenchResult::ok(f))
}

fn row<'a>(rows: &'a [RatioRow], measure: &str) -> &'a RatioRow {
    rows.iter()
        .find(|r| r.measure == measure)
        .unwrap_or_else(|| panic!("no row {measure:?} in {rows:#?}"))
}

#[test]
fn ratios_and_verdicts_follow_the_figures() {
    let found = vec![
        (Bench::Store, ok(Figures::Store(store()))),
        (Bench::Pods, ok(Figures::Pods(pods(false)))),
        (Bench::Proxy, ok(Figures::Proxy(proxy()))),
        (Bench::Dns, ok(Figures::Dns(dns()))),
    ];
    let rows = ratios::rows(&found);

    let one = row(&rows, "durable writes/s, 1 writer");
    assert_eq!((one.orch.as_str(), one.baseline.as_str()), ("400", "1,000"));
    assert!((one.ratio - 0.4).abs() < 1e-9);
    assert_eq!(one.verdict, Verdict::NotMet);
    let many = row(&rows, "durable writes/s, 64 writers");
    assert!((many.ratio - 3.0).abs() < 1e-9);
    assert_eq!(many.verdict, Verdict::Met);
    let api = row(&rows, "orch server creates/s, 64 clients");
    assert!((api.ratio - 1.5).abs() < 1e-9);
    assert_eq!(api.verdict, Verdict::NoGoal);

    let small = row(&rows, "one change live, p99, 1,000 Services");
    assert_eq!(small.verdict, Verdict::Met);
    assert!((small.ratio - 0.02 / 44.0).abs() < 1e-9);
    // 6 ms is over the 5 ms goal.
    let big = row(&rows, "one change live, p99, 10,000 Services");
    assert_eq!(big.verdict, Verdict::NotMet);

    // 0.99 ≥ 0.98 and 0.98 ≥ 0.95; 0.97 < 0.98 and 0.5 < 0.95.
    let ka = row(&rows, "keep-alive req/s, VIP, eBPF");
    assert_eq!(ka.verdict, Verdict::Met);
    assert_eq!(
        row(&rows, "new connections/s, VIP, eBPF").verdict,
        Verdict::Met
    );
    assert_eq!(
        row(&rows, "keep-alive req/s, VIP, iptables, 10,000 Services").verdict,
        Verdict::NotMet
    );
    assert_eq!(
        row(&rows, "new connections/s, VIP, iptables, 10,000 Services").verdict,
        Verdict::NotMet
    );

    let q = row(&rows, "queries/s, median of 3 runs");
    assert!((q.ratio - 0.6).abs() < 1e-9);
    assert_eq!(q.verdict, Verdict::Met);

    let p99 = row(&rows, "p99 (100 of 100 pods Ready)");
    assert!((p99.ratio - 5.0).abs() < 1e-9);
    assert_eq!(p99.verdict, Verdict::Met);
    assert_eq!(row(&rows, "p50").verdict, Verdict::NoGoal);
}

#[test]
fn a_capped_pod_run_misses_its_goal_whatever_its_p99() {
    let found = vec![(Bench::Pods, ok(Figures::Pods(pods(true))))];
    let rows = ratios::rows(&found);
    assert_eq!(
        row(&rows, "p99 (90 of 100 pods Ready)").verdict,
        Verdict::NotMet
    );
}

#[test]
fn goals_without_a_baseline_get_verdicts() {
    let found = vec![
        (Bench::Proxy, ok(Figures::Proxy(proxy()))),
        (Bench::Dns, ok(Figures::Dns(dns()))),
    ];
    let rows = targets::rows(&found);
    let get = |m: &str| {
        rows.iter()
            .find(|r| r.measure == m)
            .unwrap_or_else(|| panic!("no row {m:?} in {rows:#?}"))
    };
    assert_eq!(
        get("iptables: one change live, p99, 1,000 Services").verdict,
        Verdict::Met
    );
    // 1.2 s is over the 1 s goal.
    assert_eq!(
        get("iptables: one change live, p99, 10,000 Services").verdict,
        Verdict::NotMet
    );
    assert_eq!(
        get("orch-dns queries/s, 10,000 Services").verdict,
        Verdict::NotMet
    );
    // The delete p99 (120 ms) is over 100 ms even though creates are not.
    let change = get("API change → answerable, p99 (create / delete)");
    assert_eq!(change.verdict, Verdict::NotMet);
    assert_eq!(change.figure, "20.00 ms / 120.00 ms");
}

/// Writes sample results into `dir`: store failed, api and scheduler not
/// run, pods, proxy and dns measured (with their Markdown).
fn sample_dir(dir: &Path) {
    BenchResult::failed(Bench::Store, &anyhow::anyhow!("etcd | did not start"))
        .save(dir)
        .unwrap();
    for (f, md) in [
        (
            Figures::Pods(pods(false)),
            "# orch benchmark: pod startup\n\n## Results\n\n| a |\n",
        ),
        (
            Figures::Proxy(proxy()),
            "# orch-proxy: network programming\n",
        ),
        (Figures::Dns(dns()), "# DNS: orch-dns vs Knot\n"),
    ] {
        let b = f.bench();
        BenchResult::ok(f).save(dir).unwrap();
        std::fs::write(dir.join(b.markdown_file()), md).unwrap();
    }
    // Left by an earlier run: must not be shown for the failed store run.
    std::fs::write(dir.join("store.md"), "# stale store report\n").unwrap();
    std::fs::write(dir.join("plot-store-writes.png"), b"old").unwrap();
}

#[test]
fn the_report_notes_missing_and_failed_benchmarks_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    sample_dir(dir.path());
    let found = load_all(dir.path());
    let plotted: Vec<(Plot, Drawn)> = PLOTS.iter().map(|p| (*p, Drawn::NoData)).collect();
    let md = render(dir.path(), &found, &plotted);

    assert!(
        md.starts_with("# orch benchmark report\n\nMachine: "),
        "{md}"
    );
    assert!(
        md.contains("| `store` | **failed**: etcd \\| did not start |"),
        "{md}"
    );
    assert!(md.contains("| `api` | not run | — |"), "{md}");
    assert!(
        md.contains(
            "| embedded store vs etcd | — | — | — | — | — | not measured: benchmark failed |"
        ),
        "{md}"
    );
    assert!(
        md.contains("| scheduler | — | — | — | not measured: benchmark not run |"),
        "{md}"
    );
    assert!(
        md.contains("## Store: embedded vs etcd\n\n**Failed**"),
        "{md}"
    );
    assert!(!md.contains("stale store report"), "{md}");
    assert!(
        md.contains("Not run in this run: there is no `api.json`"),
        "{md}"
    );
    // Sections embed each report one heading level down.
    assert!(md.contains("\n## orch benchmark: pod startup\n"), "{md}");
    assert!(md.contains("\n### Results\n"), "{md}");
    assert!(md.contains("| orch-dns vs Knot | queries/s, median of 3 runs | 60,000 | 100,000 | 0.60× | ≥ 0.5× | met |"), "{md}");
    assert!(md.contains("not drawn, `store` has no figures"), "{md}");
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Checks that `path` is a PNG of the chart size.
fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.len() > 1000,
        "{}: {} bytes",
        path.display(),
        bytes.len()
    );
    assert_eq!(&bytes[..8], PNG_SIGNATURE, "{}", path.display());
    assert_eq!(&bytes[12..16], b"IHDR");
    let dim = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!((dim(16), dim(20)), plot::SIZE);
}

#[test]
fn plots_are_written_as_png_from_sample_figures() {
    let dir = tempfile::tempdir().unwrap();
    let line = dir.path().join("line.png");
    plot::log_log(&line, &plots::programming(&proxy())).unwrap();
    assert_png(&line);
    let bars = dir.path().join("bars.png");
    plot::bars(&bars, &plots::dns(&dns())).unwrap();
    assert_png(&bars);
}

#[test]
fn a_chart_with_nothing_to_show_is_an_error_not_an_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut empty = plots::programming(&proxy());
    for s in &mut empty.series {
        s.points.retain(|_| false);
    }
    let path = dir.path().join("empty.png");
    assert!(plot::log_log(&path, &empty).is_err());
    assert!(!path.exists());
}

#[test]
fn write_draws_the_plots_it_has_figures_for() {
    let dir = tempfile::tempdir().unwrap();
    sample_dir(dir.path());
    let w = write(dir.path()).unwrap();
    assert_eq!(w.path, dir.path().join(FILE));
    assert_eq!(
        w.incomplete,
        vec![Bench::Store, Bench::Api, Bench::Scheduler]
    );
    assert!(w.plot_errors.is_empty(), "{:?}", w.plot_errors);
    let md = std::fs::read_to_string(&w.path).unwrap();
    for p in PLOTS {
        let shown = format!("![{}]({})", p.alt, p.file);
        if p.source() == Bench::Store {
            assert!(!md.contains(&shown), "{md}");
            assert!(!dir.path().join(p.file).exists(), "stale {} kept", p.file);
        } else {
            assert!(md.contains(&shown), "{md}");
            assert_png(&dir.path().join(p.file));
        }
    }
}
