//! Malformed packets never crash the server and never stop it answering:
//! garbage, truncated and mutated queries over UDP and TCP, crafted
//! name-compression loops, bad EDNS records, responses sent as queries.
//! Whatever comes back must be a well-formed response with the query's id.
mod support;

use std::time::Duration;

use hickory_server::proto::{
    op::{Message, ResponseCode},
    rr::RecordType,
};
use serde_json::json;
use support::{raw_query, raw_tcp, raw_udp, service, Dns, Rng};

const WAIT: Duration = Duration::from_millis(300);

async fn server() -> Dns {
    let mut dns = Dns::start().await;
    dns.state.apply_service(&service(
        "default",
        "web",
        json!({"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80}]}),
    ));
    dns
}

/// The server still answers a normal query on both transports.
async fn still_answers(dns: &Dns) {
    let m = dns
        .ask("web.default.svc.cluster.local.", RecordType::A)
        .await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 1);
}

/// A reply, if any, must decode as a response to `sent`.
fn check_reply(sent: &[u8], reply: Option<Vec<u8>>) {
    let Some(r) = reply else { return };
    assert!(r.len() >= 12, "reply shorter than a header: {r:?}");
    if sent.len() >= 2 {
        assert_eq!(r[..2], sent[..2], "reply id differs");
    }
    assert!(r[2] & 0x80 != 0, "reply is not a response");
    Message::from_vec(&r).unwrap_or_else(|e| panic!("reply does not decode ({e}): {r:?}"));
}

fn crafted() -> Vec<(&'static str, Vec<u8>)> {
    let good = raw_query(0x1234, "web.default.svc.cluster.local.", 1, None);
    let mut cases = vec![
        ("empty", vec![]),
        ("one byte", vec![0]),
        ("header only, one question announced", {
            let mut p = good[..12].to_vec();
            p[5] = 1;
            p
        }),
        ("label longer than the packet", {
            let mut p = good[..12].to_vec();
            p.extend_from_slice(&[60, b'a', b'b']);
            p
        }),
        ("compression pointer to itself", {
            let mut p = good[..12].to_vec();
            p.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
            p
        }),
        ("compression pointer loop", {
            let mut p = good[..12].to_vec();
            p.extend_from_slice(&[1, b'a', 0xc0, 12, 0, 1, 0, 1]);
            p
        }),
        ("pointer past the end", {
            let mut p = good[..12].to_vec();
            p.extend_from_slice(&[0xc0, 0xff, 0, 1, 0, 1]);
            p
        }),
        ("name longer than 255 bytes", {
            let mut p = good[..12].to_vec();
            for _ in 0..10 {
                p.push(63);
                p.extend(std::iter::repeat_n(b'x', 63));
            }
            p.extend_from_slice(&[0, 0, 1, 0, 1]);
            p
        }),
        ("OPT with a bad length", {
            let mut p = raw_query(7, "web.default.svc.cluster.local.", 1, Some(1232));
            let n = p.len();
            p[n - 1] = 40;
            p
        }),
        ("OPT version 1", {
            let mut p = raw_query(8, "web.default.svc.cluster.local.", 1, Some(1232));
            let n = p.len();
            p[n - 5] = 1;
            p
        }),
        ("two OPT records", {
            let mut p = raw_query(9, "web.default.svc.cluster.local.", 1, Some(1232));
            p[11] = 2;
            p.extend_from_slice(&[0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
            p
        }),
        ("three questions announced, one sent", {
            let mut p = good.clone();
            p[5] = 3;
            p
        }),
        ("answers in a query", {
            let mut p = good.clone();
            p[7] = 5;
            p
        }),
        ("a response", {
            let mut p = good.clone();
            p[2] |= 0x80;
            p
        }),
        ("unknown opcode", {
            let mut p = good.clone();
            p[2] = (p[2] & 0x87) | (9 << 3);
            p
        }),
        ("class CHAOS", {
            let mut p = good.clone();
            let n = p.len();
            p[n - 1] = 3;
            p
        }),
        ("trailing garbage", {
            let mut p = good.clone();
            p.extend_from_slice(&[1, 2, 3, 4, 5]);
            p
        }),
        (
            "query type 0",
            raw_query(10, "web.default.svc.cluster.local.", 0, None),
        ),
        (
            "query type AXFR",
            raw_query(11, "cluster.local.", 252, None),
        ),
        (
            "query type ANY",
            raw_query(12, "web.default.svc.cluster.local.", 255, None),
        ),
        ("huge garbage", Rng(7).bytes(65_000)),
    ];
    // Every prefix of a good query with EDNS.
    let edns = raw_query(
        0x4321,
        "_http._tcp.web.default.svc.cluster.local.",
        33,
        Some(1232),
    );
    for n in 0..edns.len() {
        cases.push(("truncated query", edns[..n].to_vec()));
    }
    cases
}

#[tokio::test]
async fn crafted_packets_over_udp() {
    let dns = server().await;
    for (what, p) in crafted() {
        let reply = raw_udp(dns.addr(), &p, WAIT).await;
        if what == "a response" || p.len() < 12 {
            assert!(reply.is_none(), "{what}: answered");
        }
        check_reply(&p, reply);
    }
    still_answers(&dns).await;
    assert!(dns.running.stats.dropped_total() > 0);
}

#[tokio::test]
async fn crafted_packets_over_tcp() {
    let dns = server().await;
    for (what, p) in crafted() {
        if p.len() > 60_000 {
            continue;
        }
        let reply = raw_tcp(dns.addr(), &p, WAIT).await;
        if what == "a response" {
            assert!(reply.is_none(), "{what}: answered");
        }
        check_reply(&p, reply);
    }
    still_answers(&dns).await;
}

#[tokio::test]
async fn broken_tcp_framing() {
    use tokio::io::AsyncWriteExt;
    let dns = server().await;
    // A length prefix promising more than ever comes, then a close.
    let mut s = tokio::net::TcpStream::connect(dns.addr()).await.unwrap();
    s.write_all(&[0xff, 0xff, 1, 2, 3]).await.unwrap();
    drop(s);
    // Half a length prefix.
    let mut s = tokio::net::TcpStream::connect(dns.addr()).await.unwrap();
    s.write_all(&[0x00]).await.unwrap();
    drop(s);
    // A zero-length message.
    let mut s = tokio::net::TcpStream::connect(dns.addr()).await.unwrap();
    s.write_all(&[0, 0]).await.unwrap();
    drop(s);
    // Idle connections do not block others.
    let _idle = tokio::net::TcpStream::connect(dns.addr()).await.unwrap();
    still_answers(&dns).await;
}

#[tokio::test]
async fn mutated_queries_over_udp() {
    let dns = server().await;
    let seeds = [
        raw_query(1, "web.default.svc.cluster.local.", 1, Some(1232)),
        raw_query(2, "_http._tcp.web.default.svc.cluster.local.", 33, None),
        raw_query(3, "20.0.96.10.in-addr.arpa.", 12, Some(4096)),
        raw_query(4, "10-244-1-5.default.pod.cluster.local.", 1, None),
    ];
    let mut rng = Rng(0x5eed);
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..3000 {
        let mut p = seeds[i % seeds.len()].clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(p.len());
            p[at] ^= 1 << rng.below(8);
        }
        if rng.below(4) == 0 {
            p.truncate(rng.below(p.len()));
        }
        sock.send_to(&p, dns.addr()).await.unwrap();
        // Drain what came back without waiting for every reply.
        let mut buf = [0u8; 2048];
        while let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(1), sock.recv_from(&mut buf)).await
        {
            assert!(n >= 12);
            assert!(buf[2] & 0x80 != 0);
        }
    }
    still_answers(&dns).await;
}
