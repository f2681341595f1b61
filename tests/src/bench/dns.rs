//! `bench dns`: orch-dns against Knot DNS, side by side on this machine.
//! A real `orch server` holds N Services with EndpointSlices (created
//! through the API, concurrently); orch-dns (release binary, stand-alone
//! with the admin kubeconfig) lists them; Knot serves a zone file made
//! from the same Services. Both must give the same answers to a sample
//! before dnsperf measures them with the same query mix: throughput, then
//! latency at a fixed rate with every query timed. Also reported: orch-dns
//! memory with N Services, and how long a change made through the API
//! takes to become answerable. All traffic stays on 127.0.0.1.
use std::{
    net::SocketAddr,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use hickory_server::proto::{op::ResponseCode, rr::RecordType};
use k8s_openapi::api::core::v1::Service;
use kube::{
    api::{DeleteParams, PostParams},
    Api,
};
use serde_json::json;

use super::{
    dns_peers::{self, Knot, PerfLoad, PerfResult},
    dns_report,
    dns_world::{self, BenchService, Mix, NS},
    load::Outcome,
    orch::OrchServer,
    report::percentile,
    results::{micros, millis, DnsFigures, DnsServer},
};
use crate::dns::{
    process::{http_get, OrchDnsProcess},
    query::Asker,
};

/// Parameters of the DNS benchmark.
#[derive(Debug, Clone)]
pub struct DnsParams {
    /// Services (each with an EndpointSlice of two endpoints).
    pub services: usize,
    /// Concurrent API clients creating them.
    pub clients: usize,
    /// Seconds of each throughput run.
    pub seconds: u64,
    /// Throughput runs per server, interleaved (orch-dns, Knot, Knot,
    /// orch-dns, ...), so load from elsewhere hits both alike.
    pub rounds: usize,
    /// Seconds of each fixed-rate latency run.
    pub latency_seconds: u64,
    /// Queries per second of the latency runs.
    pub latency_qps: u32,
    /// Changes timed from the API to an answer.
    pub changes: usize,
    /// UDP sockets/threads of orch-dns, and UDP workers of Knot.
    pub udp_workers: usize,
    /// dnsperf clients (`-c`).
    pub perf_clients: usize,
    /// dnsperf threads (`-T`).
    pub perf_threads: usize,
    /// dnsperf queries in flight (`-q`).
    pub outstanding: usize,
    /// Time cap of each create phase.
    pub cap: Duration,
}

impl Default for DnsParams {
    fn default() -> Self {
        Self {
            services: 10_000,
            clients: 32,
            seconds: 5,
            rounds: 4,
            latency_seconds: 5,
            latency_qps: 20_000,
            changes: 100,
            udp_workers: 2,
            perf_clients: 8,
            perf_threads: 2,
            outstanding: 100,
            cap: Duration::from_secs(300),
        }
    }
}

/// One server's figures.
#[derive(Debug, Clone, Default)]
pub struct ServerRun {
    /// Throughput runs.
    pub rounds: Vec<PerfResult>,
    /// Fixed-rate run, every query timed.
    pub latency: PerfResult,
}

impl ServerRun {
    /// The median throughput of the rounds.
    pub fn median_qps(&self) -> f64 {
        let mut q: Vec<f64> = self.rounds.iter().map(|r| r.qps).collect();
        q.sort_by(f64::total_cmp);
        match q.len() {
            0 => 0.0,
            n if n % 2 == 1 => q[n / 2],
            n => (q[n / 2 - 1] + q[n / 2]) / 2.0,
        }
    }

    /// All rounds added up: queries, losses, codes, CPU and wall time.
    pub fn total(&self) -> PerfResult {
        let mut t = PerfResult::default();
        let mut weighted = 0.0;
        for r in &self.rounds {
            t.sent += r.sent;
            t.completed += r.completed;
            t.lost += r.lost;
            for (k, v) in &r.rcodes {
                *t.rcodes.entry(k.clone()).or_default() += v;
            }
            t.server_cpu += r.server_cpu;
            t.wall += r.wall;
            weighted += r.avg.as_secs_f64() * r.completed as f64;
        }
        t.qps = t.completed as f64 / t.wall.max(1e-9);
        t.avg = Duration::from_secs_f64(weighted / (t.completed.max(1) as f64));
        t
    }
}

/// Latencies of changes made through the API.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// Service create: from the API call to the first right answer.
    pub create_total: Vec<Duration>,
    /// Service create: from the API's reply to the first right answer.
    pub create_after_reply: Vec<Duration>,
    /// Service delete: from the API call to the first NXDOMAIN.
    pub delete_total: Vec<Duration>,
}

/// Everything the report needs.
#[derive(Debug)]
pub struct Measured {
    /// The parameters.
    pub params: DnsParams,
    /// Services created.
    pub services: usize,
    /// Service create phase.
    pub create_services: Outcome,
    /// EndpointSlice create phase.
    pub create_slices: Outcome,
    /// Query mix.
    pub mix: Mix,
    /// Records in Knot's zone file.
    pub zone_records: usize,
    /// orch-dns: from start to ready (first complete lists in).
    pub time_to_ready: Duration,
    /// orch-dns memory (VmRSS, VmHWM in KiB) right after it was ready.
    pub dns_rss_ready: (u64, u64),
    /// orch-dns memory at the end.
    pub dns_rss_end: (u64, u64),
    /// knotd memory with the zone loaded.
    pub knot_rss: (u64, u64),
    /// orch-dns table figures from /metrics: names, answers, bytes.
    pub table: (f64, f64, f64),
    /// Answers compared between the two servers.
    pub compared: usize,
    /// orch-dns figures.
    pub orch: ServerRun,
    /// Knot figures.
    pub knot: ServerRun,
    /// Change latencies.
    pub changes: Changes,
    /// Knot's version line.
    pub knot_version: String,
}

/// Asks both servers the same sample of names and fails on any difference
/// (answer data and response code).
fn compare(a: SocketAddr, b: SocketAddr, services: &[BenchService]) -> Result<usize> {
    let mut asker = Asker::new(Duration::from_secs(2))?;
    let mut n = 0;
    for s in services.iter().step_by((services.len() / 200).max(1)) {
        let base = format!("{}.{NS}.svc.cluster.local.", s.name);
        let qs = [
            (base.clone(), RecordType::A),
            (format!("_http._tcp.{base}"), RecordType::SRV),
            (format!("nx-{base}"), RecordType::A),
            (
                format!("{}.{base}", s.endpoints[0].to_string().replace('.', "-")),
                RecordType::A,
            ),
        ];
        for (name, t) in qs {
            let x = asker
                .ask(a, &name, t)?
                .with_context(|| format!("{a}: no answer to {name}"))?;
            let y = asker
                .ask(b, &name, t)?
                .with_context(|| format!("{b}: no answer to {name}"))?;
            if x.rcode != y.rcode || x.answers != y.answers {
                bail!("{name} {t}: orch-dns says {x:?}, Knot says {y:?}");
            }
            n += 1;
        }
        let want = [s.cluster_ip.clone()];
        let got = asker.ask(a, &base, RecordType::A)?.map(|r| r.answers);
        if got.as_deref() != Some(&want[..]) {
            bail!(
                "{base}: orch-dns answered {got:?}, the API says {}",
                s.cluster_ip
            );
        }
    }
    Ok(n)
}

/// Polls until `done`; fails after 10 s.
fn poll(
    dns: SocketAddr,
    name: &str,
    done: impl Fn(&crate::dns::query::Reply) -> bool,
) -> Result<()> {
    let mut asker = Asker::new(Duration::from_millis(200))?;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(r) = asker.ask(dns, name, RecordType::A)? {
            if done(&r) {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    bail!("{name}: no expected answer within 10 s")
}

/// Creates then deletes `n` Services one at a time, timing each until
/// orch-dns answers accordingly.
async fn change_latency(server: &OrchServer, dns: SocketAddr, n: usize) -> Result<Changes> {
    let api: Api<Service> = Api::namespaced(server.client()?, NS);
    let mut c = Changes::default();
    for i in 0..n {
        let name = format!("chg-{i:04}");
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"ports": [{"name": "http", "port": 80}]}
        }))?;
        let fqdn = format!("{name}.{NS}.svc.cluster.local.");
        let t0 = Instant::now();
        let created = api.create(&PostParams::default(), &svc).await?;
        let replied = t0.elapsed();
        let ip = created
            .spec
            .and_then(|s| s.cluster_ip)
            .context("no clusterIP")?;
        tokio::task::block_in_place(|| poll(dns, &fqdn, |r| r.answers == [ip.clone()]))?;
        let total = t0.elapsed();
        c.create_total.push(total);
        c.create_after_reply.push(total.saturating_sub(replied));
    }
    for i in 0..n {
        let name = format!("chg-{i:04}");
        let fqdn = format!("{name}.{NS}.svc.cluster.local.");
        let t0 = Instant::now();
        api.delete(&name, &DeleteParams::default()).await?;
        tokio::task::block_in_place(|| poll(dns, &fqdn, |r| r.rcode == ResponseCode::NXDomain))?;
        c.delete_total.push(t0.elapsed());
    }
    for v in [
        &mut c.create_total,
        &mut c.create_after_reply,
        &mut c.delete_total,
    ] {
        v.sort_unstable();
    }
    Ok(c)
}

/// A gauge from orch-dns's /metrics.
fn gauge(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

/// Runs the benchmark, writes `dns.md` to `out` and returns the figures.
pub async fn run(p: &DnsParams, orch_bin: &Path, dns_bin: &Path, out: &Path) -> Result<DnsFigures> {
    dns_peers::ensure_tools()?;
    if !dns_bin.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p orch-dns --bin orch-dns`",
            dns_bin.display()
        );
    }
    eprintln!("bench dns: orch server {}", orch_bin.display());
    let server = OrchServer::start(
        orch_bin,
        &["--no-cluster-dns".into(), "--no-scheduler".into()],
    )
    .await?;
    eprintln!(
        "    creating {} Services and {} EndpointSlices ({} clients)",
        p.services, p.services, p.clients
    );
    let (services, create_services, create_slices) =
        dns_world::create(&server, p.services, p.clients, p.cap).await?;
    if services.len() < p.services {
        bail!(
            "only {} of {} Services were created: {}",
            services.len(),
            p.services,
            create_services.note()
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("orch-bench-dns")
        .tempdir()?;
    eprintln!("    starting orch-dns {}", dns_bin.display());
    let t = Instant::now();
    let workers = p.udp_workers.to_string();
    let dns = tokio::task::block_in_place(|| {
        OrchDnsProcess::start(
            dns_bin,
            &server.data_dir().join("admin.kubeconfig"),
            &["--no-forward", "--udp-workers", &workers],
            &dir.path().join("orch-dns.log"),
        )
    })?;
    let time_to_ready = t.elapsed();
    let dns_rss_ready = dns.rss_kib()?;
    let (_, metrics) = http_get(dns.http, "/metrics")?;
    let table = (
        gauge(&metrics, "orch_dns_cache_names"),
        gauge(&metrics, "orch_dns_cache_answers"),
        gauge(&metrics, "orch_dns_cache_answer_bytes"),
    );

    let (queries, mix) = dns_world::query_mix(&services);
    let qfile = dir.path().join("queries.txt");
    std::fs::write(&qfile, queries)?;
    let zone = dns_world::zone_file(&services);
    let zone_records = zone.lines().filter(|l| !l.starts_with('$')).count();
    eprintln!("    starting knotd ({zone_records} records)");
    let probe = format!("{}.{NS}.svc.cluster.local.", services[0].name);
    let knot = tokio::task::block_in_place(|| Knot::start(&zone, p.udp_workers, &probe))?;
    let knot_rss = super::process::rss_kib(knot.pid())?;
    let compared = tokio::task::block_in_place(|| compare(dns.dns, knot.addr, &services))?;
    eprintln!("    {compared} answers identical on both servers");

    let load = PerfLoad {
        seconds: p.seconds,
        clients: p.perf_clients,
        threads: p.perf_threads,
        outstanding: p.outstanding,
        max_qps: None,
        per_query: false,
    };
    let fixed = PerfLoad {
        seconds: p.latency_seconds,
        max_qps: Some(p.latency_qps),
        per_query: true,
        ..load
    };
    let throughput = |name: &str, addr: SocketAddr, pid: u32, run: &mut ServerRun| -> Result<()> {
        let r = dns_peers::dnsperf(addr, &qfile, load, pid)?;
        eprintln!(
            "    dnsperf → {name}: {} s as fast as answered: {:.0} qps",
            p.seconds, r.qps
        );
        run.rounds.push(r);
        Ok(())
    };
    let latency = |name: &str, addr: SocketAddr, pid: u32, run: &mut ServerRun| -> Result<()> {
        eprintln!(
            "    dnsperf → {name}: {} s at {} qps, every query timed",
            p.latency_seconds, p.latency_qps
        );
        run.latency = dns_peers::dnsperf(addr, &qfile, fixed, pid)?;
        Ok(())
    };
    let (orch, knot_run) = tokio::task::block_in_place(|| -> Result<_> {
        let (mut o, mut k) = (ServerRun::default(), ServerRun::default());
        for round in 0..p.rounds.max(1) {
            // Alternate who goes first.
            if round % 2 == 0 {
                throughput("orch-dns", dns.dns, dns.pid(), &mut o)?;
                throughput("knotd", knot.addr, knot.pid(), &mut k)?;
            } else {
                throughput("knotd", knot.addr, knot.pid(), &mut k)?;
                throughput("orch-dns", dns.dns, dns.pid(), &mut o)?;
            }
        }
        latency("orch-dns", dns.dns, dns.pid(), &mut o)?;
        latency("knotd", knot.addr, knot.pid(), &mut k)?;
        Ok((o, k))
    })?;
    let knot_version = std::process::Command::new("/usr/sbin/knotd")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    drop(knot);

    eprintln!("    {} changes through the API", p.changes);
    let changes = change_latency(&server, dns.dns, p.changes).await?;
    let dns_rss_end = dns.rss_kib()?;
    let m = Measured {
        params: p.clone(),
        services: services.len(),
        create_services,
        create_slices,
        mix,
        zone_records,
        time_to_ready,
        dns_rss_ready,
        dns_rss_end,
        knot_rss,
        table,
        compared,
        orch,
        knot: knot_run,
        changes,
        knot_version,
    };
    dns_report::report(&m).emit(out, "dns.md")?;
    Ok(figures(&m))
}

fn server_figures(run: &ServerRun) -> DnsServer {
    let l = &run.latency.latencies;
    DnsServer {
        median_qps: run.median_qps(),
        rounds_qps: run.rounds.iter().map(|r| r.qps).collect(),
        latency_p50_us: micros(percentile(l, 50.0)),
        latency_p99_us: micros(percentile(l, 99.0)),
    }
}

/// The figures of `dns.json`.
fn figures(m: &Measured) -> DnsFigures {
    DnsFigures {
        services: m.services,
        orch: server_figures(&m.orch),
        knot: server_figures(&m.knot),
        create_p99_ms: millis(percentile(&m.changes.create_total, 99.0)),
        delete_p99_ms: millis(percentile(&m.changes.delete_total, 99.0)),
    }
}
