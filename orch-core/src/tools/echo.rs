//! `orch tools echo-server`: an HTTP, TCP and UDP echo server that answers
//! with its pod name and IP, so tests and the demo see which backend
//! answered (like Kubernetes' agnhost netexec).
//!
//! - HTTP `GET /` → `<name> <ip>\n`; `/hostname` → the host name;
//!   `/healthz` → `ok`; `/echo?msg=X` → `X`.
//! - TCP: writes `<name> <ip>\n`, then echoes what it receives.
//! - UDP: answers each datagram with `<name> <ip> <payload>`.
//!
//! On SIGTERM it can keep serving for a while with `/healthz` failing
//! (`delay_shutdown`), as well-behaved servers do so that in-flight
//! endpoint removals reach every proxy before the listener closes.
use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{extract::Query, http::StatusCode, routing::get, Router};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, UdpSocket},
};

/// Ports to serve (0 = off).
#[derive(Debug, Clone)]
pub struct EchoConfig {
    /// HTTP port.
    pub http: u16,
    /// TCP echo port.
    pub tcp: u16,
    /// UDP echo port.
    pub udp: u16,
    /// Name to answer with (default: `POD_NAME` or the host name).
    pub name: Option<String>,
    /// How long to keep serving after SIGTERM (with `/healthz` failing).
    pub delay_shutdown: Duration,
}

/// The identity line: `<name> <ip>`.
pub fn identity(name: Option<&str>) -> String {
    let name = name
        .map(str::to_string)
        .or_else(|| std::env::var("POD_NAME").ok())
        .unwrap_or_else(hostname);
    let ip = std::env::var("POD_IP")
        .ok()
        .unwrap_or_else(|| primary_ip().to_string());
    format!("{name} {ip}")
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into())
}

/// The first non-loopback IPv4 address, found by routing a UDP socket
/// toward a private address (nothing is sent).
fn primary_ip() -> IpAddr {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("10.255.255.255:9")?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

async fn serve_http(port: u16, id: String, stopping: Arc<AtomicBool>) -> std::io::Result<()> {
    let id2 = id.clone();
    let app = Router::new()
        .route("/", get(move || async move { format!("{id2}\n") }))
        .route("/hostname", get(|| async { hostname() }))
        .route(
            "/healthz",
            get(move || async move {
                if stopping.load(Ordering::Relaxed) {
                    (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
                } else {
                    (StatusCode::OK, "ok")
                }
            }),
        )
        .route(
            "/echo",
            get(
                |Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    q.get("msg").cloned().unwrap_or_default()
                },
            ),
        );
    let l = TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await?;
    axum::serve(l, app).await
}

async fn serve_tcp(port: u16, id: String) -> std::io::Result<()> {
    let l = TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await?;
    loop {
        let (mut s, _) = l.accept().await?;
        let line = format!("{id}\n");
        tokio::spawn(async move {
            if s.write_all(line.as_bytes()).await.is_err() {
                return;
            }
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
    }
}

async fn serve_udp(port: u16, id: String) -> std::io::Result<()> {
    let s = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], port))).await?;
    let mut buf = [0u8; 65536];
    loop {
        let (n, peer) = s.recv_from(&mut buf).await?;
        let mut reply = format!("{id} ").into_bytes();
        reply.extend_from_slice(&buf[..n]);
        let _ = s.send_to(&reply, peer).await;
    }
}

/// Returns `delay` after SIGTERM, having set `stopping` at once.
async fn stop_on_sigterm(delay: Duration, stopping: Arc<AtomicBool>) -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    term.recv().await;
    stopping.store(true, Ordering::Relaxed);
    tokio::time::sleep(delay).await;
    Ok(())
}

/// Serves until an error or SIGTERM (plus `delay_shutdown`).
pub async fn run(cfg: EchoConfig) -> std::io::Result<()> {
    let id = identity(cfg.name.as_deref());
    let stopping = Arc::new(AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(stop_on_sigterm(cfg.delay_shutdown, Arc::clone(&stopping)));
    if cfg.http != 0 {
        tasks.spawn(serve_http(cfg.http, id.clone(), stopping));
    }
    if cfg.tcp != 0 {
        tasks.spawn(serve_tcp(cfg.tcp, id.clone()));
    }
    if cfg.udp != 0 {
        tasks.spawn(serve_udp(cfg.udp, id.clone()));
    }
    match tasks.join_next().await {
        Some(Ok(r)) => r,
        Some(Err(e)) => Err(std::io::Error::other(e)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_with_identity_over_tcp_udp_and_http() {
        let pick = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (http, tcp) = (pick(), pick());
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = tokio::spawn(run(EchoConfig {
            http,
            tcp,
            udp,
            name: Some("web-1".into()),
            delay_shutdown: Duration::ZERO,
        }));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", tcp))
            .await
            .unwrap();
        let mut buf = vec![0u8; 128];
        let n = s.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("web-1 "));
        s.write_all(b"ping").await.unwrap();
        let n = s.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ping");
        let u = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        u.send_to(b"hello", ("127.0.0.1", udp)).await.unwrap();
        let (n, _) = tokio::time::timeout(std::time::Duration::from_secs(2), u.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let r = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(r.starts_with("web-1 ") && r.ends_with(" hello"), "{r}");
        let mut h = tokio::net::TcpStream::connect(("127.0.0.1", http))
            .await
            .unwrap();
        h.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let mut resp = String::new();
        h.read_to_string(&mut resp).await.unwrap();
        assert!(
            resp.starts_with("HTTP/1.0 200") && resp.contains("\r\n\r\nweb-1 "),
            "{resp}"
        );
        server.abort();
    }
}
