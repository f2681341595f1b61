//! `cargo xtask run`: set-up and build if needed, then a multi-node
//! cluster on this machine (one `orch server`, N `orch agent
//! --simulate-node`) with the demo workload, kept running until Ctrl-C or
//! SIGTERM, then torn down and checked for leftovers.
//!
//! Order: clean up what a crashed run left → host bridge → server →
//! agents → nodes Ready → demo applied → cluster DNS (if installed) →
//! the demo's Service answering from a pod's netns → `ready` file and
//! summary → wait for a signal → teardown. Every wait is bounded and names
//! the log to read when it gives up.
mod api;
mod cleanup;
mod cluster;
mod demo;
mod dns;
mod layout;
mod leftovers;
pub(crate) mod procs;
mod record;
pub(crate) mod signals;
mod summary;
mod wait;

use std::{
    path::PathBuf,
    process::Command,
    thread::sleep,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{build, setup, step};
use cluster::{Bins, Cluster};
use layout::{Cidr, Layout};
use signals::Stop;

/// Flags of `cargo xtask run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Number of simulated nodes (node-1 .. node-N).
    #[arg(long, default_value_t = 2)]
    pub nodes: u8,
    /// Service proxy data path of every agent: auto, ebpf or iptables.
    #[arg(long, default_value = "auto", value_parser = ["auto", "ebpf", "iptables"])]
    pub proxy_mode: String,
    /// Build and run the release binaries.
    #[arg(long)]
    pub release: bool,
    /// Run the binaries already built: no set-up, no build.
    #[arg(long)]
    pub no_build: bool,
    /// An extra argument of `orch server` (repeatable), e.g.
    /// `--server-arg=--node-monitor-grace-period-seconds=15`.
    #[arg(long, allow_hyphen_values = true)]
    pub server_arg: Vec<String>,
    /// Only clean up what a previous run left behind, then exit.
    #[arg(long)]
    pub clean: bool,
    /// Where the run keeps its state [default: <target>/orch].
    #[arg(long, help_heading = "Layout (to run beside another cluster)")]
    pub state_dir: Option<PathBuf>,
    /// Node names are this prefix followed by 1..N.
    #[arg(
        long,
        default_value = "node-",
        help_heading = "Layout (to run beside another cluster)"
    )]
    pub node_prefix: String,
    /// Host bridge linking the nodes.
    #[arg(
        long,
        default_value = "orch0",
        help_heading = "Layout (to run beside another cluster)"
    )]
    pub host_bridge: String,
    /// Node underlay; the host is its first address, node K address K+1.
    #[arg(
        long,
        default_value = "10.250.0.0/24",
        help_heading = "Layout (to run beside another cluster)"
    )]
    pub underlay_cidr: Cidr,
    /// Cluster pod CIDR.
    #[arg(
        long,
        default_value = "10.244.0.0/16",
        help_heading = "Layout (to run beside another cluster)"
    )]
    pub pod_cidr: Cidr,
    /// Service CIDR (cluster DNS is its tenth address).
    #[arg(
        long,
        default_value = "10.96.0.0/16",
        help_heading = "Layout (to run beside another cluster)"
    )]
    pub service_cidr: Cidr,
    /// HTTPS port of the API server.
    #[arg(
        long,
        default_value_t = 6443,
        help_heading = "Layout (to run beside another cluster)"
    )]
    pub api_port: u16,
}

impl RunArgs {
    fn layout(&self) -> Result<Layout> {
        let state = match &self.state_dir {
            Some(d) if d.is_absolute() => d.clone(),
            Some(d) => std::env::current_dir()?.join(d),
            None => step::target_dir().join("orch"),
        };
        let l = Layout {
            state,
            node_prefix: self.node_prefix.clone(),
            nodes: self.nodes,
            bridge: self.host_bridge.clone(),
            underlay: self.underlay_cidr,
            pod_cidr: self.pod_cidr,
            service_cidr: self.service_cidr,
            api_port: self.api_port,
        };
        l.validate()?;
        Ok(l)
    }
}

/// Runs `cargo xtask run`.
pub fn run(args: RunArgs) -> Result<()> {
    let layout = args.layout()?;
    if !is_root() {
        bail!("`cargo xtask run` needs root: it creates network namespaces, bridges and cgroups, and loads eBPF");
    }
    if !args.no_build && !args.clean {
        if !setup::missing()?.is_empty() {
            setup::run()?;
        }
        build::all(args.release)?;
    }
    for (tool, package) in [("curl", "curl"), ("ip", "iproute2")] {
        if !step::succeeds(Command::new(tool).arg("-V")) {
            setup::ensure_packages(&[package])?;
        }
    }
    let bins = Bins::locate(args.release)?;
    std::fs::create_dir_all(&layout.state)
        .with_context(|| format!("creating {}", layout.state.display()))?;
    let stop = Stop::install()?;
    let before = cleanup::previous_run(&layout, &bins.orch)?;
    if args.clean {
        let left = leftovers::scan(&layout, &before, &layout.node_names());
        for l in &left {
            step::info(&format!("left behind: {l}"));
        }
        if !left.is_empty() {
            bail!("{} thing(s) are still left", left.len());
        }
        step::done("nothing is left");
        return Ok(());
    }

    let started = Instant::now();
    let mut cluster = Cluster::new(layout, bins, &args.proxy_mode);
    cluster.server_args = args.server_arg.clone();
    // Nothing of this run exists yet: a failure here has nothing to tear down.
    cluster.check_port()?;
    let result = cluster
        .prepare()
        .and_then(|()| bring_up(&mut cluster, &stop, started))
        .and_then(|()| serve(&mut cluster, &stop));
    let result = match result {
        Err(e) if e.is::<wait::Interrupted>() || stop.requested() => {
            println!();
            step::info("signal received before the cluster was up; stopping");
            Ok(())
        }
        Err(e) => {
            println!();
            println!("error: {e:#}");
            Err(e)
        }
        ok => ok,
    };
    let down = cleanup::teardown(&mut cluster);
    result.and(down)
}

/// Starts everything and waits until the demo answers.
fn bring_up(cluster: &mut Cluster, stop: &Stop, started: Instant) -> Result<()> {
    cluster.start_server(stop)?;
    cluster.start_agents()?;
    cluster.wait_nodes(stop)?;
    let api = cluster.api.clone();
    demo::apply(&api, &cluster.layout, &cluster.bins.orch)?;
    let logs = layout::short(&cluster.layout.state.join("logs"));
    let dns = dns::wait_ready(&api, stop, &format!("read the logs in {logs}"))?;
    let hint = format!(
        "read the agents' logs (pods, probes, the Service proxy) in {logs}/{}*.log",
        cluster.layout.node_prefix
    );
    let answer = demo::wait_answer(&api, stop, &hint, || cluster.check_running())?;
    let took = started.elapsed();
    summary::print(cluster, &demo::pods(&api), &answer, dns.as_deref(), took);
    // Last, so whoever waits for it finds the summary printed. It holds
    // the demo's VIP.
    std::fs::write(cluster.layout.ready_file(), format!("{}\n", answer.vip))
        .context("writing the ready file")
}

/// Keeps the cluster running until a signal, or until the server exits
/// (an error naming its log); an agent that exits is reported and the
/// cluster carries on without that node.
fn serve(cluster: &mut Cluster, stop: &Stop) -> Result<()> {
    cluster.observe();
    let mut last_look = Instant::now();
    while !stop.requested() {
        cluster.check_serving()?;
        if last_look.elapsed() > Duration::from_secs(10) {
            // Pods come and go (scale, delete): note their namespaces while
            // the API answers, so the leftover check knows them all.
            cluster.observe();
            last_look = Instant::now();
        }
        sleep(Duration::from_millis(200));
    }
    println!();
    step::info("signal received; stopping the cluster");
    Ok(())
}

fn is_root() -> bool {
    step::output(Command::new("id").arg("-u")).is_some_and(|s| s.trim() == "0")
}
