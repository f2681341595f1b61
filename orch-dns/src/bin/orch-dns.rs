//! `orch-dns`: cluster DNS for `cluster.local`, stand-alone (with a
//! kubeconfig) or in the cluster (with its service account).
use anyhow::Result;
use clap::Parser;

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "orch-dns",
    version,
    about = "Cluster DNS following the Kubernetes DNS specification, on hickory-server"
)]
struct Cli {
    #[command(flatten)]
    args: orch_dns::Args,
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| orch_dns::run::DEFAULT_LOG_FILTER.into()),
        )
        .init();
    orch_dns::run(Cli::parse().args).await?;
    Ok(())
}
