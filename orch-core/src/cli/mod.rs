//! orchctl: a kubectl-like client of the orch API (apply, get, delete,
//! scale, describe, logs). It prints the server's Tables, so columns match
//! kubectl's.
pub mod client;
mod commands;
pub mod kinds;
pub mod manifest;
pub mod print;
pub mod rollout;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use client::{ApiClient, CliError};

/// Command line of orchctl.
#[derive(Debug, Parser)]
#[command(
    name = "orchctl",
    version,
    about = "Talk to an orch (or Kubernetes) API server"
)]
pub struct Cli {
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, /var/lib/orch/admin.kubeconfig).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace (default: the kubeconfig's).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// orchctl subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update objects from files (`-f FILE|DIR|-`).
    Apply {
        /// File, directory or `-`.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<String>,
    },
    /// Create objects from files; fails if they exist.
    Create {
        /// File, directory or `-`.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<String>,
    },
    /// List or show objects.
    Get {
        /// Resource type (pods, svc, deploy, ...) or TYPE/NAME.
        kind: String,
        /// Object names.
        names: Vec<String>,
        /// All namespaces.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Output: wide, yaml or json.
        #[arg(short = 'o', long)]
        output: Option<String>,
        /// Label selector.
        #[arg(short = 'l', long)]
        selector: Option<String>,
        /// Field selector.
        #[arg(long)]
        field_selector: Option<String>,
        /// Keep watching for changes.
        #[arg(short = 'w', long)]
        watch: bool,
    },
    /// Delete objects by TYPE NAME, TYPE/NAME or -f FILE.
    Delete {
        /// TYPE NAME..., or TYPE/NAME...
        args: Vec<String>,
        /// Delete the objects in these files.
        #[arg(short = 'f', long = "filename")]
        files: Vec<String>,
        /// Pods: seconds to wait before killing.
        #[arg(long)]
        grace_period: Option<i64>,
        /// background, foreground or orphan.
        #[arg(long, default_value = "background")]
        cascade: String,
    },
    /// Set the replica count of a Deployment or ReplicaSet.
    Scale {
        /// TYPE/NAME or TYPE NAME.
        args: Vec<String>,
        /// Desired replicas.
        #[arg(long)]
        replicas: i64,
    },
    /// Show one object in detail, with its events.
    Describe {
        /// Resource type.
        kind: String,
        /// Object name.
        name: String,
    },
    /// Manage a rollout: `rollout status deployment/NAME [--timeout 5m]`.
    Rollout {
        /// What to do.
        #[command(subcommand)]
        action: rollout::RolloutCommand,
    },
    /// Print a container's output.
    Logs {
        /// Pod name.
        pod: String,
        /// Container name (default: the only one).
        #[arg(short = 'c', long)]
        container: Option<String>,
        /// Keep streaming.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Lines from the end.
        #[arg(long)]
        tail: Option<i64>,
        /// The previous instance's output.
        #[arg(short = 'p', long)]
        previous: bool,
    },
}

/// Runs orchctl; output goes to stdout, errors are returned.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let path = client::kubeconfig_path(cli.kubeconfig.clone())?;
    let api = ApiClient::connect(&path).await?;
    let ns = cli
        .namespace
        .clone()
        .unwrap_or_else(|| api.default_namespace.clone());
    commands::run(&api, &ns, cli.command).await
}
