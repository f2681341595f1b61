//! UDP: several sockets bound to the same address with `SO_REUSEPORT` (the
//! kernel spreads clients over them), each read by its own thread with
//! blocking calls. A thread answers what the fast path can and hands the
//! rest to the tokio runtime (hickory-server's catalog), with a bound on
//! how many such queries are in flight.
use std::{
    io,
    net::{SocketAddr, UdpSocket},
    os::fd::AsRawFd,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn, SockaddrIn6};
use tokio::sync::Semaphore;

use super::{
    fast::{self, Fast},
    handler::DnsHandler,
    reply::UdpReply,
};
use crate::{
    metrics::Stats,
    zone::{Table, Zones},
};

/// Queries passed to the slow path that may be in flight at once; beyond
/// that, packets are dropped (clients retry).
const MAX_SLOW_IN_FLIGHT: usize = 4096;

/// How often a blocked thread looks at the stop flag.
const POLL: Duration = Duration::from_millis(200);

/// What the UDP threads share.
#[derive(Debug)]
pub struct UdpContext {
    /// Compiled answers.
    pub table: Arc<Table>,
    /// Our zones.
    pub zones: Arc<Zones>,
    /// Counters.
    pub stats: Arc<Stats>,
    /// The slow path.
    pub handler: DnsHandler,
    /// Where slow-path queries run.
    pub runtime: tokio::runtime::Handle,
}

/// The running UDP threads.
#[derive(Debug)]
pub struct UdpWorkers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl UdpWorkers {
    /// Stops the threads and waits for them.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// A UDP socket on `addr` with `SO_REUSEPORT` set.
fn reuseport_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket::socket(family, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)?;
    socket::setsockopt(&fd, sockopt::ReusePort, &true)?;
    // A larger receive buffer absorbs bursts; the kernel may cap it.
    let _ = socket::setsockopt(&fd, sockopt::RcvBuf, &(4 << 20));
    match addr {
        SocketAddr::V4(a) => socket::bind(fd.as_raw_fd(), &SockaddrIn::from(a))?,
        SocketAddr::V6(a) => socket::bind(fd.as_raw_fd(), &SockaddrIn6::from(a))?,
    }
    Ok(UdpSocket::from(fd))
}

/// `n` sockets sharing one address; port 0 picks a free port for all.
pub fn bind(addr: SocketAddr, n: usize) -> io::Result<Vec<UdpSocket>> {
    let first = reuseport_socket(addr)?;
    let bound = first.local_addr()?;
    let mut out = vec![first];
    for _ in 1..n.max(1) {
        out.push(reuseport_socket(bound)?);
    }
    Ok(out)
}

/// Starts one thread per socket.
pub fn start(sockets: Vec<UdpSocket>, ctx: Arc<UdpContext>) -> io::Result<UdpWorkers> {
    let stop = Arc::new(AtomicBool::new(false));
    let permits = Arc::new(Semaphore::new(MAX_SLOW_IN_FLIGHT));
    let mut threads = Vec::new();
    for (shard, sock) in sockets.into_iter().enumerate() {
        sock.set_read_timeout(Some(POLL))?;
        let (ctx, stop, permits) = (ctx.clone(), stop.clone(), permits.clone());
        threads.push(
            std::thread::Builder::new()
                .name(format!("dns-udp-{shard}"))
                .spawn(move || serve(Arc::new(sock), shard, &ctx, &stop, &permits))?,
        );
    }
    Ok(UdpWorkers { stop, threads })
}

fn serve(
    sock: Arc<UdpSocket>,
    shard: usize,
    ctx: &UdpContext,
    stop: &AtomicBool,
    permits: &Arc<Semaphore>,
) {
    let mut buf = vec![0u8; 65_535];
    let mut out = Vec::with_capacity(usize::from(fast::MAX_UDP));
    while !stop.load(Ordering::Relaxed) {
        let (n, src) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => {
                tracing::warn!(error = %e, "receiving on UDP");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let started = Instant::now();
        if src.port() == 0 {
            ctx.stats.dropped();
            continue;
        }
        match fast::answer(&buf[..n], &mut out, &ctx.table, &ctx.zones) {
            Fast::Answered { qtype, rcode } => {
                // Counted before sending, so a client that saw the answer
                // also sees it counted.
                ctx.stats.record(shard, qtype, rcode, started.elapsed());
                if let Err(e) = sock.send_to(&out, src) {
                    tracing::debug!(error = %e, %src, "sending a UDP answer");
                }
            }
            Fast::Drop => ctx.stats.dropped(),
            Fast::Slow => {
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    ctx.stats.dropped();
                    continue;
                };
                let raw = buf[..n].to_vec();
                let reply = UdpReply::new(sock.clone(), src);
                let handler = ctx.handler.clone();
                ctx.runtime.spawn(async move {
                    handler.handle_udp(raw, src, reply, started).await;
                    drop(permit);
                });
            }
        }
    }
}
