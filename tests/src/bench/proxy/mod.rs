//! `cargo xtask bench proxy`: orch-proxy's two goals, measured in one run.
//! - Network programming latency of one change with 1k and 10k Services
//!   (by default) programmed (3 endpoints each), eBPF vs iptables.
//! - The data path, client netns → server netns through a node netns:
//!   keep-alive requests/s and new connections/s over the Service VIP vs
//!   straight to the server's IP, in both modes, and again with the
//!   largest of those Service counts programmed.
pub mod programming;
pub mod topology;
pub mod wrk;

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context, Result};
use orch_proxy::{
    dataplane::Dataplane,
    ebpf::{self, Ebpf, EbpfOptions},
    iptables::{self, Iptables},
    model::{Endpoint, Frontend, PortName, Protocol, ServicePort},
};

use crate::bench::{
    goals,
    report::{ms, rate, ratio, verdict, Report, Table},
    results::{millis, DataPath, Programming, ProxyFigures, ProxyMode},
};
use topology::{Topology, SERVER_IP};
use wrk::Load;

/// Knobs.
#[derive(Debug, Clone)]
pub struct ProxyParams {
    /// Service counts for the programming latency.
    pub sizes: Vec<u32>,
    /// Single changes measured per size in eBPF mode.
    pub ebpf_changes: u32,
    /// Single changes measured per size in iptables mode.
    pub iptables_changes: u32,
    /// Seconds per wrk run.
    pub wrk_secs: u64,
    /// Time cap per measured phase.
    pub cap: Duration,
}

impl Default for ProxyParams {
    fn default() -> Self {
        Self {
            sizes: vec![1_000, 10_000],
            ebpf_changes: 1_000,
            iptables_changes: 100,
            wrk_secs: 8,
            cap: Duration::from_secs(120),
        }
    }
}

/// The benchmark's Service: VIP 10.96.99.1:80 → the server.
fn bench_service() -> ServicePort {
    ServicePort {
        frontend: Frontend {
            ip: "10.96.99.1".parse().expect("literal"),
            port: 80,
            protocol: Protocol::Tcp,
        },
        name: PortName {
            namespace: "bench".into(),
            service: "web".into(),
            port: "http".into(),
        },
        endpoints: vec![Endpoint {
            ip: SERVER_IP.parse().expect("literal"),
            port: 8080,
        }],
    }
}

/// Removes the dataplane's state even if the benchmark fails midway.
struct Cleanup(Option<Box<dyn Dataplane>>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(dp) = self.0.take() {
            let _ = dp.cleanup();
        }
    }
}

fn start_ebpf(node: &str, t: &Topology) -> Result<Cleanup> {
    let mut dp = Ebpf::start(&EbpfOptions {
        node: node.to_string(),
        capacity: orch_proxy_common::DEFAULT_CAPACITY,
        cgroup: None,
        log_level: ebpf::LogLevel::Off,
    })
    .context("starting eBPF mode")?;
    dp.scope("client", &t.client.path())?;
    Ok(Cleanup(Some(Box::new(dp))))
}

fn start_iptables(t: &Topology) -> Result<Cleanup> {
    let dp = Iptables::new(Some(t.node_path())).context("starting iptables mode")?;
    Ok(Cleanup(Some(Box::new(dp))))
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(orch: &Path, t: &Topology) -> Result<Server> {
    let child = Command::new("ip")
        .args(["netns", "exec", t.server.name()])
        .arg(orch)
        .args([
            "tools",
            "echo-server",
            "--http",
            "8080",
            "--tcp",
            "0",
            "--udp",
            "0",
            "--name",
            "server",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the echo server")?;
    let s = Server(child);
    for _ in 0..100 {
        let ok = t.client.exec(&[
            "curl",
            "-s",
            "-m",
            "1",
            &format!("http://{SERVER_IP}:8080/"),
        ]);
        if ok.status.success() {
            return Ok(s);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!("the echo server did not answer")
}

/// Keep-alive and new-connection rates against `url`.
fn rates(t: &Topology, url: &str, secs: Duration) -> Result<(f64, f64)> {
    Ok((
        wrk::requests_per_sec(t.client.name(), url, Load::KeepAlive, secs)?,
        wrk::requests_per_sec(t.client.name(), url, Load::NewConnections, secs)?,
    ))
}

/// Runs the benchmark, writes `proxy.md` under `out` and returns the
/// figures.
pub fn run(p: &ProxyParams, orch: &Path, out: &Path) -> Result<ProxyFigures> {
    let node = format!("obench{}", std::process::id());
    let mut report = Report::new("orch-proxy: network programming and data path");
    let mut figures = ProxyFigures {
        programming: Vec::new(),
        data_path: Vec::new(),
    };
    let mut programmed = |mode, services, (p50, p99, full, changes)| {
        figures.programming.push(Programming {
            mode,
            services,
            changes,
            full_sync_ms: millis(full),
            p50_ms: millis(p50),
            p99_ms: millis(p99),
        });
        (p50, p99, full, changes)
    };

    // 1. Programming latency.
    let mut t1 = Table::new(&[
        "mode",
        "services",
        "full sync (ms)",
        "one change p50 (ms)",
        "one change p99 (ms)",
        "changes",
        "goal",
    ]);
    for &n in &p.sizes {
        let topo = Topology::new();
        let mut e = start_ebpf(&node, &topo)?;
        let dp = e.0.as_mut().expect("present");
        let (p50, p99, full, k) = programmed(
            ProxyMode::Ebpf,
            n,
            programming::measure(dp.as_mut(), n, p.ebpf_changes, p.cap)?,
        );
        println!(
            "ebpf {n}: p50 {} p99 {} full {}",
            ms(p50),
            ms(p99),
            ms(full)
        );
        t1.row(vec![
            "eBPF".into(),
            n.to_string(),
            ms(full),
            ms(p50),
            ms(p99),
            k.to_string(),
            format!("p99 < 5 ms: {}", verdict(p99 < goals::PROXY_EBPF_P99)),
        ]);
        drop(e);
        let mut i = start_iptables(&topo)?;
        let dp = i.0.as_mut().expect("present");
        let (p50, p99, full, k) = programmed(
            ProxyMode::Iptables,
            n,
            programming::measure(dp.as_mut(), n, p.iptables_changes, p.cap)?,
        );
        println!(
            "iptables {n}: p50 {} p99 {} full {}",
            ms(p50),
            ms(p99),
            ms(full)
        );
        t1.row(vec![
            "iptables".into(),
            n.to_string(),
            ms(full),
            ms(p50),
            ms(p99),
            k.to_string(),
            format!("p99 < 1 s: {}", verdict(p99 < goals::PROXY_IPTABLES_P99)),
        ]);
    }
    report.heading("Network programming latency (one Service's endpoints change)");
    report.para("Time for the data path to take one changed endpoint set, with N Services of 3 endpoints programmed. eBPF: map writes; iptables: one `iptables-restore --noflush` of the changed chains.");
    report.table(&t1);

    // 2. Data path.
    let secs = Duration::from_secs(p.wrk_secs);
    let topo = Topology::new();
    let _server = start_server(orch, &topo)?;
    let direct_url = format!("http://{SERVER_IP}:8080/");
    let vip_url = "http://10.96.99.1:80/".to_string();
    let (d_ka, d_new) = rates(&topo, &direct_url, secs)?;
    figures.data_path.push(DataPath {
        mode: None,
        extra_services: 0,
        keepalive_per_sec: d_ka,
        new_conns_per_sec: d_new,
    });
    let mut t2 = Table::new(&[
        "path",
        "keep-alive req/s",
        "× direct",
        "new conns/s",
        "× direct",
    ]);
    t2.row(vec![
        "direct to pod IP".into(),
        rate(d_ka),
        "1.00".into(),
        rate(d_new),
        "1.00".into(),
    ]);
    // The data path again with the largest table of the programming runs.
    let big_table = p.sizes.iter().copied().max().unwrap_or(10_000);
    let mut at_big = Vec::new();
    for (mode, big) in [
        (ProxyMode::Ebpf, false),
        (ProxyMode::Ebpf, true),
        (ProxyMode::Iptables, false),
        (ProxyMode::Iptables, true),
    ] {
        let mut g = match mode {
            ProxyMode::Ebpf => start_ebpf(&node, &topo)?,
            ProxyMode::Iptables => start_iptables(&topo)?,
        };
        let dp = g.0.as_mut().expect("present");
        let extra = if big { big_table } else { 0 };
        let mut table = programming::table(extra);
        table.push(bench_service());
        dp.resync(&table)?;
        let (ka, new) = rates(&topo, &vip_url, secs)?;
        let path = DataPath {
            mode: Some(mode),
            extra_services: extra,
            keepalive_per_sec: ka,
            new_conns_per_sec: new,
        };
        let label = path.label();
        figures.data_path.push(path);
        println!("{label}: {} / {}", rate(ka), rate(new));
        t2.row(vec![
            label,
            rate(ka),
            format!("{:.2}", ratio(ka, d_ka)),
            rate(new),
            format!("{:.2}", ratio(new, d_new)),
        ]);
        if big {
            at_big.push((ka, new));
        }
        drop(g);
    }
    report.heading("Data path: client netns → server netns (wrk, 1 thread, 16 connections)");
    report.para(&format!(
        "Goals: VIP keep-alive ≥ 0.98× direct, new connections ≥ 0.95× direct. Each run {} s.",
        p.wrk_secs
    ));
    report.table(&t2);
    if let [(eka, enew), (ika, inew)] = at_big[..] {
        report.para(&format!(
            "\nWith {} Services programmed, iptables vs eBPF: keep-alive {:.2}×, new connections {:.2}×.",
            rate(big_table.into()),
            ratio(ika, eka),
            ratio(inew, enew)
        ));
    }
    // Nothing may stay behind.
    ebpf::cleanup_node(&node)?;
    iptables::cleanup_netns(Some(&topo.node_path()))?;
    report.emit(out, "proxy.md")?;
    Ok(figures)
}
