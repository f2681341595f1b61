//! Echo servers that answer with their own name and the peer address they
//! saw, and the clients that talk to them, all inside test namespaces.
use std::{
    io::{self, Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::Duration,
};

use orch_proxy::sys::in_netns;

/// How long a client waits for an answer.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// A TCP and a UDP echo server on one port of one namespace, stopped and
/// joined on drop.
#[derive(Debug)]
pub struct Echo {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Echo {
    /// Serves `name` on TCP and UDP `port` in the namespace at `netns`.
    pub fn start(netns: &Path, port: u16, name: &str) -> Self {
        let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
        let (tcp, udp) = in_netns(netns, || {
            let tcp = TcpListener::bind(addr)?;
            tcp.set_nonblocking(true)?;
            let udp = UdpSocket::bind(addr)?;
            udp.set_read_timeout(Some(Duration::from_millis(50)))?;
            Ok((tcp, udp))
        })
        .unwrap_or_else(|e| panic!("binding {addr} in {}: {e}", netns.display()));
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, me) = (stop.clone(), name.to_string());
        let tcp_thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match tcp.accept() {
                    Ok((mut s, peer)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.write_all(format!("{me} {}\n", peer.ip()).as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        });
        let (flag, me) = (stop.clone(), name.to_string());
        let udp_thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((_, peer)) = udp.recv_from(&mut buf) {
                    let _ = udp.send_to(format!("{me} {}", peer.ip()).as_bytes(), peer);
                }
            }
        });
        Self {
            stop,
            threads: vec![tcp_thread, udp_thread],
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// An echo answer: who answered, and the client address it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The server's name.
    pub name: String,
    /// The source address of the request as the server saw it.
    pub peer: Ipv4Addr,
}

fn parse(text: &str) -> io::Result<Reply> {
    let (name, peer) = text
        .trim()
        .split_once(' ')
        .ok_or_else(|| io::Error::other(format!("bad reply {text:?}")))?;
    Ok(Reply {
        name: name.to_string(),
        peer: peer.parse().map_err(io::Error::other)?,
    })
}

/// Connects over TCP from the namespace at `netns` and reads the answer.
pub fn tcp(netns: &Path, to: SocketAddr) -> io::Result<Reply> {
    in_netns(netns, || tcp_here(to))
}

/// `n` TCP requests from the namespace at `netns`.
pub fn tcp_many(netns: &Path, to: SocketAddr, n: usize) -> io::Result<Vec<Reply>> {
    in_netns(netns, || (0..n).map(|_| tcp_here(to)).collect())
}

fn tcp_here(to: SocketAddr) -> io::Result<Reply> {
    let mut s = TcpStream::connect_timeout(&to, TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    parse(&text)
}

/// A UDP client socket living in a test namespace.
#[derive(Debug)]
pub struct UdpClient(UdpSocket);

impl UdpClient {
    /// Binds an ephemeral port in the namespace at `netns`.
    pub fn bind(netns: &Path) -> Self {
        let s = in_netns(netns, || {
            let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
            s.set_read_timeout(Some(TIMEOUT))?;
            Ok(s)
        })
        .expect("binding a UDP client");
        Self(s)
    }

    /// Sends one datagram to `to` and returns the answer and where it came
    /// from.
    pub fn ask(&self, to: SocketAddr) -> io::Result<(Reply, SocketAddr)> {
        self.0.send_to(b"hello", to)?;
        let mut buf = [0u8; 512];
        let (n, from) = self.0.recv_from(&mut buf)?;
        Ok((parse(&String::from_utf8_lossy(&buf[..n]))?, from))
    }
}

/// Sends one datagram on a connected UDP socket from the namespace at
/// `netns` and waits for an answer (an ICMP error shows as the error).
pub fn udp_connected(netns: &Path, to: SocketAddr) -> io::Result<Reply> {
    in_netns(netns, || {
        let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        s.set_read_timeout(Some(TIMEOUT))?;
        s.connect(to)?;
        s.send(b"hello")?;
        let mut buf = [0u8; 512];
        let n = s.recv(&mut buf)?;
        parse(&String::from_utf8_lossy(&buf[..n]))
    })
}
