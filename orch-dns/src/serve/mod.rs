//! Serving DNS: UDP through our own sockets and the fast path ([`udp`],
//! [`fast`]) or, if asked, through hickory-server's loop; TCP through
//! hickory-server's listener. Both end in the same [`handler::DnsHandler`]
//! when the fast path cannot answer.
pub mod fast;
pub mod handler;
pub mod reply;
pub mod udp;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use hickory_server::Server;

use self::{
    handler::DnsHandler,
    udp::{UdpContext, UdpWorkers},
};
use crate::{
    error::DnsError,
    metrics::Stats,
    zone::{Table, Zones},
};

/// Idle TCP connections are closed after this long.
const TCP_TIMEOUT: Duration = Duration::from_secs(10);

/// What serving needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The address (port 0: any free port, the same for UDP and TCP).
    pub listen: SocketAddr,
    /// UDP sockets and threads.
    pub udp_workers: usize,
    /// UDP through hickory-server's loop instead of ours.
    pub hickory_udp: bool,
}

/// Running listeners.
pub struct Serving {
    /// The bound address (UDP and TCP).
    pub addr: SocketAddr,
    server: Server<DnsHandler>,
    udp: Option<UdpWorkers>,
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving").field("addr", &self.addr).finish()
    }
}

impl Serving {
    /// Stops listening.
    pub async fn stop(mut self) {
        if let Some(u) = self.udp.take() {
            let _ = tokio::task::spawn_blocking(move || u.stop()).await;
        }
        if let Err(e) = self.server.shutdown_gracefully().await {
            tracing::debug!(error = %e, "stopping the DNS server");
        }
    }
}

/// Binds UDP and TCP on `cfg.listen` and starts answering.
pub async fn start(
    cfg: &ServeConfig,
    handler: DnsHandler,
    table: Arc<Table>,
    zones: Arc<Zones>,
    stats: Arc<Stats>,
) -> Result<Serving, DnsError> {
    // With port 0, UDP picks the port and TCP must get the same one; retry
    // on the rare clash.
    let attempts = if cfg.listen.port() == 0 { 8 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let workers = if cfg.hickory_udp { 1 } else { cfg.udp_workers };
        let sockets = udp::bind(cfg.listen, workers).map_err(|source| DnsError::Listen {
            addr: cfg.listen,
            source,
        })?;
        let addr = sockets[0].local_addr().map_err(|source| DnsError::Listen {
            addr: cfg.listen,
            source,
        })?;
        let tcp = match tokio::net::TcpListener::bind(addr).await {
            Ok(t) => t,
            Err(source) => {
                last = Some(DnsError::Listen { addr, source });
                continue;
            }
        };
        let mut server = Server::new(handler.clone());
        server.register_listener(tcp, TCP_TIMEOUT, 64);
        let udp = if cfg.hickory_udp {
            let mut sockets = sockets;
            let s = sockets.remove(0);
            let listen = |source| DnsError::Listen { addr, source };
            s.set_nonblocking(true).map_err(listen)?;
            server.register_socket(tokio::net::UdpSocket::from_std(s).map_err(listen)?);
            None
        } else {
            let ctx = Arc::new(UdpContext {
                table: table.clone(),
                zones: zones.clone(),
                stats: stats.clone(),
                handler: handler.clone(),
                runtime: tokio::runtime::Handle::current(),
            });
            Some(udp::start(sockets, ctx).map_err(|source| DnsError::Listen { addr, source })?)
        };
        return Ok(Serving { addr, server, udp });
    }
    Err(last.unwrap_or(DnsError::Listen {
        addr: cfg.listen,
        source: std::io::Error::other("no free port"),
    }))
}
