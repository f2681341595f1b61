//! The Service proxy end to end (root): two simulated nodes whose agents run
//! orch-proxy, echo-server backends on both nodes, and real connections to
//! the Service VIP from a client pod's netns, in eBPF mode and then, after
//! switching every node, in iptables mode:
//! - TCP from `ip netns exec` (curl) spreads evenly over 3 backends on both
//!   nodes, and from a container process of the pod;
//! - the peer of a translated socket is the VIP (getpeername);
//! - UDP through the VIP answers from the VIP, connected and unconnected;
//! - a Service without endpoints is refused at once;
//! - a removed endpoint is no longer chosen once its slice changes;
//! - a pod reaches itself through its Service (hairpin);
//! - eBPF mode: a proxy (agent) restart under a client loop fails nothing;
//! - switching modes leaves none of the other mode's programs or rules, and
//!   `orch agent teardown` leaves none at all.
mod support;

use std::{
    collections::BTreeMap,
    io::{ErrorKind, Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use k8s_openapi::api::{
    core::v1::{Node, Pod, Service},
    discovery::v1::EndpointSlice,
};
use kube::{
    api::{Api, DeleteParams, ListParams, PostParams},
    Client,
};
use orch_proxy::sys::in_netns;
use serde_json::json;
use support::{
    agent::{pod, wait_for, Agent, HostCleanup, Net},
    orch,
};

const HTTP: u16 = 8080;
const UDP: u16 = 5353;

fn echo_pod(name: &str, node: &str) -> Pod {
    let mut p = pod(
        name,
        node,
        json!([
            orch(),
            "tools",
            "echo-server",
            "--http",
            HTTP.to_string(),
            "--tcp",
            "9000",
            "--udp",
            UDP.to_string()
        ]),
        json!({
            "ports": [{"name": "http", "containerPort": HTTP}, {"name": "dns", "containerPort": UDP, "protocol": "UDP"}],
            "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 1},
        }),
    );
    p.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
    p
}

async fn create_pod(c: &Client, p: Pod) {
    Api::<Pod>::namespaced(c.clone(), "default")
        .create(&PostParams::default(), &p)
        .await
        .unwrap();
}

/// The netns of a running pod.
async fn pod_netns(c: &Client, name: &str) -> PathBuf {
    let pods = Api::<Pod>::namespaced(c.clone(), "default");
    wait_for(&format!("{name} to run in a netns"), 60, async || {
        let p = pods.get(name).await.ok()?;
        let running = p.status.as_ref()?.phase.as_deref() == Some("Running");
        let ns = p
            .metadata
            .annotations
            .as_ref()?
            .get("orch.io/netns")?
            .clone();
        running.then(|| PathBuf::from("/run/netns").join(ns))
    })
    .await
}

/// Ready endpoint addresses of Service `svc`.
async fn ready_endpoints(c: &Client, svc: &str) -> Vec<String> {
    let slices = Api::<EndpointSlice>::namespaced(c.clone(), "default")
        .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={svc}")))
        .await
        .unwrap();
    let mut out: Vec<String> = slices
        .items
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
        .flat_map(|e| e.addresses.clone())
        .collect();
    out.sort();
    out
}

async fn wait_endpoints(c: &Client, svc: &str, n: usize) {
    wait_for(&format!("{n} ready endpoints of {svc}"), 60, async || {
        (ready_endpoints(c, svc).await.len() == n).then_some(())
    })
    .await;
}

/// `n` HTTP requests to `vip` with curl run by `ip netns exec`; the name of
/// the backend that answered each, or `FAIL`.
fn curl_names(netns: &Path, vip: Ipv4Addr, n: usize) -> Vec<String> {
    let ns = netns.file_name().unwrap().to_str().unwrap();
    let scale = support::time_scale();
    let script = format!(
        "for i in $(seq {n}); do curl -s -m {} http://{vip}/ || echo FAIL; done",
        2 * scale
    );
    let limit = (120 * scale).to_string();
    let out = Command::new("ip")
        .args([
            "netns", "exec", ns, "timeout", &limit, "bash", "-c", &script,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split(' ').next().unwrap_or("").to_string())
        .collect()
}

fn histogram(names: &[String]) -> BTreeMap<String, usize> {
    let mut h = BTreeMap::new();
    for n in names {
        *h.entry(n.clone()).or_insert(0) += 1;
    }
    h
}

/// One TCP connection to the VIP from inside `netns`: the peer address the
/// socket reports and the identity line the backend sent.
fn tcp_identity(netns: &Path, vip: SocketAddr) -> std::io::Result<(SocketAddr, String)> {
    in_netns(netns, move || {
        let mut s = TcpStream::connect_timeout(&vip, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let peer = s.peer_addr()?;
        s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
        let mut body = String::new();
        s.read_to_string(&mut body)?;
        let line = body.lines().last().unwrap_or("").to_string();
        Ok((peer, line))
    })
}

/// A UDP exchange with the VIP from inside `netns`, connected or not:
/// where the reply came from, and its text.
fn udp_exchange(
    netns: &Path,
    vip: SocketAddr,
    connected: bool,
) -> std::io::Result<(SocketAddr, String)> {
    in_netns(netns, move || {
        let s = UdpSocket::bind("0.0.0.0:0")?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut buf = [0u8; 512];
        if connected {
            s.connect(vip)?;
            s.send(b"ping")?;
            let n = s.recv(&mut buf)?;
            Ok((
                s.peer_addr()?,
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            ))
        } else {
            s.send_to(b"ping", vip)?;
            let (n, from) = s.recv_from(&mut buf)?;
            Ok((from, String::from_utf8_lossy(&buf[..n]).into_owned()))
        }
    })
}

async fn cluster_ip(c: &Client, name: &str) -> Ipv4Addr {
    let svc = Api::<Service>::namespaced(c.clone(), "default")
        .get(name)
        .await
        .unwrap();
    svc.spec.unwrap().cluster_ip.unwrap().parse().unwrap()
}

async fn create_service(c: &Client, name: &str, selector: &str) -> Ipv4Addr {
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"selector": {"app": selector}, "ports": [
            {"name": "http", "port": 80, "targetPort": "http"},
            {"name": "dns", "port": 53, "targetPort": "dns", "protocol": "UDP"},
        ]}
    }))
    .unwrap();
    Api::<Service>::namespaced(c.clone(), "default")
        .create(&PostParams::default(), &svc)
        .await
        .unwrap();
    cluster_ip(c, name).await
}

/// Polls `f` for up to `secs` seconds.
fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs * support::time_scale());
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

fn node_netns(node: &str) -> String {
    format!("orch-{node}")
}

fn orch_chains(node: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", &node_netns(node), "iptables-save"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("ORCH-"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn pins(node: &str) -> PathBuf {
    PathBuf::from("/sys/fs/bpf/orch").join(node)
}

/// Restarts an agent with another proxy mode.
fn restart_with_mode(a: &mut Agent, mode: &str) {
    a.kill9();
    if let Some(i) = a.args.iter().position(|x| x == "--proxy-mode") {
        a.args[i + 1] = mode.to_string();
    } else {
        a.args
            .extend(["--proxy-mode".to_string(), mode.to_string()]);
    }
    a.spawn();
}

/// The proxy of `node` reports `mode` on /metrics (served in its netns).
async fn wait_mode(node: &str, mode: &str) {
    let ns = node_netns(node);
    let want = format!("orch_proxy_mode{{mode=\"{mode}\"}} 1");
    wait_for(&format!("{node}'s proxy in {mode} mode"), 60, async || {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns,
                "curl",
                "-s",
                "-m",
                "2",
                "http://127.0.0.1:10249/metrics",
            ])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .contains(&want)
            .then_some(())
    })
    .await;
}

/// Every data-path check against Service `web` (3 backends, web-a and
/// web-c on node 1, web-b on node 2) from the client pod on node 1.
async fn check_data_path(
    c: &Client,
    mode: &str,
    client: &Path,
    vip: Ipv4Addr,
    empty_vip: Ipv4Addr,
) {
    // Spread: 300 connections over 3 backends, each within [20%, 47%].
    let names = curl_names(client, vip, 300);
    let h = histogram(&names);
    assert!(!h.contains_key("FAIL"), "{mode}: failed requests: {h:?}");
    assert_eq!(h.len(), 3, "{mode}: expected 3 backends, got {h:?}");
    for (name, n) in &h {
        assert!(
            (60..=141).contains(n),
            "{mode}: uneven spread, {name} got {n}/300: {h:?}"
        );
    }

    // getpeername shows the VIP; the backend answered.
    let vip_http = SocketAddr::from((vip, 80));
    let (peer, line) = tcp_identity(client, vip_http).expect("TCP to the VIP");
    assert_eq!(peer, vip_http, "{mode}: peer of a translated socket");
    assert!(
        line.starts_with("web-"),
        "{mode}: unexpected answer {line:?}"
    );

    // UDP through the VIP answers from the VIP, unconnected and connected.
    let vip_dns = SocketAddr::from((vip, 53));
    for connected in [false, true] {
        let (from, text) = udp_exchange(client, vip_dns, connected)
            .unwrap_or_else(|e| panic!("{mode}: UDP (connected: {connected}) to the VIP: {e}"));
        assert_eq!(
            from, vip_dns,
            "{mode}: UDP reply source (connected: {connected})"
        );
        assert!(
            text.starts_with("web-") && text.ends_with("ping"),
            "{mode}: UDP answer {text:?}"
        );
    }

    // No endpoints: refused at once.
    let t = Instant::now();
    let err = tcp_identity(client, SocketAddr::from((empty_vip, 80)))
        .expect_err("a Service without endpoints answered");
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "{mode}: refusal took {took:?}"
    );
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{mode}: {err}");

    // Hairpin: web-a reaches itself through the VIP.
    let web_a = pod_netns(c, "web-a").await;
    let names = curl_names(&web_a, vip, 30);
    assert!(
        !names.iter().any(|n| n == "FAIL"),
        "{mode}: hairpin failures: {names:?}"
    );
    assert!(
        names.iter().any(|n| n == "web-a"),
        "{mode}: web-a never reached itself: {names:?}"
    );

    // A removed endpoint is no longer chosen.
    let extra = format!("web-x-{mode}");
    create_pod(c, echo_pod(&extra, &nodes_of(c).await[1])).await;
    wait_endpoints(c, "web", 4).await;
    wait_for(&format!("{mode}: {extra} to be chosen"), 30, async || {
        curl_names(client, vip, 20).contains(&extra).then_some(())
    })
    .await;
    Api::<Pod>::namespaced(c.clone(), "default")
        .delete(&extra, &DeleteParams::default())
        .await
        .unwrap();
    wait_endpoints(c, "web", 3).await;
    // One sync after the slice changed: poll briefly for the data path,
    // then it must stay gone.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let names = curl_names(client, vip, 60);
    assert!(
        !names.contains(&extra),
        "{mode}: removed endpoint still chosen: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n == "FAIL"),
        "{mode}: failures after removal: {names:?}"
    );
}

async fn nodes_of(c: &Client) -> Vec<String> {
    let mut names: Vec<String> = Api::<Node>::all(c.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_vips_balance_in_both_modes() {
    if !support::root_or_skip() {
        return;
    }
    let net = Net::new(3);
    let _host = HostCleanup::new(&net);
    let s = net.server();
    let c = s.client().await;
    let mut a1 = Agent::start_with(&s, &net, 1, &["--proxy-mode", "ebpf"]);
    let mut a2 = Agent::start_with(&s, &net, 2, &["--proxy-mode", "ebpf"]);
    let (n1, n2) = (a1.name.clone(), a2.name.clone());
    wait_mode(&n1, "ebpf").await;
    wait_mode(&n2, "ebpf").await;

    for (name, node) in [("web-a", &n1), ("web-b", &n2), ("web-c", &n1)] {
        create_pod(&c, echo_pod(name, node)).await;
    }
    let vip = create_service(&c, "web", "web").await;
    let empty_vip = create_service(&c, "empty", "nothing").await;
    // The client container writes what it got through the VIP, using the
    // Service environment variables, to a file the test reads.
    let out_file = s.data_dir().join("client.out");
    let script = format!(
        "sleep 3; for i in 1 2 3 4 5; do curl -s -m 2 http://$WEB_SERVICE_HOST:$WEB_SERVICE_PORT_HTTP/ >> {f} || echo FAIL >> {f}; done; sleep 3600",
        f = out_file.display()
    );
    wait_endpoints(&c, "web", 3).await;
    create_pod(
        &c,
        pod("client", &n1, json!(["bash", "-c", script]), json!({})),
    )
    .await;
    let client = pod_netns(&c, "client").await;

    check_data_path(&c, "ebpf", &client, vip, empty_vip).await;
    let from_container = wait_for("the client container's requests", 30, async || {
        let text = std::fs::read_to_string(&out_file).ok()?;
        (text.lines().count() >= 5).then_some(text)
    })
    .await;
    assert!(
        from_container.lines().all(|l| l.starts_with("web-")),
        "a container process through the VIP: {from_container}"
    );

    // Connection counters and the table read back from the pinned maps.
    let rows = orch_proxy::ebpf::dump_pinned(&n1).expect("reading node 1's pinned maps");
    let web = rows
        .iter()
        .find(|(p, _)| p.frontend.ip == vip && p.frontend.port == 80)
        .expect("the web Service in the dump");
    assert_eq!(web.0.endpoints.len(), 3, "{rows:?}");
    assert!(web.1 >= 300, "connection counter of web: {}", web.1);

    // A proxy restart under a bounded client loop fails nothing.
    let loop_ns = client.clone();
    let vip_http = SocketAddr::from((vip, 80));
    let clients = std::thread::spawn(move || {
        let mut failures = Vec::new();
        for _ in 0..150 {
            if let Err(e) = tcp_identity(&loop_ns, vip_http) {
                failures.push(e.to_string());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        failures
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    a1.kill9();
    tokio::time::sleep(Duration::from_millis(300)).await;
    a1.spawn();
    let failures = tokio::task::spawn_blocking(move || clients.join().unwrap())
        .await
        .unwrap();
    assert!(
        failures.is_empty(),
        "requests failed across a proxy restart: {failures:?}"
    );
    wait_mode(&n1, "ebpf").await;
    let links = std::fs::read_dir(pins(&n1))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("link_"))
        .count();
    assert_eq!(links, 4, "one pinned link per hook after the restart");

    // Switch every node to iptables: no eBPF pins left, ORCH chains there.
    restart_with_mode(&mut a1, "iptables");
    restart_with_mode(&mut a2, "iptables");
    wait_mode(&n1, "iptables").await;
    wait_mode(&n2, "iptables").await;
    for n in [&n1, &n2] {
        assert!(
            !pins(n).exists(),
            "eBPF pins of {n} left after switching to iptables"
        );
        wait_for(&format!("ORCH chains in {n}"), 30, async || {
            orch_chains(n).contains("ORCH-SERVICES").then_some(())
        })
        .await;
    }
    // Give the fresh proxies their first sync.
    let served = wait_until(30, || curl_names(&client, vip, 1) != ["FAIL"]);
    assert!(
        served,
        "iptables mode does not serve the VIP; node 1 rules:\n{}",
        orch_chains(&n1)
    );
    check_data_path(&c, "iptables", &client, vip, empty_vip).await;

    // And back to eBPF: no ORCH chains left.
    restart_with_mode(&mut a1, "ebpf");
    wait_mode(&n1, "ebpf").await;
    assert_eq!(
        orch_chains(&n1),
        "",
        "iptables rules left after switching back to eBPF"
    );
    assert!(pins(&n1).exists());

    // Teardown removes everything of both modes.
    drop(a1);
    drop(a2);
    for n in [&n1, &n2] {
        assert!(!pins(n).exists(), "eBPF pins of {n} left after teardown");
    }
}
