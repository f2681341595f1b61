//! Running the API server: the store, TLS, bootstrap objects, listeners,
//! and a clean stop on SIGTERM or Ctrl-C.
use std::{
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::{
    auth::Auth,
    bootstrap, endpoints,
    ipalloc::{Cidr, ClusterIpAllocator},
    kubeconfig,
    kubelet::NodeCerts,
    metrics::ApiMetrics,
    router, secrets,
    state::ApiState,
    tls,
};
use crate::store::{
    embedded::{EmbeddedOptions, EmbeddedStore},
    etcd::{EtcdOptions, EtcdStore},
    Store,
};

/// Largest request body: 3 MiB, as Kubernetes.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Data directory (store, CA, tokens, kubeconfig).
    pub data_dir: PathBuf,
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// Address written into the `kubernetes` endpoints and kubeconfig.
    pub advertise: Ipv4Addr,
    /// The Service CIDR.
    pub service_cidr: Cidr,
    /// BOOKMARK interval for watches.
    pub bookmark_interval: Duration,
    /// Which store, and its options.
    pub store: StoreConfig,
    /// The server token that opens the cluster's secrets in the store
    /// (`None`: the one in the data directory, or a new one).
    pub token: Option<String>,
}

/// The backend the API server keeps its objects in.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// The embedded store in the data directory (watch history window).
    Embedded(EmbeddedOptions),
    /// An etcd cluster.
    Etcd(EtcdOptions),
}

/// Opens the configured store and registers its metrics.
async fn open_store(cfg: &ServerConfig, metrics: &ApiMetrics) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &cfg.store {
        StoreConfig::Embedded(opts) => {
            let store = EmbeddedStore::open_dir(&cfg.data_dir, opts.clone())?;
            metrics.with_registry(|r| store.register_metrics(r));
            Arc::new(store)
        }
        StoreConfig::Etcd(opts) => {
            let store = EtcdStore::connect(opts.clone()).await?;
            tracing::info!(endpoints = %opts.endpoints.join(","), "using etcd as the store");
            Arc::new(store)
        }
    })
}

/// A started server.
#[derive(Debug)]
pub struct RunningServer {
    /// Shared state.
    pub state: Arc<ApiState>,
    /// The addresses actually bound.
    pub bound: Vec<SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The address and port in the `kubernetes` endpoints.
    advertised: (Ipv4Addr, u16),
}

impl RunningServer {
    /// Stops accepting connections.
    pub fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }

    /// Takes this server out of the `kubernetes` endpoints, then stops.
    pub async fn shutdown(&self) {
        let (ip, port) = self.advertised;
        // Bounded: a store that does not answer must not stop the stop.
        let leave = endpoints::leave(&self.state, ip, port);
        let _ = tokio::time::timeout(Duration::from_secs(5), leave).await;
        self.stop();
    }
}

/// Opens the store, prepares TLS and tokens, writes the admin kubeconfig
/// and the join token, creates the boot objects and starts listening.
pub async fn start(cfg: &ServerConfig) -> anyhow::Result<RunningServer> {
    std::fs::create_dir_all(&cfg.data_dir)?;
    let metrics = ApiMetrics::new();
    let store = open_store(cfg, &metrics).await?;
    secrets::share(&*store, &cfg.data_dir, cfg.token.as_deref()).await?;
    let auth = Auth::load_or_create(&cfg.data_dir)?;
    let mut names: Vec<String> = vec![
        "localhost".into(),
        "127.0.0.1".into(),
        cfg.advertise.to_string(),
        "kubernetes".into(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
        "kubernetes.default.svc.cluster.local".into(),
    ];
    if let Some(vip) = cfg.service_cidr.nth(1) {
        names.push(vip.to_string());
    }
    for a in &cfg.listen {
        names.push(a.ip().to_string());
    }
    names.sort();
    names.dedup();
    let material = tls::load_or_create(&cfg.data_dir, &names)?;
    let acceptor = TlsAcceptor::from(Arc::new(tls::server_config(&material)?));
    let state = Arc::new(ApiState {
        store,
        ips: std::sync::Mutex::new(ClusterIpAllocator::new(cfg.service_cidr)),
        auth,
        metrics,
        bookmark_interval: cfg.bookmark_interval,
        max_body: MAX_BODY,
        node_certs: NodeCerts::new(&material)?,
    });
    let port = cfg.listen.first().map_or(6443, SocketAddr::port);
    bootstrap::run(&state, cfg.advertise, port)
        .await
        .map_err(|e| anyhow::anyhow!("bootstrap: {e}"))?;

    let mut bound = Vec::new();
    let mut tasks = Vec::new();
    for addr in &cfg.listen {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("listening on {addr}: {e}"))?;
        bound.push(listener.local_addr()?);
        tasks.push(tokio::spawn(accept_loop(
            listener,
            acceptor.clone(),
            state.clone(),
        )));
    }
    let server_url = format!(
        "https://{}",
        bound
            .first()
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], port)))
    );
    let kc = kubeconfig::render(
        &server_url,
        &material.ca_pem,
        state.auth.admin_token(),
        "admin",
    );
    crate::util::write_private(&cfg.data_dir.join("admin.kubeconfig"), kc.as_bytes())?;
    tasks.push(tokio::spawn(endpoints::run(
        state.clone(),
        cfg.advertise,
        port,
    )));
    Ok(RunningServer {
        state,
        bound,
        tasks,
        advertised: (cfg.advertise, port),
    })
}

async fn accept_loop(listener: TcpListener, acceptor: TlsAcceptor, state: Arc<ApiState>) {
    let app = router::router(state);
    loop {
        let tcp = crate::util::accept(&listener).await;
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let svc = TowerToHyperService::new(app);
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(tls), svc)
                .await;
        });
    }
}
