//! The report's plots: which figures go into which chart, and the PNG file
//! each chart is written to (next to `report.md`).
use std::path::{Path, PathBuf};

use super::plot::{self, Bar, BarChart, LogLogChart, Panel, Series, Tone};
use crate::bench::{
    report::rate,
    results::{
        Bench, DnsFigures, Figures, Found, PodsFigures, ProxyFigures, ProxyMode, StoreFigures,
    },
};

/// Which chart a plot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chart {
    /// [`programming`].
    ProxyProgramming,
    /// [`data_path`].
    ProxyDataPath,
    /// [`dns`].
    DnsQps,
    /// [`store`].
    StoreWrites,
    /// [`pods`].
    PodStartup,
}

/// One plot of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plot {
    /// File name under the report's directory.
    pub file: &'static str,
    /// What it shows (the image's alt text).
    pub alt: &'static str,
    /// The chart.
    pub chart: Chart,
}

impl Plot {
    /// The benchmark whose figures it shows.
    pub fn source(&self) -> Bench {
        match self.chart {
            Chart::ProxyProgramming | Chart::ProxyDataPath => Bench::Proxy,
            Chart::DnsQps => Bench::Dns,
            Chart::StoreWrites => Bench::Store,
            Chart::PodStartup => Bench::Pods,
        }
    }
}

/// Every plot, in report order.
pub const PLOTS: [Plot; 5] = [
    Plot {
        file: "plot-proxy-programming.png",
        alt: "Network programming latency of one change against Services programmed, eBPF vs iptables (log scales)",
        chart: Chart::ProxyProgramming,
    },
    Plot {
        file: "plot-proxy-datapath.png",
        alt: "Data path request rates, Service VIP (eBPF, iptables) vs direct pod IP",
        chart: Chart::ProxyDataPath,
    },
    Plot {
        file: "plot-dns-qps.png",
        alt: "DNS queries per second, orch-dns vs Knot",
        chart: Chart::DnsQps,
    },
    Plot {
        file: "plot-store-writes.png",
        alt: "Durable writes per second, embedded store vs etcd",
        chart: Chart::StoreWrites,
    },
    Plot {
        file: "plot-pod-startup.png",
        alt: "Pod startup vs bare netns + veth + exec",
        chart: Chart::PodStartup,
    },
];

/// What became of one plot.
#[derive(Debug, Clone, PartialEq)]
pub enum Drawn {
    /// Written to this file.
    Written(PathBuf),
    /// Its benchmark has no figures in this run.
    NoData,
    /// Drawing failed (for example: no font).
    Failed(String),
}

/// Network programming latency against Services programmed: p99 solid,
/// p50 dashed, one colour per mode.
pub fn programming(f: &ProxyFigures) -> LogLogChart {
    let mut series = Vec::new();
    for (mode, tone) in [
        (ProxyMode::Ebpf, Tone::Orch),
        (ProxyMode::Iptables, Tone::Baseline),
    ] {
        let mut rows: Vec<_> = f.programming.iter().filter(|p| p.mode == mode).collect();
        rows.sort_by_key(|p| p.services);
        for (q, dashed) in [("p99", false), ("p50", true)] {
            series.push(Series {
                name: format!("{} {q}", mode.label()),
                tone,
                dashed,
                points: rows
                    .iter()
                    .map(|p| {
                        let y = if dashed { p.p50_ms } else { p.p99_ms };
                        (f64::from(p.services), y)
                    })
                    .collect(),
            });
        }
    }
    LogLogChart {
        title: "Network programming latency of one change".into(),
        x_desc: "Services programmed (3 endpoints each)".into(),
        y_desc: "ms until the change is live".into(),
        series,
    }
}

/// Data-path rates per path, keep-alive and new connections side by side.
pub fn data_path(f: &ProxyFigures) -> BarChart {
    let short = |d: &crate::bench::results::DataPath| match d.mode {
        None => "direct".to_string(),
        Some(m) if d.extra_services >= 1000 => {
            format!("{} +{}k", m.label(), d.extra_services / 1000)
        }
        Some(m) if d.extra_services > 0 => format!("{} +{}", m.label(), d.extra_services),
        Some(m) => m.label().to_string(),
    };
    let tone = |m: Option<ProxyMode>| match m {
        None => Tone::Reference,
        Some(ProxyMode::Ebpf) => Tone::Orch,
        Some(ProxyMode::Iptables) => Tone::Baseline,
    };
    let panel = |title: &str, value: fn(&crate::bench::results::DataPath) -> f64| Panel {
        title: title.into(),
        bars: f
            .data_path
            .iter()
            .map(|d| Bar {
                label: short(d),
                tone: tone(d.mode),
                value: value(d),
                runs: Vec::new(),
            })
            .collect(),
    };
    BarChart {
        title: "Data path: client netns → server netns (wrk)".into(),
        y_desc: "requests/s (+N: Services programmed)".into(),
        panels: vec![
            panel("keep-alive requests/s", |d| d.keepalive_per_sec),
            panel("new connections/s", |d| d.new_conns_per_sec),
        ],
    }
}

/// DNS throughput: median of the runs as bars, every run as a dot.
pub fn dns(f: &DnsFigures) -> BarChart {
    let bar = |label: &str, tone, s: &crate::bench::results::DnsServer| Bar {
        label: label.into(),
        tone,
        value: s.median_qps,
        runs: s.rounds_qps.clone(),
    };
    BarChart {
        title: "DNS throughput, orch-dns vs Knot (dnsperf)".into(),
        y_desc: "queries/s (bar: median run; dots: runs)".into(),
        panels: vec![Panel {
            title: format!("{} Services", rate(f.services as f64)),
            bars: vec![
                bar("orch-dns", Tone::Orch, &f.orch),
                bar("Knot", Tone::Baseline, &f.knot),
            ],
        }],
    }
}

/// Store throughput: one panel per concurrency.
pub fn store(f: &StoreFigures) -> BarChart {
    let mut writers: Vec<usize> = f.cases.iter().map(|c| c.writers).collect();
    writers.sort_unstable();
    writers.dedup();
    let panels = writers
        .into_iter()
        .map(|w| Panel {
            title: format!("{w} writer{}", if w == 1 { "" } else { "s" }),
            bars: f
                .cases
                .iter()
                .filter(|c| c.writers == w)
                .map(|c| Bar {
                    label: c.backend.clone(),
                    tone: if c.backend == "etcd" {
                        Tone::Baseline
                    } else {
                        Tone::Orch
                    },
                    value: c.writes_per_sec,
                    runs: Vec::new(),
                })
                .collect(),
        })
        .collect();
    BarChart {
        title: format!(
            "Durable writes, embedded store vs etcd ({} B values)",
            f.value_size
        ),
        y_desc: "writes/s".into(),
        panels,
    }
}

/// Pod startup next to the bare kernel cost, at p50 and p99.
pub fn pods(f: &PodsFigures) -> BarChart {
    let panel = |q: &str, pod: f64, bare: f64| Panel {
        title: q.into(),
        bars: vec![
            Bar {
                label: "pod create → Ready".into(),
                tone: Tone::Orch,
                value: pod,
                runs: Vec::new(),
            },
            Bar {
                label: "bare netns + veth + exec".into(),
                tone: Tone::Baseline,
                value: bare,
                runs: Vec::new(),
            },
        ],
    };
    BarChart {
        title: "Pod startup vs the bare kernel cost".into(),
        y_desc: "ms".into(),
        panels: vec![
            panel("p50", f.pod_p50_ms, f.bare_p50_ms),
            panel("p99", f.pod_p99_ms, f.bare_p99_ms),
        ],
    }
}

/// Draws `p` from `figures` into `dir`.
pub fn draw(dir: &Path, p: &Plot, figures: Option<&Figures>) -> Drawn {
    let path = dir.join(p.file);
    let done = match (p.chart, figures) {
        (Chart::ProxyProgramming, Some(Figures::Proxy(f))) => plot::log_log(&path, &programming(f)),
        (Chart::ProxyDataPath, Some(Figures::Proxy(f))) => plot::bars(&path, &data_path(f)),
        (Chart::DnsQps, Some(Figures::Dns(f))) => plot::bars(&path, &dns(f)),
        (Chart::StoreWrites, Some(Figures::Store(f))) => plot::bars(&path, &store(f)),
        (Chart::PodStartup, Some(Figures::Pods(f))) => plot::bars(&path, &pods(f)),
        _ => return Drawn::NoData,
    };
    match done {
        Ok(()) => Drawn::Written(path),
        Err(e) => Drawn::Failed(e),
    }
}

/// Draws every plot whose benchmark has figures; removes the file of one
/// that could not be drawn, so no plot of an earlier run is shown.
pub fn draw_all(dir: &Path, found: &[(Bench, Found)]) -> Vec<(Plot, Drawn)> {
    PLOTS
        .iter()
        .map(|p| {
            let figures = found
                .iter()
                .find(|(b, _)| *b == p.source())
                .and_then(|(_, f)| f.figures());
            let drawn = draw(dir, p, figures);
            if !matches!(drawn, Drawn::Written(_)) {
                let _ = std::fs::remove_file(dir.join(p.file));
            }
            (*p, drawn)
        })
        .collect()
}
