//! `orch-bench`: the benchmarks behind `cargo xtask bench
//! store|api|scheduler|pods|proxy|dns|all|report`. Each benchmark prints its
//! report as Markdown and writes it to `--out` (`target/orch/bench/` by
//! default) with its figures as `<name>.json`, or its error there when it
//! fails. `all` runs every benchmark, goes on past a failed one, then
//! writes the combined `report.md` with plots; `report` only writes that
//! from the results already in `--out`.
use std::{panic::AssertUnwindSafe, path::PathBuf, time::Duration};

use anyhow::{anyhow, bail, Result};
use clap::{Parser, ValueEnum};
use futures::FutureExt;
use orch_tests::bench::{
    api::{self, ApiParams, Variant},
    dns::{self, DnsParams},
    pods::{self, PodsParams},
    proxy::{self as proxybench, ProxyParams},
    results::{self, Bench, BenchResult, Figures},
    scheduler::{self as sched, SchedulerParams},
    store::{self, StoreParams},
    summary,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum What {
    Store,
    Api,
    Scheduler,
    Pods,
    Proxy,
    Dns,
    All,
    /// No benchmark: the combined report from the results in `--out`.
    Report,
}

impl What {
    /// The benchmarks this choice runs.
    fn benches(self) -> Vec<Bench> {
        match self {
            Self::Store => vec![Bench::Store],
            Self::Api => vec![Bench::Api],
            Self::Scheduler => vec![Bench::Scheduler],
            Self::Pods => vec![Bench::Pods],
            Self::Proxy => vec![Bench::Proxy],
            Self::Dns => vec![Bench::Dns],
            Self::All => Bench::ALL.to_vec(),
            Self::Report => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ApiVariants {
    Alone,
    Defaults,
    Both,
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "orch-bench",
    about = "orch benchmarks and their combined report"
)]
struct Cli {
    /// Which benchmark to run.
    what: What,
    /// Directory for the Markdown reports.
    #[arg(long, default_value = "target/orch/bench")]
    out: PathBuf,
    /// The `orch` binary the API benchmark starts.
    #[arg(long, default_value = "target/release/orch")]
    orch: PathBuf,
    /// Store: bytes per value.
    #[arg(long, default_value_t = 1024)]
    value_size: usize,
    /// Store: writes at 1 writer.
    #[arg(long, default_value_t = 5_000)]
    writes_1: usize,
    /// Store: writes at 64 writers.
    #[arg(long, default_value_t = 50_000)]
    writes_64: usize,
    /// Store: ConfigMap creates through `orch server` on each store at 1
    /// client (with --store-api-creates-64 0: no API comparison).
    #[arg(long, default_value_t = 1_000)]
    store_api_creates_1: usize,
    /// Store: ConfigMap creates through `orch server` on each store at 64
    /// clients.
    #[arg(long, default_value_t = 10_000)]
    store_api_creates_64: usize,
    /// API: concurrent creating clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// API: Pods to create.
    #[arg(long, default_value_t = 10_000)]
    pods: usize,
    /// API: Services to create.
    #[arg(long, default_value_t = 1_000)]
    services: usize,
    /// API: watchers.
    #[arg(long, default_value_t = 100)]
    watchers: usize,
    /// API: objects created while watching.
    #[arg(long, default_value_t = 500)]
    watch_events: usize,
    /// API: creates per second while watching.
    #[arg(long, default_value_t = 50)]
    watch_rate: u32,
    /// API: which `orch server` to measure: the API server alone
    /// (`--no-controllers --no-scheduler`), the defaults, or both.
    #[arg(long, value_enum, default_value_t = ApiVariants::Both)]
    api_variants: ApiVariants,
    /// Scheduler: fake nodes for the algorithm and end-to-end phases.
    #[arg(long, default_value_t = 5_000)]
    sched_nodes: usize,
    /// Scheduler: pods for the algorithm and end-to-end phases.
    #[arg(long, default_value_t = 10_000)]
    sched_pods: usize,
    /// Scheduler: fake nodes for the Deployment phase.
    #[arg(long, default_value_t = 100)]
    deploy_nodes: usize,
    /// Scheduler: replicas of the Deployment phase.
    #[arg(long, default_value_t = 1_000)]
    replicas: usize,
    /// Scheduler: time cap of each end-to-end phase, in seconds.
    #[arg(long, default_value_t = 120)]
    sched_cap_secs: u64,
    /// Pods: pods to create on the node agent.
    #[arg(long, default_value_t = 100)]
    agent_pods: usize,
    /// Pods: milliseconds between two creates.
    #[arg(long, default_value_t = 100)]
    pod_interval_ms: u64,
    /// Proxy: seconds per wrk run.
    #[arg(long, default_value_t = 8)]
    wrk_secs: u64,
    /// Proxy: Service counts for the programming latency (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [1_000u32, 10_000])]
    proxy_sizes: Vec<u32>,
    /// Proxy: single changes timed per Service count in eBPF mode.
    #[arg(long, default_value_t = 1_000)]
    proxy_ebpf_changes: u32,
    /// Proxy: single changes timed per Service count in iptables mode.
    #[arg(long, default_value_t = 100)]
    proxy_iptables_changes: u32,
    /// The `orch-dns` binary the DNS benchmark starts.
    #[arg(long, default_value = "target/release/orch-dns")]
    orch_dns: PathBuf,
    /// DNS: Services (each with an EndpointSlice).
    #[arg(long, default_value_t = 10_000)]
    dns_services: usize,
    /// DNS: seconds of each dnsperf throughput run.
    #[arg(long, default_value_t = 5)]
    dns_seconds: u64,
    /// DNS: throughput runs per server (interleaved).
    #[arg(long, default_value_t = 4)]
    dns_rounds: usize,
    /// DNS: queries per second of the fixed-rate latency runs.
    #[arg(long, default_value_t = 20_000)]
    dns_latency_qps: u32,
    /// DNS: changes timed from the API to an answer.
    #[arg(long, default_value_t = 100)]
    dns_changes: usize,
    /// DNS: UDP sockets of orch-dns and UDP workers of Knot.
    #[arg(long, default_value_t = 2)]
    dns_udp_workers: usize,
    /// Time cap per measured phase, in seconds.
    #[arg(long, default_value_t = 30)]
    cap_secs: u64,
}

/// Runs one benchmark with the command line's parameters.
async fn run_one(cli: &Cli, bench: Bench) -> Result<Figures> {
    let cap = Duration::from_secs(cli.cap_secs.max(1));
    Ok(match bench {
        Bench::Store => {
            let p = StoreParams {
                value_size: cli.value_size,
                writes_1: cli.writes_1,
                writes_64: cli.writes_64,
                api_creates_1: cli.store_api_creates_1,
                api_creates_64: cli.store_api_creates_64,
                cap,
                ..StoreParams::default()
            };
            Figures::Store(store::run(&p, &cli.orch, &cli.out).await?)
        }
        Bench::Api => {
            let p = ApiParams {
                clients: cli.clients,
                pods: cli.pods,
                services: cli.services,
                watchers: cli.watchers,
                watch_events: cli.watch_events,
                watch_rate: cli.watch_rate,
                variants: match cli.api_variants {
                    ApiVariants::Alone => vec![Variant::api_only()],
                    ApiVariants::Defaults => vec![Variant::defaults()],
                    ApiVariants::Both => vec![Variant::api_only(), Variant::defaults()],
                },
                cap,
                ..ApiParams::default()
            };
            Figures::Api(api::run(&p, &cli.orch, &cli.out).await?)
        }
        Bench::Scheduler => {
            let p = SchedulerParams {
                nodes: cli.sched_nodes,
                pods: cli.sched_pods,
                clients: cli.clients,
                deploy_nodes: cli.deploy_nodes,
                replicas: cli.replicas,
                cap: Duration::from_secs(cli.sched_cap_secs.max(1)),
            };
            Figures::Scheduler(sched::run(&p, &cli.orch, &cli.out).await?)
        }
        Bench::Pods => {
            let p = PodsParams {
                pods: cli.agent_pods,
                interval: Duration::from_millis(cli.pod_interval_ms),
                ..PodsParams::default()
            };
            Figures::Pods(pods::run(&p, &cli.orch, &cli.out).await?)
        }
        Bench::Proxy => {
            if cli.proxy_sizes.contains(&0) {
                bail!("--proxy-sizes: every Service count must be at least 1");
            }
            let p = ProxyParams {
                sizes: cli.proxy_sizes.clone(),
                ebpf_changes: cli.proxy_ebpf_changes,
                iptables_changes: cli.proxy_iptables_changes,
                wrk_secs: cli.wrk_secs,
                ..ProxyParams::default()
            };
            let (orch, out) = (cli.orch.clone(), cli.out.clone());
            Figures::Proxy(
                tokio::task::spawn_blocking(move || proxybench::run(&p, &orch, &out)).await??,
            )
        }
        Bench::Dns => {
            let p = DnsParams {
                services: cli.dns_services,
                clients: cli.clients.min(64),
                seconds: cli.dns_seconds.max(1),
                rounds: cli.dns_rounds.max(1),
                latency_qps: cli.dns_latency_qps.max(1),
                changes: cli.dns_changes,
                udp_workers: cli.dns_udp_workers.max(1),
                ..DnsParams::default()
            };
            Figures::Dns(dns::run(&p, &cli.orch, &cli.orch_dns, &cli.out).await?)
        }
    })
}

/// Runs one benchmark and leaves its `<name>.json`: its figures, or its
/// error (a panic counts as one).
async fn record(cli: &Cli, bench: Bench) -> Result<()> {
    results::clear(&cli.out, bench)?;
    let outcome = AssertUnwindSafe(run_one(cli, bench))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("?");
            Err(anyhow!("panicked: {what}"))
        });
    let result = match &outcome {
        Ok(f) => BenchResult::ok(f.clone()),
        Err(e) => BenchResult::failed(bench, e),
    };
    let path = result.save(&cli.out)?;
    eprintln!("figures written to {}", path.display());
    outcome.map(|_| ())
}

/// Writes the combined report from what is in `--out`.
fn report(cli: &Cli) -> Result<()> {
    let w = summary::write(&cli.out)?;
    println!("combined report written to {}", w.path.display());
    if !w.incomplete.is_empty() {
        let names: Vec<&str> = w.incomplete.iter().map(|b| b.name()).collect();
        println!(
            "    without figures (noted in the report): {}",
            names.join(", ")
        );
    }
    for e in &w.plot_errors {
        println!("    plot not drawn: {e}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let mut failed = Vec::new();
    for bench in cli.what.benches() {
        if let Err(e) = record(&cli, bench).await {
            if cli.what != What::All {
                return Err(e);
            }
            eprintln!("bench {}: failed: {e:#}", bench.name());
            failed.push(bench.name());
        }
    }
    if matches!(cli.what, What::All | What::Report) {
        report(&cli)?;
    }
    if !failed.is_empty() {
        bail!(
            "{} benchmark(s) failed: {} (the report says so in their sections)",
            failed.len(),
            failed.join(", ")
        );
    }
    Ok(())
}
