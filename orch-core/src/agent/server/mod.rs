//! The agent's HTTPS endpoint, as the kubelet's on port 10250: container
//! logs for the API server's `pods/NAME/log`. It listens on the node's
//! address, inside the node's network namespace when the node is
//! simulated, with a serving certificate from the cluster CA, and serves
//! only the API server (mutual TLS, see [`auth`]).
pub mod auth;
pub mod cert;
pub mod logs;

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{routing::get, Extension, Router};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio_rustls::TlsAcceptor;

use super::{pods::Shared, AgentError};
use auth::Peer;

/// The kubelet's port, which the agent uses by default.
pub use crate::apiserver::kubelet::DEFAULT_KUBELET_PORT;

/// The endpoint's routes.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            get(logs::container_logs),
        )
        .with_state(shared)
}

/// Binds `addr`, in the node's network namespace if it has one.
fn bind(shared: &Shared, addr: SocketAddr) -> Result<tokio::net::TcpListener, AgentError> {
    let listen = || {
        let l = std::net::TcpListener::bind(addr)?;
        l.set_nonblocking(true)?;
        Ok(l)
    };
    let l = match &shared.nodenet.netns {
        Some(ns) => orch_proxy::sys::in_netns(ns, listen),
        None => listen(),
    }
    .map_err(|e| AgentError::Config(format!("listening on {addr}: {e}")))?;
    Ok(tokio::net::TcpListener::from_std(l)?)
}

/// Serves the endpoint on the node's address and `port` until an error.
pub async fn run(shared: Arc<Shared>, port: u16) -> Result<(), AgentError> {
    let ip = IpAddr::V4(shared.node_ip);
    let tls = cert::server_config(&shared.client, &shared.node, ip, &shared.ca_pem).await?;
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let listener = bind(&shared, SocketAddr::new(ip, port))?;
    tracing::info!(node = %shared.node, addr = %SocketAddr::new(ip, port), "serving container logs over HTTPS");
    let app = router(shared);
    loop {
        let tcp = crate::util::accept(&listener).await;
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let peer = Peer::from_certificates(tls.get_ref().1.peer_certificates());
            let svc = TowerToHyperService::new(app.layer(Extension(peer)));
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), svc)
                .await;
        });
    }
}
