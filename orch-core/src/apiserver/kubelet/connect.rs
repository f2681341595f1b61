//! One HTTPS GET from the API server to a node agent: TCP to the node's
//! address, TLS verifying the agent's certificate as the node's name (so
//! only that node's agent can answer) and presenting the API server's
//! client certificate, then HTTP/1.1. The response body streams.
use std::{net::SocketAddr, sync::Arc, time::Duration};

use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;

/// How long connecting (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// GETs `path` (with its query) from the agent of `node` at `addr`.
pub async fn get(
    tls: Arc<rustls::ClientConfig>,
    node: &str,
    addr: SocketAddr,
    path: &str,
) -> Result<http::Response<Incoming>, String> {
    let name = ServerName::try_from(node.to_string())
        .map_err(|_| format!("node name {node:?} is not a DNS name"))?;
    let connect = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting: {e}"))?;
        let _ = tcp.set_nodelay(true);
        tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))
    };
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()))??;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "agent connection ended");
        }
    });
    let req = http::Request::get(path)
        .header(http::header::HOST, addr.to_string())
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| format!("building the request: {e}"))?;
    sender
        .send_request(req)
        .await
        .map_err(|e| format!("sending the request: {e}"))
}
