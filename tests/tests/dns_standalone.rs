//! orch-dns stand-alone against a real `orch server`: it follows Services
//! and EndpointSlices created through the API, answers `dig` (the real one)
//! on 127.0.0.1 over UDP and TCP, forwards other names to an upstream this
//! test starts, and a change in the API becomes answerable quickly (the
//! figures are printed; the <100 ms goal is measured by `cargo xtask bench
//! dns`). Needs no root; every query goes to servers this test started.
use std::{
    net::{Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use hickory_server::proto::{op::ResponseCode, rr::RecordType};
use k8s_openapi::api::{core::v1::Service, discovery::v1::EndpointSlice};
use kube::{
    api::{DeleteParams, PostParams},
    Api,
};
use orch_tests::{
    bench::orch::OrchServer,
    dns::{
        bins,
        dig::dig,
        process::{http_get, OrchDnsProcess},
        query::{Asker, Reply},
        upstream::Upstream,
    },
};
use serde_json::json;

/// Polls `name`/`rtype` every millisecond until `done` holds; the time it
/// took.
fn wait_for(
    dns: SocketAddr,
    name: &str,
    rtype: RecordType,
    done: impl Fn(&Reply) -> bool,
) -> Result<Duration> {
    let start = Instant::now();
    let mut asker = Asker::new(Duration::from_millis(200))?;
    let mut last = None;
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(r) = asker.ask(dns, name, rtype)? {
            if done(&r) {
                return Ok(start.elapsed());
            }
            last = Some(r);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    bail!("{name} {rtype} not as expected after 10 s; last reply {last:?}")
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn slice(
    name: &str,
    svc: &str,
    endpoints: serde_json::Value,
    ports: serde_json::Value,
) -> EndpointSlice {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {
            "kubernetes.io/service-name": svc,
            "endpointslice.kubernetes.io/managed-by": "dns-standalone-test"
        }},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports,
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orch_dns_follows_a_real_api_server() -> Result<()> {
    let orch = bins::built("orch-core", "orch");
    let dns_bin = bins::built("orch-dns", "orch-dns");
    let server = OrchServer::start(&orch, &["--no-cluster-dns".into()]).await?;
    let client = server.client()?;
    let upstream = Upstream::start(&[("www.example.test.", Ipv4Addr::new(192, 0, 2, 1))]).await?;
    let dir = tempfile::tempdir()?;
    let mut dns = OrchDnsProcess::start(
        &dns_bin,
        &server.data_dir().join("admin.kubeconfig"),
        &["--upstream", &upstream.addr.to_string()],
        &dir.path().join("orch-dns.log"),
    )?;
    let at = dns.dns;
    let mut figures = Vec::new();

    // The Service every cluster has.
    let a = dig(at, &["kubernetes.default.svc.cluster.local", "A"]);
    assert_eq!(a.status, "NOERROR", "{}", a.raw);
    assert_eq!(a.data("A"), ["10.96.0.1"], "{}", a.raw);
    assert!(a.has_flag("aa"), "{}", a.raw);

    // A ClusterIP Service created through the API.
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let web: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
    }))?;
    let start = Instant::now();
    let web = services.create(&PostParams::default(), &web).await?;
    let created = start.elapsed();
    let ip = web
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.clone())
        .context("no clusterIP allocated")?;
    let took = wait_for(at, "web.default.svc.cluster.local.", RecordType::A, |r| {
        r.answers == [ip.clone()]
    })?;
    figures.push(format!(
        "Service created → answerable: {} (the create call took {})",
        ms(created + took),
        ms(created)
    ));

    for transport in [&[][..], &["+tcp"][..]] {
        let mut args = vec!["web.default.svc.cluster.local", "A"];
        args.extend_from_slice(transport);
        let a = dig(at, &args);
        assert_eq!(a.status, "NOERROR", "{}", a.raw);
        assert_eq!(a.data("A"), [ip.as_str()], "{}", a.raw);
        assert!(a.answer[0].contains(" 5 IN A "), "TTL 5: {}", a.raw);
    }
    let a = dig(at, &["_http._tcp.web.default.svc.cluster.local", "SRV"]);
    assert_eq!(
        a.data("SRV"),
        ["0 100 80 web.default.svc.cluster.local."],
        "{}",
        a.raw
    );
    assert_eq!(
        a.additional,
        [format!("web.default.svc.cluster.local. 5 IN A {ip}")],
        "{}",
        a.raw
    );
    let a = dig(at, &["-x", &ip]);
    assert_eq!(
        a.data("PTR"),
        ["web.default.svc.cluster.local."],
        "{}",
        a.raw
    );
    let a = dig(at, &["web.default.svc.cluster.local", "AAAA"]);
    assert_eq!(a.status, "NOERROR", "NODATA: {}", a.raw);
    assert!(a.answer.is_empty() && a.authority.len() == 1, "{}", a.raw);
    assert!(a.authority[0].contains(" SOA "), "{}", a.raw);
    let a = dig(at, &["nope.default.svc.cluster.local", "A"]);
    assert_eq!(a.status, "NXDOMAIN", "{}", a.raw);
    assert!(
        a.authority[0].starts_with("cluster.local. 5 IN SOA "),
        "{}",
        a.raw
    );
    let a = dig(at, &["WEB.Default.SVC.cluster.LOCAL", "A"]);
    assert_eq!(a.data("A"), [ip.as_str()], "{}", a.raw);

    // Its endpoints, added through the API.
    let start = Instant::now();
    slices
        .create(
            &PostParams::default(),
            &slice(
                "web-1",
                "web",
                json!([
                    {"addresses": ["10.244.1.5"], "conditions": {"ready": true}},
                    {"addresses": ["10.244.2.6"], "conditions": {"ready": false}}
                ]),
                json!([{"name": "http", "port": 8080, "protocol": "TCP"}]),
            ),
        )
        .await?;
    let took = wait_for(
        at,
        "10-244-1-5.web.default.svc.cluster.local.",
        RecordType::A,
        |r| r.answers == ["10.244.1.5"],
    )?;
    figures.push(format!(
        "EndpointSlice created → answerable: {}",
        ms(start.elapsed().max(took))
    ));
    let a = dig(at, &["-x", "10.244.1.5"]);
    assert_eq!(
        a.data("PTR"),
        ["10-244-1-5.web.default.svc.cluster.local."],
        "{}",
        a.raw
    );
    let a = dig(at, &["10-244-2-6.web.default.svc.cluster.local", "A"]);
    assert_eq!(a.status, "NXDOMAIN", "not ready: {}", a.raw);

    // A headless Service with named endpoints.
    let db: Service = serde_json::from_value(json!({
        "metadata": {"name": "db"},
        "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}
    }))?;
    services.create(&PostParams::default(), &db).await?;
    slices
        .create(
            &PostParams::default(),
            &slice(
                "db-1",
                "db",
                json!([
                    {"addresses": ["10.244.1.10"], "hostname": "db-0", "conditions": {"ready": true}},
                    {"addresses": ["10.244.1.11"], "hostname": "db-1", "conditions": {"ready": true}}
                ]),
                json!([{"name": "pg", "port": 5432, "protocol": "TCP"}]),
            ),
        )
        .await?;
    wait_for(at, "db.default.svc.cluster.local.", RecordType::A, |r| {
        r.answers.len() == 2
    })?;
    let a = dig(at, &["db.default.svc.cluster.local", "A"]);
    let mut ips = a.data("A");
    ips.sort();
    assert_eq!(ips, ["10.244.1.10", "10.244.1.11"], "{}", a.raw);
    let a = dig(
        at,
        &["_pg._tcp.db.default.svc.cluster.local", "SRV", "+tcp"],
    );
    let mut srv = a.data("SRV");
    srv.sort();
    assert_eq!(
        srv,
        [
            "0 50 5432 db-0.db.default.svc.cluster.local.",
            "0 50 5432 db-1.db.default.svc.cluster.local."
        ],
        "{}",
        a.raw
    );
    assert_eq!(a.additional.len(), 2, "{}", a.raw);
    let a = dig(at, &["db-1.db.default.svc.cluster.local", "A"]);
    assert_eq!(a.data("A"), ["10.244.1.11"], "{}", a.raw);

    // Names outside the cluster go to the upstream, and are cached.
    let a = dig(at, &["www.example.test", "A"]);
    assert_eq!(a.data("A"), ["192.0.2.1"], "{}", a.raw);
    assert!(!a.has_flag("aa") && a.has_flag("ra"), "{}", a.raw);
    let asked = upstream.asked();
    assert!(asked >= 1);
    let a = dig(at, &["www.example.test", "A"]);
    assert_eq!(a.data("A"), ["192.0.2.1"], "{}", a.raw);
    assert_eq!(
        upstream.asked(),
        asked,
        "the second answer came from the cache"
    );
    let a = dig(at, &["nowhere.example.test", "A"]);
    assert_eq!(a.status, "NXDOMAIN", "{}", a.raw);

    // An ExternalName Service pointing outside: CNAME and the target's A.
    let ext: Service = serde_json::from_value(json!({
        "metadata": {"name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "www.example.test"}
    }))?;
    services.create(&PostParams::default(), &ext).await?;
    wait_for(
        at,
        "ext.default.svc.cluster.local.",
        RecordType::CNAME,
        |r| r.answers == ["www.example.test."],
    )?;
    let a = dig(at, &["ext.default.svc.cluster.local", "A"]);
    assert_eq!(a.data("CNAME"), ["www.example.test."], "{}", a.raw);
    assert_eq!(a.data("A"), ["192.0.2.1"], "{}", a.raw);

    // Deletion.
    let start = Instant::now();
    services.delete("web", &DeleteParams::default()).await?;
    let took = wait_for(at, "web.default.svc.cluster.local.", RecordType::A, |r| {
        r.rcode == ResponseCode::NXDomain
    })?;
    figures.push(format!(
        "Service deleted → NXDOMAIN: {}",
        ms(start.elapsed().max(took))
    ));

    // Metrics saw it all.
    let (code, text) = http_get(dns.http, "/metrics")?;
    assert_eq!(code, 200);
    assert!(
        text.contains("orch_dns_queries_total{type=\"A\",rcode=\"NOERROR\"}"),
        "{text}"
    );
    assert!(text.contains("orch_dns_forwarded_queries_total"), "{text}");
    dns.check_running()?;
    println!("orch-dns change latency, measured through the API:");
    for f in &figures {
        println!("  {f}");
    }
    Ok(())
}

/// `orch server` installs the cluster DNS as kubeadm installs CoreDNS: the
/// Service kube-dns at the 10th address of the service CIDR and the
/// Deployment orch-dns running the orch-dns binary beside `orch`; the flag
/// `--no-cluster-dns` leaves both out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orch_server_installs_the_cluster_dns() -> Result<()> {
    use k8s_openapi::api::apps::v1::Deployment;
    let orch = bins::built("orch-core", "orch");
    let dns_bin = bins::built("orch-dns", "orch-dns");
    let server = OrchServer::start(&orch, &[]).await?;
    let client = server.client()?;
    let services: Api<Service> = Api::namespaced(client.clone(), "kube-system");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "kube-system");
    // Installed right after the API answers; give it a moment.
    let start = Instant::now();
    let (svc, dep) = loop {
        if let (Some(s), Some(d)) = (
            services.get_opt("kube-dns").await?,
            deployments.get_opt("orch-dns").await?,
        ) {
            break (s, d);
        }
        if start.elapsed() > Duration::from_secs(20) {
            bail!("kube-dns and orch-dns not installed after 20 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let spec = svc.spec.context("kube-dns has no spec")?;
    assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.10"));
    let ports: Vec<(i32, String)> = spec
        .ports
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.port, p.protocol.unwrap_or_default()))
        .collect();
    assert!(
        ports.contains(&(53, "UDP".into())) && ports.contains(&(53, "TCP".into())),
        "{ports:?}"
    );
    assert_eq!(
        spec.selector
            .unwrap_or_default()
            .get("k8s-app")
            .map(String::as_str),
        Some("kube-dns")
    );
    let tpl = dep.spec.context("no spec")?.template;
    assert_eq!(
        tpl.metadata
            .and_then(|m| m.labels)
            .unwrap_or_default()
            .get("k8s-app")
            .map(String::as_str),
        Some("kube-dns")
    );
    let command = tpl.spec.context("no pod spec")?.containers[0]
        .command
        .clone()
        .unwrap_or_default();
    assert_eq!(command[0], dns_bin.display().to_string(), "{command:?}");
    assert!(
        command.windows(2).any(|w| w == ["--listen", "0.0.0.0:53"]),
        "{command:?}"
    );
    drop(server);

    let server = OrchServer::start(&orch, &["--no-cluster-dns".into()]).await?;
    let client = server.client()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let services: Api<Service> = Api::namespaced(client.clone(), "kube-system");
    let deployments: Api<Deployment> = Api::namespaced(client, "kube-system");
    assert!(services.get_opt("kube-dns").await?.is_none());
    assert!(deployments.get_opt("orch-dns").await?.is_none());
    Ok(())
}
