//! Operations: `/healthz`, `/readyz` (not ready until the first lists are
//! in), `/metrics` (queries by type and code, latency, table size), and
//! UDP through hickory-server's own loop when asked.
mod support;

use std::time::Duration;

use hickory_server::proto::{op::ResponseCode, rr::RecordType};
use orch_dns::config::Settings;
use serde_json::json;
use support::{datas, rcode, service};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `GET path` over HTTP/1.1: status and body.
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut text))
        .await
        .unwrap()
        .unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let mut settings = Settings::local("127.0.0.1:0".parse().unwrap());
    settings.http_listen = Some("127.0.0.1:0".parse().unwrap());
    let running = orch_dns::start(&settings, None).await.unwrap();
    let http = running.http_addr.unwrap();
    assert_eq!(get(http, "/healthz").await.0, 200);
    let (code, body) = get(http, "/readyz").await;
    assert_eq!(code, 503);
    assert!(
        body.contains("services") && body.contains("endpointslices"),
        "{body}"
    );
    let mut state = running.new_state();
    state.apply_service(&service(
        "default",
        "web",
        json!({"clusterIP": "10.96.0.20"}),
    ));
    running.ready.mark_ready();
    assert_eq!(get(http, "/readyz").await.0, 200);

    let addr = running.dns_addr;
    for _ in 0..3 {
        let m =
            support::udp_query(addr, "web.default.svc.cluster.local.", RecordType::A, true).await;
        assert_eq!(rcode(&m), ResponseCode::NoError);
    }
    let m = support::tcp_query(addr, "nope.default.svc.cluster.local.", RecordType::AAAA).await;
    assert_eq!(rcode(&m), ResponseCode::NXDomain);
    let wanted = [
        "orch_dns_queries_total{type=\"A\",rcode=\"NOERROR\"} 3",
        "orch_dns_queries_total{type=\"AAAA\",rcode=\"NXDOMAIN\"} 1",
        "orch_dns_query_duration_seconds_count 4",
        "orch_dns_forwarded_queries_total 0",
    ];
    // The hickory-server path counts a query once its answer is sent.
    let mut text = String::new();
    for _ in 0..50 {
        let (code, t) = get(http, "/metrics").await;
        assert_eq!(code, 200);
        text = t;
        if wanted.iter().all(|w| text.contains(w)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    for want in wanted {
        assert!(text.contains(want), "{want} missing from\n{text}");
    }
    let names: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("orch_dns_cache_names "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(names >= 4.0, "{text}");
    running.stop().await;
}

#[tokio::test]
async fn hickory_udp_loop_answers_the_same() {
    let mut settings = Settings::local("127.0.0.1:0".parse().unwrap());
    settings.hickory_udp = true;
    let mut dns = support::Dns::start_with(settings).await;
    dns.state.apply_service(&service(
        "default",
        "web",
        json!({"clusterIP": "10.96.0.20"}),
    ));
    let m = dns
        .ask("web.default.svc.cluster.local.", RecordType::A)
        .await;
    assert_eq!(datas(&m.answers), ["A 10.96.0.20"]);
    let m = dns
        .ask("nope.default.svc.cluster.local.", RecordType::A)
        .await;
    assert_eq!(rcode(&m), ResponseCode::NXDomain);
}
