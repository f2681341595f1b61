//! `orch-proxy`: the Service proxy of one node as its own process.
//!
//! `orch-proxy --node-name N [--netns PATH]` runs it (it also runs inside
//! `orch agent` by default); `--cleanup` removes everything it programmed;
//! `orch-proxy dump --node-name N` prints the live service table read back
//! from the eBPF maps or the iptables rules.
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use orch_proxy::{
    cli::ProxyFlags,
    dataplane::Dataplane,
    ebpf, iptables,
    run::{self, dump, select, ProxyMetrics},
};

#[derive(Debug, Parser)]
#[command(
    name = "orch-proxy",
    about = "orch's Service proxy (eBPF, or iptables)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The node this proxy serves.
    #[arg(long, global = true)]
    node_name: Option<String>,
    /// The node's network namespace, as a path (`/run/netns/orch-node-1`);
    /// default: the one this process runs in.
    #[arg(long, global = true)]
    netns: Option<PathBuf>,
    /// Kubeconfig; default: $KUBECONFIG, ~/.kube/config, or in-cluster.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Remove every program, pin, chain and rule of this node, then exit.
    #[arg(long)]
    cleanup: bool,
    #[command(flatten)]
    flags: ProxyFlags,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the live service table of a node.
    Dump,
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let node = cli
        .node_name
        .clone()
        .context("--node-name is required: the node whose services to program")?;
    match cli.command {
        Some(Command::Dump) => return dump_table(&node, cli.netns.as_deref()),
        None => {}
    }
    if cli.cleanup {
        select::cleanup(&node, cli.netns.as_deref())
            .with_context(|| format!("cleaning up the proxy of node {node}"))?;
        println!("removed the eBPF programs and iptables rules of node {node}");
        return Ok(());
    }
    let config = match &cli.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .with_context(|| format!("loading kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .context("finding a kubeconfig")?,
    };
    let client = kube::Client::try_from(config).context("building the API client")?;
    let cfg = cli.flags.config(&node, cli.netns.clone());
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    run::run(client, cfg, ProxyMetrics::new(), shutdown)
        .await
        .with_context(|| format!("running the proxy of node {node}"))
}

/// Prints the table from the eBPF pins if the node has them, else from the
/// iptables rules in its namespace.
fn dump_table(node: &str, netns: Option<&std::path::Path>) -> Result<()> {
    let rows = match ebpf::dump_pinned(node) {
        Ok(rows) => {
            println!("mode: ebpf (maps pinned under /sys/fs/bpf/orch/{node})");
            rows.into_iter().map(|(p, n)| (p, Some(n))).collect()
        }
        Err(ebpf_err) => {
            let mut ipt = iptables::Iptables::new(netns.map(std::path::Path::to_path_buf))
                .with_context(|| {
                    format!("no eBPF pins for node {node} ({ebpf_err}), and iptables")
                })?;
            let ports = ipt.dump().context("reading the iptables rules")?;
            println!("mode: iptables");
            ports.into_iter().map(|p| (p, None)).collect::<Vec<_>>()
        }
    };
    print!("{}", dump::render(&rows));
    Ok(())
}
