//! Packet path of the agent's networking (root): two simulated nodes on a
//! test bridge, pod sandboxes on each, pod-to-pod traffic on one node and
//! across nodes, the pod's resolv.conf, and 100 create/delete cycles that
//! leave nothing behind.
mod support;

use std::{
    io::{Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::Path,
    process::Command,
    time::Duration,
};

use orch_core::{
    agent::{
        ipam::Ipam,
        netns,
        nodenet::{self, Layout, NodeNet},
        sandbox::{self, DnsConfig, PodIdent},
    },
    apiserver::ipalloc::Cidr,
};

/// Removes everything the test made, also when it panics.
struct Cleanup {
    nodes: Vec<String>,
    bridge: String,
    pods_prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for ns in netns::list(&self.pods_prefix) {
            let _ = netns::delete(&ns);
            let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(&ns));
        }
        for n in &self.nodes {
            let _ = netns::delete(&nodenet::node_netns(n));
            let _ = Command::new("ip")
                .args([
                    "link",
                    "del",
                    &format!("ov{}", orch_core::util::short_hash(n)),
                ])
                .output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        for r in [
            "10.245.0.0/16",
            "10.97.0.0/16",
            "10.245.1.0/24",
            "10.245.2.0/24",
        ] {
            let _ = Command::new("ip").args(["route", "del", r]).output();
        }
    }
}

fn exec_in(ns: &str, argv: &[&str]) -> std::process::Output {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(argv)
        .output()
        .unwrap()
}

fn serve_once(
    netns_path: &Path,
    addr: SocketAddr,
    reply: &'static str,
) -> std::thread::JoinHandle<String> {
    let l = orch_proxy::sys::in_netns(netns_path, || TcpListener::bind(addr)).unwrap();
    std::thread::spawn(move || {
        l.set_nonblocking(false).unwrap();
        let (mut s, peer) = l.accept().unwrap();
        s.write_all(reply.as_bytes()).unwrap();
        let mut buf = [0u8; 1];
        let _ = s.read(&mut buf);
        peer.ip().to_string()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_talk_on_one_node_and_across_nodes_and_leave_nothing_behind() {
    if !support::root_or_skip() {
        return;
    }
    let id = format!("{:x}", std::process::id());
    let bridge = format!("otb{id}");
    let nodes = vec![format!("tna{id}"), format!("tnb{id}")];
    let pods_prefix = format!("orch-t{id}");
    let _cleanup = Cleanup {
        nodes: nodes.clone(),
        bridge: bridge.clone(),
        pods_prefix: pods_prefix.clone(),
    };
    let layout = Layout {
        bridge: bridge.clone(),
        underlay: Cidr::parse("10.251.0.0/24").unwrap(),
        host_ip: Ipv4Addr::new(10, 251, 0, 1),
        pod_cidr: Cidr::parse("10.245.0.0/16").unwrap(),
        service_cidr: Cidr::parse("10.97.0.0/16").unwrap(),
    };
    let a = NodeNet::simulated(&nodes[0], Ipv4Addr::new(10, 251, 0, 2), layout.clone())
        .await
        .unwrap();
    let b = NodeNet::simulated(&nodes[1], Ipv4Addr::new(10, 251, 0, 3), layout.clone())
        .await
        .unwrap();
    let (ca, cb) = (
        Cidr::parse("10.245.1.0/24").unwrap(),
        Cidr::parse("10.245.2.0/24").unwrap(),
    );
    a.enable_pods(ca).await.unwrap();
    b.enable_pods(cb).await.unwrap();
    let peers = vec![(ca, a.node_ip), (cb, b.node_ip)];
    a.sync_routes(&peers).await.unwrap();
    b.sync_routes(&peers).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut ipam_a = Ipam::open(&dir.path().join("a.json"), ca).unwrap();
    let mut ipam_b = Ipam::open(&dir.path().join("b.json"), cb).unwrap();
    let dns = DnsConfig::default();
    let ident = |name: &str| PodIdent {
        namespace: format!("t{id}"),
        name: name.into(),
        uid: format!("{name}-{id}-uid"),
        hostname: name.into(),
        subdomain: None,
    };
    let (p1, p2, p3) = (ident("p1"), ident("p2"), ident("p3"));
    let s1 = sandbox::create(&a, &mut ipam_a, &p1, &dns, &dir.path().join("p1"))
        .await
        .unwrap();
    let s2 = sandbox::create(&a, &mut ipam_a, &p2, &dns, &dir.path().join("p2"))
        .await
        .unwrap();
    let s3 = sandbox::create(&b, &mut ipam_b, &p3, &dns, &dir.path().join("p3"))
        .await
        .unwrap();
    assert!(ca.contains(s1.ip) && ca.contains(s2.ip) && cb.contains(s3.ip));
    // Idempotent: creating again gives the same sandbox.
    assert_eq!(
        sandbox::create(&a, &mut ipam_a, &p1, &dns, &dir.path().join("p1"))
            .await
            .unwrap(),
        s1
    );

    // Same node, then across nodes; the server sees the pod's own address.
    let srv = serve_once(
        &s2.netns_path,
        SocketAddr::from((s2.ip, 9000)),
        "same-node\n",
    );
    let out = exec_in(
        &s1.netns_name,
        &[
            "timeout",
            "5",
            "bash",
            "-c",
            &format!("exec 3<>/dev/tcp/{}/9000; head -n1 <&3", s2.ip),
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "same-node",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(srv.join().unwrap(), s1.ip.to_string());
    let srv = serve_once(
        &s3.netns_path,
        SocketAddr::from((s3.ip, 9000)),
        "other-node\n",
    );
    let out = exec_in(
        &s1.netns_name,
        &[
            "timeout",
            "5",
            "bash",
            "-c",
            &format!("exec 3<>/dev/tcp/{}/9000; head -n1 <&3", s3.ip),
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "other-node",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        srv.join().unwrap(),
        s1.ip.to_string(),
        "cross-node traffic must not be NATed"
    );

    // The pod resolves as configured, through `ip netns exec`.
    let out = exec_in(&s1.netns_name, &["cat", "/etc/resolv.conf"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("nameserver 10.96.0.10\nsearch t{id}.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"));
    let out = exec_in(&s1.netns_name, &["cat", "/etc/hosts"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{}\tp1", s1.ip)));
    // A service address nothing translated fails at once.
    let started = std::time::Instant::now();
    let out = exec_in(
        &s1.netns_name,
        &[
            "timeout",
            "5",
            "bash",
            "-c",
            "exec 3<>/dev/tcp/10.97.0.9/80",
        ],
    );
    assert!(!out.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "an untranslated VIP must fail at once"
    );

    // 100 create/delete cycles leave nothing behind.
    let links_before = Command::new("ip")
        .args([
            "netns",
            "exec",
            &nodenet::node_netns(&nodes[0]),
            "ip",
            "-o",
            "link",
        ])
        .output()
        .unwrap()
        .stdout;
    let netns_before = netns::list("").len();
    for i in 0..100 {
        let p = ident(&format!("c{i}"));
        let s = sandbox::create(&a, &mut ipam_a, &p, &dns, &dir.path().join("c"))
            .await
            .unwrap();
        sandbox::destroy(&a, &mut ipam_a, &p.uid, &s.netns_name)
            .await
            .unwrap();
    }
    let links_after = Command::new("ip")
        .args([
            "netns",
            "exec",
            &nodenet::node_netns(&nodes[0]),
            "ip",
            "-o",
            "link",
        ])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(
        String::from_utf8_lossy(&links_before).lines().count(),
        String::from_utf8_lossy(&links_after).lines().count()
    );
    assert_eq!(netns::list("").len(), netns_before);
    assert_eq!(ipam_a.in_use(), 2, "only p1 and p2 hold addresses");

    sandbox::destroy(&a, &mut ipam_a, &p1.uid, &s1.netns_name)
        .await
        .unwrap();
    sandbox::destroy(&a, &mut ipam_a, &p2.uid, &s2.netns_name)
        .await
        .unwrap();
    sandbox::destroy(&b, &mut ipam_b, &p3.uid, &s3.netns_name)
        .await
        .unwrap();
    for (n, c) in nodes.iter().zip([ca, cb]) {
        nodenet::teardown_simulated(n, Some(c)).await.unwrap();
    }
    nodenet::teardown_host(&layout).await.unwrap();
    assert!(netns::list(&pods_prefix).is_empty());
    assert!(!netns::exists(&nodenet::node_netns(&nodes[0])));
    assert!(
        !Path::new("/sys/class/net").join(&bridge).exists(),
        "bridge left behind"
    );
    let routes =
        String::from_utf8(Command::new("ip").args(["route"]).output().unwrap().stdout).unwrap();
    assert!(
        !routes.contains("10.245.") && !routes.contains("10.97."),
        "routes left behind:\n{routes}"
    );
}
