//! The kube-rs client of the control loops (scheduler, controllers). It
//! speaks HTTP/2 when the server offers it, as client-go does: every
//! request and watch of the process shares one connection as a stream of
//! its own, instead of a connection per request in flight. Bursts of
//! concurrent writes (thousands of pods reported unschedulable at once)
//! then cost streams, not sockets with TLS state and buffers at both ends,
//! and nothing idles in a pool afterwards. HTTP/2 keep-alive pings find a
//! dead connection that no FIN announced.
use std::{path::Path, time::Duration};

use hyper_util::{
    client::legacy,
    rt::{TokioExecutor, TokioTimer},
};
use kube::client::{Body, ConfigExt};
use tower::{BoxError, ServiceBuilder};

use crate::controllers::ControllerError;

/// Time between two keep-alive pings on an idle connection.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);
/// How long a ping may go unanswered before the connection counts as dead.
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle HTTP/1.1 connections kept for reuse (a server without HTTP/2).
const MAX_IDLE_HTTP1: usize = 8;
/// How long an idle connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A kube-rs client from a kubeconfig file.
pub async fn client_from(path: &Path) -> Result<kube::Client, ControllerError> {
    let bad = |e: &dyn std::fmt::Display| {
        ControllerError::Other(format!("kubeconfig {}: {e}", path.display()))
    };
    let kc = kube::config::Kubeconfig::read_from(path).map_err(|e| bad(&e))?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .map_err(|e| bad(&e))?;
    client(cfg).map_err(|e| bad(&e))
}

/// A client for `cfg` that prefers HTTP/2 (see the module comment).
fn client(cfg: kube::Config) -> Result<kube::Client, kube::Error> {
    let mut tcp = legacy::connect::HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    let mut https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(cfg.rustls_client_config()?)
        .https_or_http();
    if let Some(name) = &cfg.tls_server_name {
        // The kubeconfig's `tls-server-name`: the name the certificate is
        // checked against when the server is reached by another address.
        let name = rustls::pki_types::ServerName::try_from(name.clone())
            .map_err(|e| kube::Error::Service(format!("tls-server-name {name:?}: {e}").into()))?;
        https = https.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name));
    }
    let https = https.enable_all_versions().wrap_connector(tcp);
    let http = legacy::Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .http2_keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
        .http2_keep_alive_while_idle(true)
        .pool_max_idle_per_host(MAX_IDLE_HTTP1)
        .pool_idle_timeout(IDLE_TIMEOUT)
        .build::<_, Body>(https);
    let service = ServiceBuilder::new()
        .layer(cfg.base_uri_layer())
        .option_layer(cfg.auth_layer()?)
        .map_err(BoxError::from)
        .service(http);
    Ok(kube::Client::new(service, cfg.default_namespace))
}
