//! Every record form of the Kubernetes DNS specification, asked with
//! hickory's client over UDP (fast path) and TCP (hickory-server path):
//! rcode, answer, authority and additional sections. The zones are fed
//! synthetic Services and EndpointSlices; no API server is involved.
mod support;

use hickory_server::proto::{
    op::ResponseCode,
    rr::{RData, RecordType},
};
use serde_json::json;
use support::{assert_negative, datas, ep, owners, rcode, service, slice, Dns};

const WEB: &str = "web.default.svc.cluster.local.";

/// `web`: ClusterIP 10.96.0.20 (and fd00:10:96::20), ports http/80 and an
/// unnamed 9000/UDP, with two ready endpoints (one without hostname) and
/// one not ready.
async fn with_web() -> Dns {
    let mut dns = Dns::start().await;
    dns.state.apply_service(&service(
        "default",
        "web",
        json!({
            "clusterIP": "10.96.0.20",
            "clusterIPs": ["10.96.0.20", "fd00:10:96::20"],
            "ports": [
                {"name": "http", "port": 80, "protocol": "TCP"},
                {"port": 9000, "protocol": "UDP"}
            ]
        }),
    ));
    dns.state.apply_slice(&slice(
        "default",
        "web-abc",
        "web",
        "IPv4",
        vec![
            ep("10.244.1.5", None, true),
            ep("10.244.2.6", Some("web-1"), true),
            ep("10.244.3.7", Some("web-2"), false),
        ],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}]),
    ));
    dns
}

#[tokio::test]
async fn cluster_ip_a_and_aaaa() {
    let dns = with_web().await;
    let m = dns.ask(WEB, RecordType::A).await;
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert_eq!(datas(&m.answers), ["A 10.96.0.20"]);
    assert_eq!(owners(&m.answers), [WEB]);
    assert_eq!(m.answers[0].ttl, 5);
    assert!(m.authorities.is_empty() && m.additionals.is_empty());

    let m = dns.ask(WEB, RecordType::AAAA).await;
    assert_eq!(datas(&m.answers), ["AAAA fd00:10:96::20"]);
}

#[tokio::test]
async fn names_match_whatever_the_case() {
    let dns = with_web().await;
    let m = dns
        .ask("WeB.DeFaulT.SVC.Cluster.LOCAL.", RecordType::A)
        .await;
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert_eq!(datas(&m.answers), ["A 10.96.0.20"]);
    // The question is echoed as asked (resolvers that randomise the case
    // check it).
    let q = support::raw_query(7, "WeB.DeFaulT.SVC.Cluster.LOCAL.", 1, None);
    let r = support::raw_udp(dns.addr(), &q, std::time::Duration::from_secs(2))
        .await
        .expect("an answer");
    let m = hickory_server::proto::op::Message::from_vec(&r).unwrap();
    assert_eq!(m.metadata.id, 7);
    assert_eq!(
        m.queries[0].name().to_ascii(),
        "WeB.DeFaulT.SVC.Cluster.LOCAL."
    );
    assert_eq!(datas(&m.answers), ["A 10.96.0.20"]);
}

#[tokio::test]
async fn nodata_and_nxdomain_carry_the_soa() {
    let mut dns = with_web().await;
    // The name exists without the type: NODATA.
    let m = dns.ask(WEB, RecordType::TXT).await;
    assert_negative(&m, ResponseCode::NoError, "cluster.local.");
    // An IPv4-only name asked for AAAA is NODATA too, never NXDOMAIN.
    dns.state.apply_service(&service(
        "default",
        "v4",
        json!({"clusterIP": "10.96.0.21"}),
    ));
    let m = dns
        .ask("v4.default.svc.cluster.local.", RecordType::AAAA)
        .await;
    assert_negative(&m, ResponseCode::NoError, "cluster.local.");
    // Empty non-terminals exist.
    for ent in [
        "default.svc.cluster.local.",
        "svc.cluster.local.",
        "_tcp.web.default.svc.cluster.local.",
    ] {
        let m = dns.ask(ent, RecordType::A).await;
        assert_negative(&m, ResponseCode::NoError, "cluster.local.");
    }
    // Missing names: NXDOMAIN.
    for missing in [
        "nope.default.svc.cluster.local.",
        "web.other.svc.cluster.local.",
        "web.default.svc.cluster.local.default.svc.cluster.local.",
        "_9000._udp.web.default.svc.cluster.local.",
        "web-2.web.default.svc.cluster.local.",
    ] {
        let m = dns.ask(missing, RecordType::A).await;
        assert_negative(&m, ResponseCode::NXDomain, "cluster.local.");
    }
    let soa = match &dns.ask("x.cluster.local.", RecordType::A).await.authorities[0].data {
        RData::SOA(s) => s.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(soa.mname.to_ascii(), "ns.dns.cluster.local.");
    assert_eq!(soa.minimum, 5);
}

#[tokio::test]
async fn srv_for_a_cluster_ip_service_targets_the_service() {
    let dns = with_web().await;
    let m = dns
        .ask("_http._tcp.web.default.svc.cluster.local.", RecordType::SRV)
        .await;
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert_eq!(
        datas(&m.answers),
        ["SRV 0 100 80 web.default.svc.cluster.local."]
    );
    assert!(m.authorities.is_empty());
    assert_eq!(
        datas(&m.additionals),
        ["A 10.96.0.20", "AAAA fd00:10:96::20"]
    );
    assert_eq!(owners(&m.additionals), [WEB, WEB]);
    // Only named ports have SRV records.
    let m = dns
        .ask("_9000._udp.web.default.svc.cluster.local.", RecordType::SRV)
        .await;
    assert_negative(&m, ResponseCode::NXDomain, "cluster.local.");
    // The SRV name has no A.
    let m = dns
        .ask("_http._tcp.web.default.svc.cluster.local.", RecordType::A)
        .await;
    assert_negative(&m, ResponseCode::NoError, "cluster.local.");
}

#[tokio::test]
async fn ready_endpoints_of_a_cluster_ip_service_are_named() {
    let dns = with_web().await;
    let m = dns
        .ask("10-244-1-5.web.default.svc.cluster.local.", RecordType::A)
        .await;
    assert_eq!(datas(&m.answers), ["A 10.244.1.5"]);
    let m = dns
        .ask("web-1.web.default.svc.cluster.local.", RecordType::A)
        .await;
    assert_eq!(datas(&m.answers), ["A 10.244.2.6"]);
}

async fn with_db(dns: &mut Dns) {
    dns.state.apply_service(&service(
        "default",
        "db",
        json!({"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}),
    ));
    dns.state.apply_slice(&slice(
        "default",
        "db-1",
        "db",
        "IPv4",
        vec![
            ep("10.244.1.10", Some("db-0"), true),
            ep("10.244.1.11", Some("db-1"), true),
            ep("10.244.1.12", None, true),
            ep("10.244.1.13", Some("db-3"), false),
        ],
        json!([{"name": "pg", "port": 15432, "protocol": "TCP"}]),
    ));
}

#[tokio::test]
async fn headless_service_answers_with_ready_endpoints() {
    let mut dns = Dns::start().await;
    with_db(&mut dns).await;
    let m = dns
        .ask("db.default.svc.cluster.local.", RecordType::A)
        .await;
    assert_eq!(rcode(&m), ResponseCode::NoError);
    let mut got = datas(&m.answers);
    got.sort();
    assert_eq!(got, ["A 10.244.1.10", "A 10.244.1.11", "A 10.244.1.12"]);
    assert!(m.authorities.is_empty() && m.additionals.is_empty());

    let m = dns
        .ask("db-0.db.default.svc.cluster.local.", RecordType::A)
        .await;
    assert_eq!(datas(&m.answers), ["A 10.244.1.10"]);
    let m = dns
        .ask("10-244-1-12.db.default.svc.cluster.local.", RecordType::A)
        .await;
    assert_eq!(datas(&m.answers), ["A 10.244.1.12"]);
    // Not ready: no name.
    let m = dns
        .ask("db-3.db.default.svc.cluster.local.", RecordType::A)
        .await;
    assert_negative(&m, ResponseCode::NXDomain, "cluster.local.");
}

#[tokio::test]
async fn srv_for_a_headless_service_lists_every_endpoint_with_additionals() {
    let mut dns = Dns::start().await;
    with_db(&mut dns).await;
    let m = dns
        .ask("_pg._tcp.db.default.svc.cluster.local.", RecordType::SRV)
        .await;
    assert_eq!(rcode(&m), ResponseCode::NoError);
    let mut srv = datas(&m.answers);
    srv.sort();
    assert_eq!(
        srv,
        [
            "SRV 0 33 15432 10-244-1-12.db.default.svc.cluster.local.",
            "SRV 0 33 15432 db-0.db.default.svc.cluster.local.",
            "SRV 0 33 15432 db-1.db.default.svc.cluster.local.",
        ]
    );
    assert!(m.authorities.is_empty());
    let mut adds: Vec<String> = m
        .additionals
        .iter()
        .map(|r| format!("{} {}", r.name, r.data))
        .collect();
    adds.sort();
    assert_eq!(
        adds,
        [
            "10-244-1-12.db.default.svc.cluster.local. 10.244.1.12",
            "db-0.db.default.svc.cluster.local. 10.244.1.10",
            "db-1.db.default.svc.cluster.local. 10.244.1.11",
        ]
    );
}

#[tokio::test]
async fn headless_without_ready_endpoints_is_nxdomain_until_one_is_ready() {
    let mut dns = Dns::start().await;
    dns.state
        .apply_service(&service("default", "hl", json!({"clusterIP": "None"})));
    let m = dns
        .ask("hl.default.svc.cluster.local.", RecordType::A)
        .await;
    assert_negative(&m, ResponseCode::NXDomain, "cluster.local.");
    let s = slice(
        "default",
        "hl-1",
        "hl",
        "IPv4",
        vec![ep("10.244.4.4", None, false)],
        json!([]),
    );
    dns.state.apply_slice(&s);
    let m = dns
        .ask("hl.default.svc.cluster.local.", RecordType::A)
        .await;
    assert_negative(&m, ResponseCode::NXDomain, "cluster.local.");
    let s = slice(
        "default",
        "hl-1",
        "hl",
        "IPv4",
        vec![ep("10.244.4.4", None, true)],
        json!([]),
    );
    dns.state.apply_slice(&s);
    let m = dns
        .ask("hl.default.svc.cluster.local.", RecordType::A)
        .await;
    assert_eq!(datas(&m.answers), ["A 10.244.4.4"]);
    // publishNotReadyAddresses counts every endpoint.
    let s = slice(
        "default",
        "hl-1",
        "hl",
        "IPv4",
        vec![ep("10.244.4.4", None, false)],
        json!([]),
    );
    dns.state.apply_slice(&s);
    assert_eq!(
        rcode(
            &dns.ask("hl.default.svc.cluster.local.", RecordType::A)
                .await
        ),
        ResponseCode::NXDomain
    );
    dns.state.apply_service(&service(
        "default",
        "hl",
        json!({"clusterIP": "None", "publishNotReadyAddresses": true}),
    ));
    let m = dns
        .ask("hl.default.svc.cluster.local.", RecordType::A)
        .await;
    assert_eq!(datas(&m.answers), ["A 10.244.4.4"]);
}

#[tokio::test]
async fn ptr_for_cluster_ips_and_ready_endpoints() {
    let mut dns = with_web().await;
    with_db(&mut dns).await;
    let m = dns.ask("20.0.96.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert_eq!(datas(&m.answers), ["PTR web.default.svc.cluster.local."]);
    assert!(m.authorities.is_empty() && m.additionals.is_empty());
    let m = dns.ask("10.1.244.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(
        datas(&m.answers),
        ["PTR db-0.db.default.svc.cluster.local."]
    );
    let m = dns.ask("12.1.244.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(
        datas(&m.answers),
        ["PTR 10-244-1-12.db.default.svc.cluster.local."]
    );
    // IPv6 ClusterIP.
    let v6 = "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.";
    let m = dns.ask(v6, RecordType::PTR).await;
    assert_eq!(datas(&m.answers), ["PTR web.default.svc.cluster.local."]);
    // Unknown addresses inside our CIDRs: NXDOMAIN with the reverse zone's SOA.
    let m = dns.ask("99.0.96.10.in-addr.arpa.", RecordType::PTR).await;
    assert_negative(&m, ResponseCode::NXDomain, "96.10.in-addr.arpa.");
    let m = dns.ask("13.1.244.10.in-addr.arpa.", RecordType::PTR).await;
    assert_negative(&m, ResponseCode::NXDomain, "244.10.in-addr.arpa.");
    // A PTR name asked for A: NODATA.
    let m = dns.ask("20.0.96.10.in-addr.arpa.", RecordType::A).await;
    assert_negative(&m, ResponseCode::NoError, "96.10.in-addr.arpa.");
    // Outside our CIDRs and with no forwarder: refused.
    let m = dns.ask("1.2.0.192.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(rcode(&m), ResponseCode::Refused);
}

#[tokio::test]
async fn external_name_is_a_cname() {
    let mut dns = with_web().await;
    dns.state.apply_service(&service(
        "default",
        "ext",
        json!({"type": "ExternalName", "externalName": "www.example.org"}),
    ));
    dns.state.apply_service(&service(
        "default",
        "alias",
        json!({"type": "ExternalName", "externalName": "web.default.svc.cluster.local"}),
    ));
    let m = dns
        .ask("ext.default.svc.cluster.local.", RecordType::CNAME)
        .await;
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert_eq!(datas(&m.answers), ["CNAME www.example.org."]);
    // Any type is answered through the alias; with no forwarder the
    // outside target has nothing more.
    let m = dns
        .ask("ext.default.svc.cluster.local.", RecordType::A)
        .await;
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert_eq!(datas(&m.answers), ["CNAME www.example.org."]);
    // An in-cluster target is followed.
    let m = dns
        .ask("alias.default.svc.cluster.local.", RecordType::A)
        .await;
    assert_eq!(
        datas(&m.answers),
        ["CNAME web.default.svc.cluster.local.", "A 10.96.0.20"]
    );
    assert_eq!(
        owners(&m.answers),
        ["alias.default.svc.cluster.local.", WEB]
    );
}

#[tokio::test]
async fn pod_records_come_from_the_name() {
    let dns = Dns::start().await;
    let m = dns
        .ask("10-244-1-5.default.pod.cluster.local.", RecordType::A)
        .await;
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert_eq!(datas(&m.answers), ["A 10.244.1.5"]);
    assert_eq!(
        owners(&m.answers),
        ["10-244-1-5.default.pod.cluster.local."]
    );
    let m = dns
        .ask("fd00--5.default.pod.cluster.local.", RecordType::AAAA)
        .await;
    assert_eq!(datas(&m.answers), ["AAAA fd00::5"]);
    let m = dns
        .ask("10-244-1-5.default.pod.cluster.local.", RecordType::AAAA)
        .await;
    assert_negative(&m, ResponseCode::NoError, "cluster.local.");
    let m = dns.ask("default.pod.cluster.local.", RecordType::A).await;
    assert_negative(&m, ResponseCode::NoError, "cluster.local.");
    let m = dns
        .ask("not-an-ip.default.pod.cluster.local.", RecordType::A)
        .await;
    assert_negative(&m, ResponseCode::NXDomain, "cluster.local.");
}

#[tokio::test]
async fn zone_records_version_soa_and_ns() {
    let dns = Dns::start().await;
    let m = dns.ask("dns-version.cluster.local.", RecordType::TXT).await;
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert_eq!(datas(&m.answers), ["TXT 1.1.0"]);
    let m = dns.ask("cluster.local.", RecordType::SOA).await;
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].record_type(), RecordType::SOA);
    assert_eq!(datas(&m.authorities), ["NS ns.dns.cluster.local."]);
    let m = dns.ask("cluster.local.", RecordType::NS).await;
    assert_eq!(datas(&m.answers), ["NS ns.dns.cluster.local."]);
    let m = dns.ask("96.10.in-addr.arpa.", RecordType::SOA).await;
    assert_eq!(owners(&m.answers), ["96.10.in-addr.arpa."]);
}

#[tokio::test]
async fn changes_and_deletions_are_answered_at_once() {
    let mut dns = with_web().await;
    dns.state.apply_service(&service(
        "default",
        "web",
        json!({"clusterIP": "10.96.0.30", "ports": [{"name": "http", "port": 80}]}),
    ));
    let m = dns.ask(WEB, RecordType::A).await;
    assert_eq!(datas(&m.answers), ["A 10.96.0.30"]);
    let m = dns.ask("20.0.96.10.in-addr.arpa.", RecordType::PTR).await;
    assert_negative(&m, ResponseCode::NXDomain, "96.10.in-addr.arpa.");
    dns.state.delete_slice("default", "web-abc");
    let m = dns
        .ask("web-1.web.default.svc.cluster.local.", RecordType::A)
        .await;
    assert_eq!(rcode(&m), ResponseCode::NXDomain);
    dns.state.delete_service("default", "web");
    let m = dns.ask(WEB, RecordType::A).await;
    assert_negative(&m, ResponseCode::NXDomain, "cluster.local.");
    // The namespace level went away with its last Service.
    let m = dns.ask("default.svc.cluster.local.", RecordType::A).await;
    assert_negative(&m, ResponseCode::NXDomain, "cluster.local.");
}

#[tokio::test]
async fn large_answers_truncate_on_udp_and_come_whole_over_tcp() {
    let mut dns = Dns::start().await;
    dns.state
        .apply_service(&service("default", "big", json!({"clusterIP": "None"})));
    let endpoints = (0..100)
        .map(|i| {
            ep(
                &format!("10.244.{}.{}", 10 + i / 200, 1 + i % 200),
                None,
                true,
            )
        })
        .collect();
    dns.state.apply_slice(&slice(
        "default",
        "big-1",
        "big",
        "IPv4",
        endpoints,
        json!([]),
    ));
    let q = "big.default.svc.cluster.local.";
    for edns in [true, false] {
        let u = support::udp_query(dns.addr(), q, RecordType::A, edns).await;
        assert_eq!(rcode(&u), ResponseCode::NoError);
        assert!(
            u.metadata.truncation,
            "UDP answer (edns {edns}) not truncated"
        );
        assert!(u.answers.len() < 100);
    }
    let t = dns.tcp(q, RecordType::A).await;
    assert_eq!(rcode(&t), ResponseCode::NoError);
    assert!(!t.metadata.truncation);
    assert_eq!(t.answers.len(), 100);
    assert!(t.answers.iter().all(|r| r.record_type() == RecordType::A));
}

#[tokio::test]
async fn an_address_behind_two_services_has_both_ptr_records() {
    let mut dns = Dns::start().await;
    for svc in ["a", "b"] {
        dns.state
            .apply_service(&service("default", svc, json!({"clusterIP": "None"})));
        dns.state.apply_slice(&slice(
            "default",
            &format!("{svc}-1"),
            svc,
            "IPv4",
            vec![ep("10.244.7.7", Some("pod"), true)],
            json!([]),
        ));
    }
    let m = dns.ask("7.7.244.10.in-addr.arpa.", RecordType::PTR).await;
    let mut ptr = datas(&m.answers);
    ptr.sort();
    assert_eq!(
        ptr,
        [
            "PTR pod.a.default.svc.cluster.local.",
            "PTR pod.b.default.svc.cluster.local."
        ]
    );
    // A change to one Service keeps the other's record.
    dns.state.apply_slice(&slice(
        "default",
        "a-1",
        "a",
        "IPv4",
        vec![ep("10.244.7.7", Some("renamed"), true)],
        json!([]),
    ));
    let m = dns.ask("7.7.244.10.in-addr.arpa.", RecordType::PTR).await;
    let mut ptr = datas(&m.answers);
    ptr.sort();
    assert_eq!(
        ptr,
        [
            "PTR pod.b.default.svc.cluster.local.",
            "PTR renamed.a.default.svc.cluster.local."
        ]
    );
    dns.state.delete_service("default", "b");
    let m = dns.ask("7.7.244.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(
        datas(&m.answers),
        ["PTR renamed.a.default.svc.cluster.local."]
    );
    dns.state.delete_service("default", "a");
    let m = dns.ask("7.7.244.10.in-addr.arpa.", RecordType::PTR).await;
    assert_negative(&m, ResponseCode::NXDomain, "244.10.in-addr.arpa.");
}
