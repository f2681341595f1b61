//! Serves `/metrics` and `/healthz` on a listener bound inside the node's
//! network namespace.
use std::{net::SocketAddr, path::Path};

use axum::{routing::get, Router};

use crate::{run::metrics::ProxyMetrics, sys, ProxyError};

/// Binds `addr` (in `netns`, if given) and serves until the handle drops.
pub fn spawn(
    addr: SocketAddr,
    netns: Option<&Path>,
    metrics: ProxyMetrics,
) -> Result<tokio::task::JoinHandle<()>, ProxyError> {
    let bind = move || {
        let l = std::net::TcpListener::bind(addr)?;
        l.set_nonblocking(true)?;
        Ok(l)
    };
    let listener = match netns {
        Some(ns) => sys::in_netns(ns, bind),
        None => bind(),
    }
    .map_err(|e| ProxyError::io("binding the metrics listener", addr.to_string(), e))?;
    let listener = tokio::net::TcpListener::from_std(listener)
        .map_err(|e| ProxyError::io("binding the metrics listener", addr.to_string(), e))?;
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move { m.render() }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "metrics server stopped");
        }
    }))
}
