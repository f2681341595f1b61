//! Putting it together: settings → zones and table → the cluster watches,
//! the catalog, the DNS listeners and the HTTP endpoints; and stopping
//! cleanly on SIGTERM or Ctrl-C.
use std::{net::SocketAddr, sync::Arc};

use crate::{
    cluster::{watch::Readiness, ClusterState},
    config::{args::Args, Settings},
    error::DnsError,
    handlers::{self, forward::Forwarder},
    http, metrics,
    metrics::Stats,
    serve::{self, handler::DnsHandler, ServeConfig, Serving},
    zone::{Table, Zones},
};

/// The log filter when RUST_LOG is unset: hickory logs every query at
/// `info`, which would cost more than answering it.
pub const DEFAULT_LOG_FILTER: &str =
    "info,hickory_server=warn,hickory_proto=warn,hickory_net=warn,hickory_resolver=warn";

/// A running orch-dns.
#[derive(Debug)]
pub struct Running {
    /// The DNS address (UDP and TCP).
    pub dns_addr: SocketAddr,
    /// The HTTP address, if serving HTTP.
    pub http_addr: Option<SocketAddr>,
    /// Compiled answers.
    pub table: Arc<Table>,
    /// Our zones.
    pub zones: Arc<Zones>,
    /// Query counters.
    pub stats: Arc<Stats>,
    /// Readiness.
    pub ready: Arc<Readiness>,
    serving: Serving,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// A cluster state feeding this server's table, for callers that feed
    /// it themselves (tests, embedding) instead of through watches.
    pub fn new_state(&self) -> ClusterState {
        ClusterState::new(self.table.clone(), self.zones.clone())
    }

    /// Stops everything.
    pub async fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.serving.stop().await;
    }
}

/// Starts serving `settings`. With a client, the zones follow the cluster
/// through watches; without one, the caller feeds a state from
/// [`Running::new_state`] and marks readiness itself.
pub async fn start(settings: &Settings, client: Option<kube::Client>) -> Result<Running, DnsError> {
    let zones = Arc::new(Zones::new(settings));
    let table = Arc::new(Table::new());
    let stats = Arc::new(Stats::new(settings.udp_workers));
    let ready = Arc::new(Readiness::new());
    let forwarder = if settings.upstreams.is_empty() {
        tracing::info!("no upstream: names outside the cluster zones are refused");
        None
    } else {
        tracing::info!(upstreams = ?settings.upstreams, "forwarding other names");
        Some(Arc::new(Forwarder::new(
            &settings.upstreams,
            stats.clone(),
        )?))
    };
    let catalog = handlers::catalog(&zones, &table, forwarder);
    let handler = DnsHandler::new(catalog, stats.clone());
    let mut tasks = Vec::new();
    if let Some(client) = client {
        let state = ClusterState::new(table.clone(), zones.clone());
        tasks.push(tokio::spawn(crate::cluster::watch::follow(
            client,
            state,
            ready.clone(),
        )));
    }
    let serving = serve::start(
        &ServeConfig {
            listen: settings.listen,
            udp_workers: settings.udp_workers,
            hickory_udp: settings.hickory_udp,
        },
        handler,
        table.clone(),
        zones.clone(),
        stats.clone(),
    )
    .await?;
    tracing::info!(addr = %serving.addr, "serving DNS on UDP and TCP");
    let http_addr = match settings.http_listen {
        Some(addr) => {
            let registry = metrics::registry(stats.clone(), table.clone());
            let (bound, task) = http::serve(addr, http::router(ready.clone(), registry)).await?;
            tracing::info!(addr = %bound, "serving /healthz, /readyz and /metrics");
            tasks.push(task);
            Some(bound)
        }
        None => None,
    };
    Ok(Running {
        dns_addr: serving.addr,
        http_addr,
        table,
        zones,
        stats,
        ready,
        serving,
        tasks,
    })
}

/// A Kubernetes client: from `--kubeconfig`, else inferred (KUBECONFIG,
/// ~/.kube/config, then the in-cluster service account).
pub async fn client(args: &Args) -> Result<kube::Client, DnsError> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kc =
                kube::config::Kubeconfig::read_from(path).map_err(|e| DnsError::Kubeconfig {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .map_err(|e| DnsError::Kubeconfig {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| DnsError::Kubeconfig {
                path: "inferred (KUBECONFIG, ~/.kube/config, in-cluster)".into(),
                reason: e.to_string(),
            })?,
    };
    Ok(kube::Client::try_from(config)?)
}

/// orch-dns: serves until SIGTERM or Ctrl-C.
pub async fn run(args: Args) -> Result<(), DnsError> {
    let settings = Settings::from_args(&args)?;
    let client = client(&args).await?;
    let running = start(&settings, Some(client)).await?;
    shutdown_signal().await;
    tracing::info!("stopping");
    running.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "no SIGTERM handler; stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
