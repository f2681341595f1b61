//! A small upstream DNS server for forwarding tests: hickory-server on a
//! free loopback port, knowing the names it is given (A records, TTL 300),
//! NXDOMAIN for the rest, and counting the queries it gets.
use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, SocketAddr},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::Result;
use hickory_server::{
    net::runtime::Time,
    proto::{
        op::{Metadata, ResponseCode},
        rr::{rdata::A, LowerName, Name, RData, Record, RecordType},
    },
    server::{Request, RequestHandler, ResponseHandler, ResponseInfo},
    zone_handler::MessageResponseBuilder,
    Server,
};

#[derive(Clone)]
struct Handler {
    names: Arc<BTreeMap<LowerName, Ipv4Addr>>,
    asked: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let mut meta = Metadata::response_from_request(&request.metadata);
        meta.recursion_available = true;
        let mut answers = Vec::new();
        match request.queries.queries().first() {
            Some(q) => {
                match self.names.get(q.name()) {
                    Some(ip) if q.query_type() == RecordType::A => answers.push(
                        Record::from_rdata(Name::from(q.name().clone()), 300, RData::A(A(*ip))),
                    ),
                    Some(_) => {}
                    None => meta.response_code = ResponseCode::NXDomain,
                }
            }
            None => meta.response_code = ResponseCode::FormErr,
        }
        let resp = MessageResponseBuilder::from_message_request(request).build(
            meta,
            answers.iter(),
            [],
            [],
            [],
        );
        match response_handle.send_response(resp).await {
            Ok(info) => info,
            Err(_) => ResponseInfo::from(hickory_server::proto::op::Header {
                metadata: meta,
                counts: Default::default(),
            }),
        }
    }
}

/// A running upstream.
pub struct Upstream {
    /// Its address (UDP and TCP).
    pub addr: SocketAddr,
    asked: Arc<AtomicUsize>,
    _server: Server<Handler>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Upstream {
    /// Starts serving `names` (name → IPv4) on 127.0.0.1.
    pub async fn start(names: &[(&str, Ipv4Addr)]) -> Result<Self> {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let tcp = std::net::TcpListener::bind(udp.local_addr()?)?;
        Self::serve(udp, tcp, names)
    }

    /// Starts serving `names` on `addr` inside the network namespace at
    /// `netns` (for clients in other namespaces, such as a cluster's DNS).
    pub async fn start_in(
        netns: &std::path::Path,
        addr: SocketAddr,
        names: &[(&str, Ipv4Addr)],
    ) -> Result<Self> {
        let (udp, tcp) = orch_proxy::sys::in_netns(netns, || {
            Ok((
                std::net::UdpSocket::bind(addr)?,
                std::net::TcpListener::bind(addr)?,
            ))
        })?;
        Self::serve(udp, tcp, names)
    }

    /// Serves `names` on these sockets (needs a Tokio runtime).
    fn serve(
        udp: std::net::UdpSocket,
        tcp: std::net::TcpListener,
        names: &[(&str, Ipv4Addr)],
    ) -> Result<Self> {
        let mut map = BTreeMap::new();
        for (n, ip) in names {
            map.insert(LowerName::from(Name::from_ascii(n)?), *ip);
        }
        let asked = Arc::new(AtomicUsize::new(0));
        let handler = Handler {
            names: Arc::new(map),
            asked: asked.clone(),
        };
        let addr = udp.local_addr()?;
        udp.set_nonblocking(true)?;
        tcp.set_nonblocking(true)?;
        let mut server = Server::new(handler);
        server.register_socket(tokio::net::UdpSocket::from_std(udp)?);
        server.register_listener(
            tokio::net::TcpListener::from_std(tcp)?,
            Duration::from_secs(5),
            16,
        );
        Ok(Self {
            addr,
            asked,
            _server: server,
        })
    }

    /// Queries received so far.
    pub fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
}
