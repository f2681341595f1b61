//! `/healthz` (the process answers), `/readyz` (the first complete lists of
//! Services and EndpointSlices are in the zones) and `/metrics`
//! (Prometheus text).
use std::{net::SocketAddr, sync::Arc};

use axum::{extract::State, http::StatusCode, response::IntoResponse, routing::get, Router};
use prometheus_client::registry::Registry;

use crate::{cluster::watch::Readiness, error::DnsError, metrics};

#[derive(Clone)]
struct Ctx {
    ready: Arc<Readiness>,
    registry: Arc<Registry>,
}

/// The routes.
pub fn router(ready: Arc<Readiness>, registry: Registry) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(Ctx {
            ready,
            registry: Arc::new(registry),
        })
}

async fn readyz(State(c): State<Ctx>) -> impl IntoResponse {
    if c.ready.is_ready() {
        (StatusCode::OK, "ok".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "waiting for the first list of {}",
                c.ready.missing().join(" and ")
            ),
        )
    }
}

async fn metrics_text(State(c): State<Ctx>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::render(&c.registry),
    )
}

/// Serves `router` on `addr` until the task is aborted; returns the bound
/// address.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), DnsError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| DnsError::Listen { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| DnsError::Listen { addr, source })?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!(error = %e, "HTTP server stopped");
        }
    });
    Ok((bound, task))
}
