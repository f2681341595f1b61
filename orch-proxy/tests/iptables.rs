//! Packet path of the iptables mode, against real namespaces and packets:
//! a node laid out like orch's (pod bridge, `unreachable` service CIDR),
//! pods with echo servers, and the [`Iptables`] data path programmed into
//! the node's namespace. Needs root.
mod support;

use std::{
    collections::BTreeMap,
    io,
    net::{Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use orch_proxy::{
    dataplane::Dataplane,
    iptables::{cleanup_netns, Iptables},
    model::{Change, Endpoint, Frontend, PortName, Protocol, ServicePort},
};
use support::{
    echo::{self, Echo, UdpClient},
    require_root,
    topology::{Node, GATEWAY},
};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
const TARGET_PORT: u16 = 8080;

fn port(
    service: &str,
    ip: Ipv4Addr,
    port: u16,
    protocol: Protocol,
    eps: &[Ipv4Addr],
) -> ServicePort {
    let mut endpoints: Vec<Endpoint> = eps
        .iter()
        .map(|ip| Endpoint {
            ip: *ip,
            port: TARGET_PORT,
        })
        .collect();
    endpoints.sort();
    ServicePort {
        frontend: Frontend { ip, port, protocol },
        name: PortName {
            namespace: "default".into(),
            service: service.into(),
            port: protocol.lower().into(),
        },
        endpoints,
    }
}

fn upsert(port: ServicePort, removed: &[Ipv4Addr]) -> Change {
    Change::Upsert {
        port,
        removed: removed
            .iter()
            .map(|ip| Endpoint {
                ip: *ip,
                port: TARGET_PORT,
            })
            .collect(),
    }
}

/// A node with echo pods `a`, `b`, `c` (10.244.1.2-4) and a client pod
/// (10.244.1.9), and the data path programmed into the node.
struct Cluster {
    ipt: Iptables,
    _servers: Vec<Echo>,
    node: Node,
}

impl Cluster {
    fn new() -> Self {
        let mut node = Node::new();
        let mut servers = Vec::new();
        for (name, last) in [("a", 2), ("b", 3), ("c", 4)] {
            let pod = node.add_pod(name, last);
            servers.push(Echo::start(&pod.ns.path(), TARGET_PORT, name));
        }
        node.add_pod("client", 9);
        let ipt = Iptables::new(Some(node.ns.path())).expect("iptables data path for the node");
        Self {
            ipt,
            _servers: servers,
            node,
        }
    }

    fn ip(&self, pod: &str) -> Ipv4Addr {
        self.node.pod(pod).ip
    }

    fn backends(&self) -> Vec<Ipv4Addr> {
        ["a", "b", "c"].iter().map(|p| self.ip(p)).collect()
    }

    fn client(&self) -> std::path::PathBuf {
        self.node.pod("client").ns.path()
    }
}

fn sorted(mut ports: Vec<ServicePort>) -> Vec<ServicePort> {
    ports.sort_by_key(|p| p.frontend);
    ports
}

#[test]
fn tcp_spreads_evenly_and_udp_answers_from_the_vip() {
    if !require_root("creates network namespaces and writes iptables rules") {
        return;
    }
    let mut c = Cluster::new();
    let table = vec![
        port("web", VIP, 80, Protocol::Tcp, &c.backends()),
        port("web", VIP, 80, Protocol::Udp, &c.backends()),
    ];
    c.ipt.resync(&table).expect("resync");

    let vip = SocketAddr::from((VIP, 80));
    let replies = echo::tcp_many(&c.client(), vip, 300).expect("300 connections to the VIP");
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &replies {
        *counts.entry(r.name.clone()).or_default() += 1;
        assert_eq!(
            r.peer,
            c.ip("client"),
            "the backend sees the client's own address"
        );
    }
    eprintln!("spread over 300 connections: {counts:?}");
    assert_eq!(counts.len(), 3, "every backend is chosen: {counts:?}");
    for (name, n) in &counts {
        // 20%..47% of 300; a fair split fails this with odds below 1e-6.
        assert!(
            (60..=141).contains(n),
            "backend {name} got {n} of 300: {counts:?}"
        );
    }

    let udp = UdpClient::bind(&c.client());
    let (reply, from) = udp.ask(vip).expect("UDP echo through the VIP");
    assert!(["a", "b", "c"].contains(&reply.name.as_str()), "{reply:?}");
    assert_eq!(from, vip, "the answer comes back from the VIP");

    assert_eq!(c.ipt.dump().expect("dump"), sorted(table));
}

#[test]
fn removed_endpoint_is_not_chosen_and_its_udp_flows_are_gone() {
    if !require_root("creates network namespaces and writes iptables rules") {
        return;
    }
    let mut c = Cluster::new();
    let all = c.backends();
    c.ipt
        .resync(&[
            port("web", VIP, 80, Protocol::Tcp, &all),
            port("dns", VIP, 53, Protocol::Udp, &all),
        ])
        .expect("resync");
    let dns = SocketAddr::from((VIP, 53));

    // UDP flows to every backend; keep one socket whose flow goes to c.
    let mut to_c = None;
    for _ in 0..200 {
        let client = UdpClient::bind(&c.client());
        let (reply, _) = client.ask(dns).expect("UDP echo");
        if reply.name == "c" && to_c.is_none() {
            to_c = Some(client);
        }
        if to_c.is_some()
            && c.node.udp_flows_from(c.ip("a")) > 0
            && c.node.udp_flows_from(c.ip("b")) > 0
        {
            break;
        }
    }
    let to_c = to_c.expect("some UDP flow went to c");
    assert!(c.node.udp_flows_from(c.ip("c")) > 0);

    let left = [c.ip("a"), c.ip("b")];
    let started = Instant::now();
    c.ipt
        .apply(&[
            upsert(port("web", VIP, 80, Protocol::Tcp, &left), &[c.ip("c")]),
            upsert(port("dns", VIP, 53, Protocol::Udp, &left), &[c.ip("c")]),
        ])
        .expect("apply");
    eprintln!("apply of two changes took {:?}", started.elapsed());

    assert_eq!(
        c.node.udp_flows_from(c.ip("c")),
        0,
        "UDP flows to c are flushed"
    );
    assert!(c.node.udp_flows_from(c.ip("a")) > 0, "other flows are kept");
    // The socket that talked to c now reaches a live backend.
    let (reply, _) = to_c.ask(dns).expect("UDP echo after removal");
    assert_ne!(reply.name, "c");
    let replies = echo::tcp_many(&c.client(), SocketAddr::from((VIP, 80)), 60).expect("TCP");
    assert!(
        replies.iter().all(|r| r.name != "c"),
        "c was chosen after its removal"
    );
    assert_eq!(c.node.udp_flows_from(c.ip("c")), 0);
}

fn assert_refused(result: io::Result<echo::Reply>, started: Instant, what: &str) {
    let elapsed = started.elapsed();
    match result {
        Err(e) => {
            assert_eq!(
                e.kind(),
                io::ErrorKind::ConnectionRefused,
                "{what}: expected ECONNREFUSED, got {e}"
            );
            assert!(
                elapsed < Duration::from_secs(1),
                "{what}: refused only after {elapsed:?}"
            );
        }
        Ok(r) => panic!("{what}: answered by {r:?}"),
    }
}

#[test]
fn port_without_endpoints_is_refused_at_once() {
    if !require_root("creates network namespaces and writes iptables rules") {
        return;
    }
    let mut c = Cluster::new();
    let client = c.client();
    let tcp = SocketAddr::from((VIP, 80));
    let udp = SocketAddr::from((VIP, 53));
    c.ipt
        .resync(&[
            port("web", VIP, 80, Protocol::Tcp, &[]),
            port("dns", VIP, 53, Protocol::Udp, &[]),
        ])
        .expect("resync");

    let t = Instant::now();
    assert_refused(echo::tcp(&client, tcp), t, "TCP without endpoints");
    let t = Instant::now();
    assert_refused(
        echo::udp_connected(&client, udp),
        t,
        "UDP without endpoints",
    );

    // A VIP orch does not know dies at the node's route instead.
    let unknown = echo::tcp(
        &client,
        SocketAddr::from((Ipv4Addr::new(10, 96, 0, 99), 80)),
    );
    let e = unknown.expect_err("unknown VIP answered");
    assert_eq!(
        e.raw_os_error(),
        Some(libc::EHOSTUNREACH),
        "unknown VIP: {e}"
    );

    // Gaining an endpoint, then losing it again.
    c.ipt
        .apply(&[upsert(
            port("web", VIP, 80, Protocol::Tcp, &[c.ip("b")]),
            &[],
        )])
        .expect("apply");
    assert_eq!(
        echo::tcp(&client, tcp)
            .expect("TCP after gaining an endpoint")
            .name,
        "b"
    );
    c.ipt
        .apply(&[upsert(
            port("web", VIP, 80, Protocol::Tcp, &[]),
            &[c.ip("b")],
        )])
        .expect("apply");
    let t = Instant::now();
    assert_refused(echo::tcp(&client, tcp), t, "TCP after losing the endpoint");
    let iptables = c.node.iptables_save();
    assert_eq!(iptables.matches("-j REJECT").count(), 2, "{iptables}");
}

#[test]
fn pod_reaches_itself_through_its_service() {
    if !require_root("creates network namespaces and writes iptables rules") {
        return;
    }
    let mut c = Cluster::new();
    let a = c.ip("a");
    c.ipt
        .resync(&[
            port("self", VIP, 80, Protocol::Tcp, &[a]),
            port("self", VIP, 80, Protocol::Udp, &[a]),
        ])
        .expect("resync");
    let a_ns = c.node.pod("a").ns.path();
    let reply = echo::tcp(&a_ns, SocketAddr::from((VIP, 80))).expect("hairpin TCP");
    assert_eq!(reply.name, "a");
    assert_eq!(
        reply.peer, GATEWAY,
        "hairpin traffic is masqueraded to the node"
    );
    let (reply, from) = UdpClient::bind(&a_ns)
        .ask(SocketAddr::from((VIP, 80)))
        .expect("hairpin UDP");
    assert_eq!((reply.name.as_str(), reply.peer), ("a", GATEWAY));
    assert_eq!(from, SocketAddr::from((VIP, 80)));
    // Other clients keep their own address.
    let reply = echo::tcp(&c.client(), SocketAddr::from((VIP, 80))).expect("TCP");
    assert_eq!(reply.peer, c.ip("client"));
}

#[test]
fn dump_resync_and_cleanup_touch_only_orch_rules() {
    if !require_root("creates network namespaces and writes iptables rules") {
        return;
    }
    let mut c = Cluster::new();
    let ns = c.node.ns.path();
    // Someone else's rules, which must survive everything below.
    c.node.ns.exec(&["iptables", "-t", "nat", "-N", "KEEP-ME"]);
    c.node
        .ns
        .exec(&["iptables", "-t", "nat", "-A", "KEEP-ME", "-j", "RETURN"]);
    c.node
        .ns
        .exec(&["iptables", "-t", "nat", "-A", "PREROUTING", "-j", "KEEP-ME"]);
    c.node
        .ns
        .exec(&["iptables", "-A", "FORWARD", "-s", "10.1.2.3", "-j", "DROP"]);
    let foreign = |save: &str| -> Vec<String> {
        save.lines()
            .filter(|l| l.contains("KEEP-ME") || l.contains("10.1.2.3"))
            .map(String::from)
            .collect()
    };
    let before = foreign(&c.node.iptables_save());
    assert_eq!(before.len(), 4, "{before:?}");

    let all = c.backends();
    let table = sorted(vec![
        port("web", VIP, 80, Protocol::Tcp, &all),
        port("web", VIP, 80, Protocol::Udp, &all[..2]),
        port(
            "empty",
            Ipv4Addr::new(10, 96, 0, 11),
            8443,
            Protocol::Tcp,
            &[],
        ),
    ]);
    c.ipt.resync(&table).expect("resync");
    assert_eq!(c.ipt.dump().expect("dump"), table);
    let programmed = c.node.iptables_save();

    // Resync with nothing changed writes nothing: the rules render exactly
    // as iptables-save prints them.
    c.ipt.resync(&table).expect("second resync");
    assert_eq!(c.node.iptables_save(), programmed);

    // Drift: a stale chain and rule, a deleted rule, a duplicated hook.
    let svc = programmed
        .lines()
        .find_map(|l| l.strip_prefix(":ORCH-SVC-"))
        .and_then(|l| l.split(' ').next())
        .map(|h| format!("ORCH-SVC-{h}"))
        .expect("a service chain");
    let drift: [&[&str]; 5] = [
        &["iptables", "-t", "nat", "-N", "ORCH-SVC-STALE"],
        &[
            "iptables",
            "-t",
            "nat",
            "-A",
            "ORCH-SERVICES",
            "-d",
            "10.96.9.9/32",
            "-j",
            "ORCH-SVC-STALE",
        ],
        &["iptables", "-t", "nat", "-D", &svc, "1"],
        &[
            "iptables",
            "-t",
            "nat",
            "-I",
            "PREROUTING",
            "-m",
            "comment",
            "--comment",
            "orch service portals",
            "-j",
            "ORCH-SERVICES",
        ],
        &["iptables", "-t", "filter", "-F", "ORCH-SERVICES"],
    ];
    for cmd in drift {
        c.node.ns.exec(cmd);
    }
    assert_ne!(c.node.iptables_save(), programmed);
    c.ipt.resync(&table).expect("resync repairs drift");
    assert_eq!(
        c.node.iptables_save(),
        programmed,
        "resync restores exactly the programmed rules"
    );

    // A new instance (a restarted proxy) applying one change before any
    // resync keeps everything else.
    let mut restarted = Iptables::new(Some(ns.clone())).expect("second instance");
    let extra = port(
        "extra",
        Ipv4Addr::new(10, 96, 0, 12),
        80,
        Protocol::Tcp,
        &[c.ip("c")],
    );
    restarted
        .apply(&[upsert(extra.clone(), &[])])
        .expect("apply before resync");
    let mut expected = table.clone();
    expected.push(extra);
    assert_eq!(restarted.dump().expect("dump"), sorted(expected));

    Box::new(restarted).cleanup().expect("cleanup");
    let after = c.node.iptables_save();
    assert!(
        !after.contains("ORCH-"),
        "orch rules left after cleanup:\n{after}"
    );
    assert_eq!(foreign(&after), before, "cleanup touched other rules");
    cleanup_netns(Some(&ns)).expect("cleanup again is a no-op");
    assert_eq!(c.node.iptables_save(), after);
    assert!(c.ipt.dump().expect("dump").is_empty());
}

#[test]
fn bad_namespace_is_a_clear_error() {
    let err = Iptables::new(Some("/run/netns/orch-no-such-namespace".into()))
        .expect_err("a missing namespace is refused");
    let text = err.to_string();
    assert!(
        text.contains("orch-no-such-namespace") || text.contains("iptables"),
        "{text}"
    );
    eprintln!("{text}");
}

/// Measurement, not a timed assertion: programs `ORCH_IPT_SERVICES`
/// (default 10 000) TCP Service ports with 3 endpoints each, then times
/// single-port changes. Run with
/// `cargo test -p orch-proxy --test iptables -- --ignored --nocapture`.
#[test]
#[ignore = "measurement; takes about a minute"]
fn single_change_apply_time_at_scale() {
    if !require_root("creates a network namespace and writes iptables rules") {
        return;
    }
    let n: usize = std::env::var("ORCH_IPT_SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let node = Node::new();
    let mut ipt = Iptables::new(Some(node.ns.path())).expect("iptables data path");
    let addr = |i: usize, net: u8| {
        let i = u32::try_from(i).expect("small index");
        Ipv4Addr::from(u32::from(Ipv4Addr::new(10, net, 0, 0)) + (i / 250) * 256 + i % 250 + 1)
    };
    let table: Vec<ServicePort> = (0..n)
        .map(|i| {
            let eps = [
                addr(i, 244),
                addr(i + 250 * 100, 244),
                addr(i + 250 * 200, 244),
            ];
            port(&format!("s{i}"), addr(i, 96), 80, Protocol::Tcp, &eps)
        })
        .collect();
    let time = |what: &str, started: Instant| {
        let took = started.elapsed();
        eprintln!("{what:<48} {took:>12.3?}");
        took
    };

    let t = Instant::now();
    ipt.resync(&table).expect("initial resync");
    time(
        &format!("resync of {n} services x 3 endpoints (empty node)"),
        t,
    );
    let t = Instant::now();
    ipt.resync(&table).expect("resync, nothing changed");
    time("resync, nothing changed", t);

    let mut one = table[n / 2].clone();
    let gone = one.endpoints.remove(1);
    one.endpoints.push(Endpoint {
        ip: Ipv4Addr::new(10, 244, 250, 1),
        port: TARGET_PORT,
    });
    one.endpoints.sort();
    let t = Instant::now();
    ipt.apply(&[Change::Upsert {
        port: one.clone(),
        removed: vec![gone],
    }])
    .expect("apply");
    time("apply: one endpoint replaced in one service", t);

    let new = port(
        "new",
        Ipv4Addr::new(10, 96, 250, 1),
        80,
        Protocol::Tcp,
        &[addr(1, 244)],
    );
    let t = Instant::now();
    ipt.apply(&[upsert(new.clone(), &[])]).expect("apply");
    time("apply: one service added", t);

    let mut emptied = one.clone();
    emptied.endpoints.clear();
    let t = Instant::now();
    ipt.apply(&[upsert(emptied, &[])]).expect("apply");
    time("apply: one service loses all endpoints", t);
    let t = Instant::now();
    ipt.apply(&[upsert(one, &[])]).expect("apply");
    time("apply: ... and gets them back", t);

    let t = Instant::now();
    ipt.apply(&[Change::Remove { port: new }]).expect("apply");
    time("apply: one service removed", t);

    // For comparison, in the same run: what any commit costs here, and
    // what rewriting ORCH-SERVICES whole (as kube-proxy does) costs.
    let restore = |input: &str| {
        let mut child = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                node.ns.name(),
                "iptables-restore",
                "--noflush",
            ])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("iptables-restore");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input.as_bytes())
            .expect("writing to iptables-restore");
        assert!(child.wait().expect("iptables-restore").success());
    };
    restore("*nat\n:ORCH-TIMING - [0:0]\nCOMMIT\n");
    let t = Instant::now();
    restore("*nat\n-A ORCH-TIMING -j RETURN\nCOMMIT\n");
    time("floor: iptables-restore adding one rule", t);
    restore("*nat\n:ORCH-TIMING - [0:0]\n-X ORCH-TIMING\nCOMMIT\n");
    let services: String = node
        .iptables_save()
        .lines()
        .filter(|l| l.starts_with("-A ORCH-SERVICES "))
        .map(|l| format!("{l}\n"))
        .collect();
    let t = Instant::now();
    restore(&format!("*nat\n:ORCH-SERVICES - [0:0]\n{services}COMMIT\n"));
    time("for comparison: ORCH-SERVICES rewritten whole", t);

    let t = Instant::now();
    let dumped = ipt.dump().expect("dump");
    time("dump", t);
    assert_eq!(dumped.len(), n);

    let t = Instant::now();
    Box::new(ipt).cleanup().expect("cleanup");
    time("cleanup", t);
}
