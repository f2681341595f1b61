//! An orch-dns served on 127.0.0.1 (random port) whose zones the test
//! feeds with synthetic Services and EndpointSlices, and hickory's DNS
//! client over UDP and TCP to ask it.
#![allow(dead_code)]

use std::{net::SocketAddr, str::FromStr, time::Duration};

use hickory_server::{
    net::{
        client::{Client, ClientHandle},
        runtime::TokioRuntimeProvider,
        tcp::TcpClientStream,
        udp::UdpClientStream,
    },
    proto::{
        op::{Message, ResponseCode},
        rr::{DNSClass, Name, RData, Record, RecordType},
    },
};
use k8s_openapi::api::{core::v1::Service, discovery::v1::EndpointSlice};
use orch_dns::{cluster::ClusterState, config::Settings, Running};
use serde_json::{json, Value};

/// A served zone and the state feeding it.
pub struct Dns {
    pub running: Running,
    pub state: ClusterState,
}

impl Dns {
    /// A server on 127.0.0.1 with the default zones and no forwarding.
    pub async fn start() -> Self {
        Self::start_with(Settings::local("127.0.0.1:0".parse().unwrap())).await
    }

    /// A server with these settings.
    pub async fn start_with(settings: Settings) -> Self {
        let running = orch_dns::start(&settings, None)
            .await
            .expect("starting orch-dns");
        let state = running.new_state();
        running.ready.mark_ready();
        Self { running, state }
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.dns_addr
    }

    pub async fn udp(&self, name: &str, t: RecordType) -> Message {
        udp_query(self.addr(), name, t, true).await
    }

    pub async fn udp_plain(&self, name: &str, t: RecordType) -> Message {
        udp_query(self.addr(), name, t, false).await
    }

    pub async fn tcp(&self, name: &str, t: RecordType) -> Message {
        tcp_query(self.addr(), name, t).await
    }

    /// Asks over UDP (the fast path when it can) and over TCP (the
    /// hickory-server path), checks both answered alike, and returns the
    /// UDP answer.
    pub async fn ask(&self, name: &str, t: RecordType) -> Message {
        let u = self.udp(name, t).await;
        let c = self.tcp(name, t).await;
        assert_eq!(
            u.metadata.response_code, c.metadata.response_code,
            "{name} {t}: rcode differs between UDP and TCP"
        );
        assert_eq!(
            u.answers, c.answers,
            "{name} {t}: answers differ between UDP and TCP"
        );
        assert_eq!(
            u.authorities, c.authorities,
            "{name} {t}: authorities differ between UDP and TCP"
        );
        assert_eq!(
            u.additionals, c.additionals,
            "{name} {t}: additionals differ between UDP and TCP"
        );
        assert_eq!(u.metadata.authoritative, c.metadata.authoritative);
        u
    }
}

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

pub async fn udp_query(addr: SocketAddr, q: &str, t: RecordType, edns: bool) -> Message {
    let conn = UdpClientStream::builder(addr, TokioRuntimeProvider::default())
        .with_timeout(Some(Duration::from_secs(3)))
        .build();
    let (mut client, bg) = Client::<TokioRuntimeProvider>::from_sender(conn);
    tokio::spawn(bg);
    if !edns {
        client.disable_edns();
    }
    let r = client
        .query(name(q), DNSClass::IN, t)
        .await
        .unwrap_or_else(|e| panic!("UDP query {q} {t}: {e}"));
    r.into_message()
}

pub async fn tcp_query(addr: SocketAddr, q: &str, t: RecordType) -> Message {
    let (stream, sender) = TcpClientStream::new(
        addr,
        None,
        Some(Duration::from_secs(3)),
        TokioRuntimeProvider::default(),
    );
    let (mut client, bg) = Client::<TokioRuntimeProvider>::new(stream.await.unwrap(), sender);
    tokio::spawn(bg);
    let r = client
        .query(name(q), DNSClass::IN, t)
        .await
        .unwrap_or_else(|e| panic!("TCP query {q} {t}: {e}"));
    r.into_message()
}

/// The record data of a section, as text (`A 10.96.0.1`).
pub fn datas(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| format!("{} {}", r.record_type(), r.data))
        .collect()
}

/// Owner names of a section.
pub fn owners(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.name.to_ascii()).collect()
}

pub fn rcode(m: &Message) -> ResponseCode {
    m.metadata.response_code
}

/// Checks a negative answer: `rcode`, no answer, the SOA of `zone` in
/// authority, nothing additional.
pub fn assert_negative(m: &Message, code: ResponseCode, zone: &str) {
    assert_eq!(rcode(m), code, "{m:?}");
    assert!(m.answers.is_empty(), "answers: {:?}", m.answers);
    assert_eq!(m.authorities.len(), 1, "authorities: {:?}", m.authorities);
    let soa = &m.authorities[0];
    assert_eq!(soa.record_type(), RecordType::SOA);
    assert_eq!(soa.name.to_ascii(), zone);
    assert!(matches!(soa.data, RData::SOA(_)));
    assert!(m.additionals.is_empty(), "additionals: {:?}", m.additionals);
    assert!(m.metadata.authoritative);
}

pub fn service(ns: &str, name: &str, spec: Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }))
    .unwrap()
}

/// An endpoint: address, hostname, ready.
pub fn ep(ip: &str, hostname: Option<&str>, ready: bool) -> Value {
    let mut v = json!({"addresses": [ip], "conditions": {"ready": ready}});
    if let Some(h) = hostname {
        v["hostname"] = json!(h);
    }
    v
}

pub fn slice(
    ns: &str,
    name: &str,
    svc: &str,
    family: &str,
    endpoints: Vec<Value>,
    ports: Value,
) -> EndpointSlice {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": svc}},
        "addressType": family,
        "endpoints": endpoints,
        "ports": ports,
    }))
    .unwrap()
}

/// Sends raw bytes over UDP and returns the reply, if one comes within
/// `wait`.
pub async fn raw_udp(addr: SocketAddr, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(bytes, addr).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    match tokio::time::timeout(wait, sock.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

/// A query in wire form: id, RD set, one question, optional EDNS OPT.
pub fn raw_query(id: u16, qname: &str, qtype: u16, edns: Option<u16>) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
    for label in qname.trim_end_matches('.').split('.') {
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.push(0);
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes());
    if let Some(size) = edns {
        p.extend_from_slice(&[0, 0, 41]);
        p.extend_from_slice(&size.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    p
}

/// Sends one length-prefixed message over a new TCP connection and returns
/// the reply, if one comes within `wait`.
pub async fn raw_tcp(addr: SocketAddr, msg: &[u8], wait: Duration) -> Option<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(msg);
    s.write_all(&framed).await.ok()?;
    let read = async {
        let mut len = [0u8; 2];
        s.read_exact(&mut len).await.ok()?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut buf).await.ok()?;
        Some(buf)
    };
    tokio::time::timeout(wait, read).await.ok().flatten()
}

/// A small deterministic pseudo-random generator (xorshift64*), so fuzz
/// inputs are the same on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}
