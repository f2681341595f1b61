//! Forwarding: names outside our zones go to an upstream this test starts
//! itself (a hickory-server on 127.0.0.1, counting what it is asked), and
//! its answers are cached for their TTL. ExternalName targets outside the
//! cluster are followed through it.
mod support;

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use hickory_server::{
    net::runtime::Time,
    proto::{
        op::{Metadata, ResponseCode},
        rr::{rdata::A, Name, RData, Record, RecordType},
    },
    server::{Request, RequestHandler, ResponseHandler, ResponseInfo},
    zone_handler::MessageResponseBuilder,
    Server,
};
use orch_dns::config::Settings;
use serde_json::json;
use support::{datas, rcode, service, Dns};

/// An upstream knowing one name, `www.example.test` A 192.0.2.1 (TTL 300).
#[derive(Clone, Default)]
struct Upstream {
    asked: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl RequestHandler for Upstream {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let q = request.queries.queries()[0].clone();
        let name = Name::from(q.name().clone());
        let mut meta = Metadata::response_from_request(&request.metadata);
        meta.recursion_available = true;
        let mut answers = Vec::new();
        if name == Name::from_ascii("www.example.test.").unwrap() {
            if q.query_type() == RecordType::A {
                answers.push(Record::from_rdata(
                    name,
                    300,
                    RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
                ));
            }
        } else {
            meta.response_code = ResponseCode::NXDomain;
        }
        let resp = MessageResponseBuilder::from_message_request(request).build(
            meta,
            answers.iter(),
            [],
            [],
            [],
        );
        response_handle.send_response(resp).await.unwrap()
    }
}

async fn upstream() -> (SocketAddr, Upstream, Server<Upstream>) {
    let handler = Upstream::default();
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
    let mut server = Server::new(handler.clone());
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 16);
    (addr, handler, server)
}

async fn forwarding() -> (Dns, Upstream, Server<Upstream>) {
    let (addr, up, server) = upstream().await;
    let mut settings = Settings::local("127.0.0.1:0".parse().unwrap());
    settings.upstreams = vec![addr];
    (Dns::start_with(settings).await, up, server)
}

#[tokio::test]
async fn other_names_are_forwarded_and_cached() {
    let (dns, up, _server) = forwarding().await;
    let m = dns.udp("www.example.test.", RecordType::A).await;
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert_eq!(datas(&m.answers), ["A 192.0.2.1"]);
    assert!(!m.metadata.authoritative);
    assert!(m.metadata.recursion_available);
    assert!(m.answers[0].ttl <= 300 && m.answers[0].ttl > 250);
    let asked = up.asked.load(Ordering::SeqCst);
    assert!(asked >= 1);
    // Cached: the upstream is not asked again, over either transport.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let m = dns.udp("www.example.test.", RecordType::A).await;
    assert_eq!(datas(&m.answers), ["A 192.0.2.1"]);
    assert!(m.answers[0].ttl < 300, "the cached TTL counts down");
    let m = dns.tcp("www.example.test.", RecordType::A).await;
    assert_eq!(datas(&m.answers), ["A 192.0.2.1"]);
    assert_eq!(up.asked.load(Ordering::SeqCst), asked);
    assert!(dns.running.stats.forwarded_total() >= 3);

    let m = dns.udp("nowhere.example.test.", RecordType::A).await;
    assert_eq!(rcode(&m), ResponseCode::NXDomain);
}

#[tokio::test]
async fn cluster_names_are_not_forwarded() {
    let (dns, up, _server) = forwarding().await;
    let m = dns
        .udp("nope.default.svc.cluster.local.", RecordType::A)
        .await;
    assert_eq!(rcode(&m), ResponseCode::NXDomain);
    let m = dns.udp("99.0.96.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(rcode(&m), ResponseCode::NXDomain);
    assert_eq!(up.asked.load(Ordering::SeqCst), 0);
    // Reverse names outside our CIDRs are the upstream's.
    let m = dns.udp("1.2.0.192.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(rcode(&m), ResponseCode::NXDomain);
    assert!(up.asked.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn external_names_are_followed_through_the_upstream() {
    let (mut dns, _up, _server) = forwarding().await;
    dns.state.apply_service(&service(
        "default",
        "ext",
        json!({"type": "ExternalName", "externalName": "www.example.test"}),
    ));
    let m = dns
        .ask("ext.default.svc.cluster.local.", RecordType::A)
        .await;
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert_eq!(
        datas(&m.answers),
        ["CNAME www.example.test.", "A 192.0.2.1"]
    );
}
