//! End to end, in both proxy modes: a 3-node cluster started as users start
//! it (`cargo xtask run`), the demo Deployment `web` behind its Service, a
//! client pod pinned to every node, and then, in order:
//!
//! 1. curl by name (`web`, `web.default.svc.cluster.local`) and by VIP from
//!    every node's client pod;
//! 2. dig through the pod's resolv.conf (`+search web`), at the cluster DNS
//!    address (the proxy's UDP path), and a name outside the cluster that
//!    the cluster DNS forwards to an upstream this test runs in a namespace
//!    of its own;
//! 3. scaling 3 → 10 → 1 → 3, endpoints and the data path following;
//! 4. self-healing: a killed container is restarted, a deleted pod
//!    replaced, with endpoints and traffic following;
//! 5. a rolling update under a request loop: no request fails;
//! 6. node death: an agent is killed and its node cut off; the node turns
//!    NotReady, its pods are rescheduled, traffic continues;
//! 7. teardown leaves nothing.
//!
//! Needs root (fails under CI without it). The two modes run one after the
//! other. Every wait and every request loop is bounded; all traffic stays
//! inside namespaces the run or the test created.
use std::{
    collections::BTreeSet,
    net::{Ipv4Addr, SocketAddr},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context, Result};
use k8s_openapi::api::{apps::v1::Deployment, core::v1::Node, core::v1::Pod};
use kube::{
    api::{DeleteParams, ListParams, Patch, PatchParams},
    Api, Client, ResourceExt,
};
use orch_tests::{
    cluster::{api, netns, ClusterRun, RunOptions},
    dns::upstream::Upstream,
    require_root, NetnsGuard, VethGuard,
};

/// One cluster at a time: the checks measure timing-sensitive behaviour.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The name the upstream knows, and its address.
const OUTSIDE_NAME: &str = "www.e2e.test";
const OUTSIDE_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebpf_mode_end_to_end() -> Result<()> {
    suite("ebpf", 202).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iptables_mode_end_to_end() -> Result<()> {
    suite("iptables", 204).await
}

/// The whole sequence in one proxy mode; `octet` keeps its addresses apart.
async fn suite(mode: &str, octet: u8) -> Result<()> {
    if !require_root("starts a whole cluster: namespaces, bridges, cgroups, eBPF") {
        return Ok(());
    }
    let _one = SERIAL.lock().await;
    let started = Instant::now();
    let upstream_ip = Ipv4Addr::new(10, octet, 0, 200);
    let opts = RunOptions {
        id: format!("e{}{:x}", &mode[..1], std::process::id() % 0xfff),
        nodes: 3,
        proxy_mode: mode.to_string(),
        octet,
        server_args: vec![
            // Leases are renewed every 10 s: NotReady 15 s after the last.
            "--node-monitor-grace-period-seconds=15".into(),
            "--default-toleration-seconds=2".into(),
            format!("--cluster-dns-upstream={upstream_ip}"),
        ],
    };
    let mut run = ClusterRun::start(opts)?;
    let vip = run.wait_ready(Duration::from_secs(240))?;
    let up_after = started.elapsed();
    let out = run.output();
    ensure!(
        vip.starts_with(&format!("10.{}.", octet + 1)),
        "VIP {vip} is not in the run's service CIDR"
    );
    ensure!(
        out.contains("demo answering") && out.contains("cluster DNS"),
        "{out}"
    );
    let client = run.client().await?;
    let nodes = run.nodes();
    let mut clients = Vec::new();
    for (k, node) in nodes.iter().enumerate() {
        let name = format!("client-{}", k + 1);
        clients.push(api::pinned_pod(&client, &name, node, &["/bin/sleep", "infinity"]).await?);
    }
    let url = format!("http://{vip}/");
    let mut seen_netns: BTreeSet<String> = clients.iter().cloned().collect();

    reach_by_name_and_vip(&clients, &vip).context("reaching the demo")?;
    // Dropped before the teardown: its link is on the run's bridge.
    let (upstream, upstream_ns, upstream_veth) =
        outside_upstream(&run, &client, upstream_ip).await?;
    cluster_dns(&clients[0], &vip, run.dns_ip(), &upstream).context("cluster DNS")?;
    scaling(&client, &clients[0], &url)
        .await
        .context("scaling")?;
    note_netns(&client, &mut seen_netns).await?;
    restart_after_kill(&client, &clients[1], &url)
        .await
        .context("self-healing: killed container")?;
    replace_after_delete(&client, &clients[2], &url)
        .await
        .context("self-healing: deleted pod")?;
    rolling_update(&client, &clients[0], &url)
        .await
        .context("rolling update")?;
    note_netns(&client, &mut seen_netns).await?;
    node_death(&mut run, &client, &clients[0], &url)
        .await
        .context("node death")?;
    note_netns(&client, &mut seen_netns).await?;
    drop(upstream);
    drop(upstream_veth);
    drop(upstream_ns);
    teardown_leaves_nothing(&mut run, &seen_netns).context("teardown")?;
    eprintln!(
        "e2e {mode}: cluster up in {:.1}s, whole suite {:.1}s",
        up_after.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// From every node's client pod: by short name, full name and VIP.
fn reach_by_name_and_vip(clients: &[String], vip: &str) -> Result<()> {
    for ns in clients {
        for url in [
            "http://web/".to_string(),
            "http://web.default.svc.cluster.local/".to_string(),
            format!("http://{vip}/"),
        ] {
            let body = netns::curl(ns, &url)?;
            ensure!(body.starts_with("web-"), "{url} from {ns}: {body:?}");
        }
    }
    Ok(())
}

/// An upstream DNS server in a namespace of the test's own on the run's
/// host bridge, with routes to every node's pods (via the node).
async fn outside_upstream(
    run: &ClusterRun,
    client: &Client,
    ip: Ipv4Addr,
) -> Result<(Upstream, NetnsGuard, VethGuard)> {
    let ns = NetnsGuard::new("eup");
    let veth = VethGuard::new(&ns, &format!("{ip}/24"));
    veth.attach_to_bridge(&run.bridge());
    for node in Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await?
    {
        let cidr = node.spec.as_ref().and_then(|s| s.pod_cidr.clone());
        let addr = node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
            .map(|a| a.address.clone());
        if let (Some(cidr), Some(addr)) = (cidr, addr) {
            ns.exec_ok(&["ip", "route", "replace", &cidr, "via", &addr]);
        }
    }
    let up = Upstream::start_in(
        &ns.path(),
        SocketAddr::from((ip, 53)),
        &[(&format!("{OUTSIDE_NAME}."), OUTSIDE_IP)],
    )
    .await?;
    Ok((up, ns, veth))
}

/// dig as a pod does: search path, the cluster DNS VIP, and forwarding.
fn cluster_dns(ns: &str, vip: &str, dns_ip: Ipv4Addr, upstream: &Upstream) -> Result<()> {
    let a = netns::dig_short(ns, &["+search", "web"])?;
    ensure!(a == [vip], "dig +search web: {a:?}, want {vip}");
    let at = format!("@{dns_ip}");
    let a = netns::dig_short(ns, &[&at, "web.default.svc.cluster.local"])?;
    ensure!(a == [vip], "dig {at} web.default.svc.cluster.local: {a:?}");
    let a = netns::dig_short(ns, &["+tcp", &at, "web.default.svc.cluster.local"])?;
    ensure!(a == [vip], "dig +tcp {at}: {a:?}");
    let a = netns::dig_short(ns, &[OUTSIDE_NAME])?;
    ensure!(
        a == [OUTSIDE_IP.to_string()],
        "dig {OUTSIDE_NAME} (forwarded): {a:?}"
    );
    ensure!(upstream.asked() > 0, "the upstream was never asked");
    Ok(())
}

/// Names of the live `web` pods.
async fn web_names(client: &Client) -> Result<BTreeSet<String>> {
    Ok(api::live_pods(client, "default", "app=web")
        .await?
        .iter()
        .map(|p| p.name_any())
        .collect())
}

/// Waits until `web` has exactly `n` live pods, all ready, and exactly
/// their addresses as ready endpoints.
async fn settled(client: &Client, n: usize) -> Result<Vec<Pod>> {
    api::wait(
        &format!("{n} ready web pods and endpoints"),
        Duration::from_secs(120),
        || async {
            let pods = api::live_pods(client, "default", "app=web").await?;
            let ready: Vec<String> = pods
                .iter()
                .filter(|p| api::is_ready(p))
                .map(api::ip_of)
                .collect();
            let mut want = ready.clone();
            want.sort();
            let eps = api::ready_endpoints(client, "default", "web").await?;
            let ok = pods.len() == n && ready.len() == n && eps == want;
            let state = format!("{} live, ready {ready:?}, endpoints {eps:?}", pods.len());
            Ok((ok.then_some(pods), state))
        },
    )
    .await
}

/// Requests until every pod of `want` answered. The proxies follow the
/// API within a moment: first a batch of 20 without a failure (within
/// 20 s), then at most `batches` × 100 requests, none failing.
async fn reach_all(ns: &str, url: &str, want: &BTreeSet<String>, batches: u32) -> Result<()> {
    let converged = Instant::now();
    let mut failures = BTreeSet::new();
    api::wait(
        "20 requests in a row answered",
        Duration::from_secs(20),
        || {
            let answers = netns::requests(ns, url, 20);
            if let Ok(a) = &answers {
                failures.extend(a.iter().filter(|a| a.starts_with("FAIL")).cloned());
            }
            async move {
                let answers = answers?;
                let ok = !answers.iter().any(|a| a.starts_with("FAIL"));
                Ok((ok.then_some(()), format!("{answers:?}")))
            }
        },
    )
    .await?;
    if !failures.is_empty() {
        eprintln!(
            "data path followed the API after {:.1}s (from {ns}, wanting {want:?}; {failures:?})",
            converged.elapsed().as_secs_f64()
        );
    }
    let mut seen = BTreeSet::new();
    for _ in 0..batches {
        let answers = netns::requests(ns, url, 100)?;
        let failed: Vec<&String> = answers.iter().filter(|a| a.starts_with("FAIL")).collect();
        ensure!(
            failed.is_empty(),
            "{} of 100 requests failed: {answers:?}",
            failed.len()
        );
        seen.extend(answers);
        if want.is_subset(&seen) {
            return Ok(());
        }
    }
    let missing: Vec<_> = want.difference(&seen).collect();
    bail!("pods {missing:?} never answered (answered: {seen:?})")
}

/// 3 → 10 → 1 → 3 replicas.
async fn scaling(client: &Client, ns: &str, url: &str) -> Result<()> {
    for n in [10usize, 1, 3] {
        api::scale(client, "default", "web", n as i32).await?;
        settled(client, n).await?;
        let names = web_names(client).await?;
        if n == 1 {
            // Every request to the one pod left, once the proxy follows.
            api::wait(
                "all answers from the one pod",
                Duration::from_secs(20),
                || async {
                    let answers = netns::requests(ns, url, 20)?;
                    let ok = answers.iter().all(|a| names.contains(a));
                    Ok((ok.then_some(()), format!("{answers:?}")))
                },
            )
            .await?;
        } else {
            reach_all(ns, url, &names, 5).await?;
        }
    }
    Ok(())
}

/// SIGKILL of a web container's process: restarted in place, ready again,
/// answering again.
async fn restart_after_kill(client: &Client, ns: &str, url: &str) -> Result<()> {
    let pods = settled(client, 3).await?;
    let victim = &pods[0];
    let name = victim.name_any();
    let before = api::restarts(victim);
    let pod_ns = api::netns_of(victim).context("the pod has no netns")?;
    let pid = netns::pids(&pod_ns)
        .into_iter()
        .find(|p| netns::cmdline(*p).contains("echo-server"))
        .with_context(|| format!("no echo-server process in {pod_ns}"))?;
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()?;
    ensure!(status.success(), "kill -KILL {pid}");
    let pods_api: Api<Pod> = Api::namespaced(client.clone(), "default");
    api::wait(
        &format!("{name} restarted and ready"),
        Duration::from_secs(90),
        || async {
            let p = pods_api.get(&name).await?;
            let (n, ready) = (api::restarts(&p), api::is_ready(&p));
            Ok((
                (n > before && ready).then_some(()),
                format!("restarts {n}, ready {ready}"),
            ))
        },
    )
    .await?;
    let after = settled(client, 3).await?;
    ensure!(
        after.iter().any(|p| p.name_any() == name),
        "{name} was replaced instead of restarted"
    );
    reach_all(ns, url, &BTreeSet::from([name]), 5).await
}

/// A deleted web pod: replaced, gone from endpoints, the new one answers.
async fn replace_after_delete(client: &Client, ns: &str, url: &str) -> Result<()> {
    let pods = settled(client, 3).await?;
    let victim = pods[0].name_any();
    let old_ip = api::ip_of(&pods[0]);
    let old: BTreeSet<String> = pods.iter().map(|p| p.name_any()).collect();
    Api::<Pod>::namespaced(client.clone(), "default")
        .delete(&victim, &DeleteParams::default())
        .await?;
    let now = api::wait("a replacement pod", Duration::from_secs(90), || async {
        let names = web_names(client).await?;
        let ok = names.len() == 3 && !names.contains(&victim);
        Ok((ok.then_some(names.clone()), format!("{names:?}")))
    })
    .await?;
    settled(client, 3).await?;
    let eps = api::ready_endpoints(client, "default", "web").await?;
    ensure!(
        !eps.contains(&old_ip),
        "{old_ip} still an endpoint: {eps:?}"
    );
    let fresh: BTreeSet<String> = now.difference(&old).cloned().collect();
    ensure!(fresh.len() == 1, "new pods {fresh:?}");
    reach_all(ns, url, &fresh, 5).await?;
    let answers = netns::requests(ns, url, 50)?;
    ensure!(
        !answers.contains(&victim),
        "the deleted pod {victim} still answers: {answers:?}"
    );
    Ok(())
}

/// A template change rolls out one pod at a time while a client sends a
/// request every 50 ms: every one of them answers 200.
async fn rolling_update(client: &Client, ns: &str, url: &str) -> Result<()> {
    settled(client, 3).await?;
    let before = web_names(client).await?;
    let requests =
        netns::Loop::start(ns, url, Duration::from_millis(50), Duration::from_secs(150))?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({
            "spec": {"template": {"metadata": {"annotations": {"e2e.orch.io/revision": "2"}}}}
        })),
    )
    .await?;
    api::wait("the rollout", Duration::from_secs(120), || async {
        let (done, state) = api::rolled_out(client, "default", "web").await?;
        Ok((done.then_some(()), state))
    })
    .await?;
    // Old pods drain: wait until none is left, terminating or not.
    api::wait("old pods gone", Duration::from_secs(60), || async {
        let all = Api::<Pod>::namespaced(client.clone(), "default")
            .list(&ListParams::default().labels("app=web"))
            .await?;
        let left: Vec<String> = all
            .items
            .iter()
            .map(|p| p.name_any())
            .filter(|n| before.contains(n))
            .collect();
        Ok((left.is_empty().then_some(()), format!("{left:?}")))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let codes = requests.finish()?;
    let failed: Vec<&String> = codes.iter().filter(|c| *c != "200").collect();
    eprintln!(
        "rolling update: {} requests, {} failed",
        codes.len(),
        failed.len()
    );
    ensure!(codes.len() >= 20, "only {} requests were made", codes.len());
    ensure!(
        failed.is_empty(),
        "{} of {} requests failed during the rollout: {failed:?}",
        failed.len(),
        codes.len()
    );
    let after = web_names(client).await?;
    ensure!(after.is_disjoint(&before), "pods not replaced: {after:?}");
    Ok(())
}

/// Kills the agent of a node holding a web pod (not the client's node) and
/// cuts the node off: NotReady, pods rescheduled, traffic continues.
async fn node_death(run: &mut ClusterRun, client: &Client, ns: &str, url: &str) -> Result<()> {
    let nodes = run.nodes();
    let pods = settled(client, 3).await?;
    let victim = pods
        .iter()
        .map(api::node_of)
        .find(|n| *n != nodes[0])
        .with_context(|| format!("every web pod is on {}", nodes[0]))?;
    let on_victim: BTreeSet<String> = pods
        .iter()
        .filter(|p| api::node_of(p) == victim)
        .map(|p| p.name_any())
        .collect();
    let pid = run.agent_pid(&victim)?;
    let killed = Instant::now();
    ensure!(
        Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()?
            .success(),
        "kill -KILL {pid}"
    );
    let status = Command::new("ip")
        .args([
            "-n",
            &run.node_netns(&victim),
            "link",
            "set",
            "eth0",
            "down",
        ])
        .status()?;
    ensure!(status.success(), "cutting {victim} off");
    let nodes_api: Api<Node> = Api::all(client.clone());
    api::wait(
        &format!("{victim} NotReady"),
        Duration::from_secs(60),
        || async {
            let n = nodes_api.get(&victim).await?;
            let ready = n
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .into_iter()
                .find(|c| c.type_ == "Ready")
                .map(|c| c.status)
                .unwrap_or_default();
            Ok(((ready != "True").then_some(()), format!("Ready={ready}")))
        },
    )
    .await?;
    let not_ready = killed.elapsed();
    // The node controller marks the pods NotReady and evicts them a moment
    // after the node itself turns NotReady: wait for that before asking
    // for three settled pods, or the old ones still count.
    api::wait(
        &format!("no live web pod on {victim}"),
        Duration::from_secs(120),
        || async {
            let on: Vec<String> = api::live_pods(client, "default", "app=web")
                .await?
                .iter()
                .filter(|p| api::node_of(p) == victim)
                .map(|p| p.name_any())
                .collect();
            Ok((on.is_empty().then_some(()), format!("still there: {on:?}")))
        },
    )
    .await?;
    let pods = settled(client, 3).await?;
    let moved = killed.elapsed();
    let still: Vec<String> = pods
        .iter()
        .filter(|p| api::node_of(p) == victim)
        .map(|p| p.name_any())
        .collect();
    ensure!(still.is_empty(), "pods still on {victim}: {still:?}");
    let names: BTreeSet<String> = pods.iter().map(|p| p.name_any()).collect();
    ensure!(
        names.is_disjoint(&on_victim),
        "{on_victim:?} were not rescheduled"
    );
    reach_all(ns, url, &names, 5).await?;
    ensure!(run.running(), "xtask run stopped when a node died");
    eprintln!(
        "node death: NotReady after {:.1}s, pods rescheduled and ready after {:.1}s",
        not_ready.as_secs_f64(),
        moved.as_secs_f64()
    );
    Ok(())
}

/// Adds the network namespaces of every pod to `seen`.
async fn note_netns(client: &Client, seen: &mut BTreeSet<String>) -> Result<()> {
    for p in Api::<Pod>::all(client.clone())
        .list(&ListParams::default())
        .await?
    {
        seen.extend(api::netns_of(&p));
    }
    Ok(())
}

/// SIGTERM to the run: a clean exit, and no namespace, bridge or bpf pin
/// of the run left.
fn teardown_leaves_nothing(run: &mut ClusterRun, pods_netns: &BTreeSet<String>) -> Result<()> {
    let status = run.terminate(Duration::from_secs(180));
    let out = run.output();
    ensure!(
        status.is_some_and(|s| s.success()),
        "xtask run did not stop cleanly ({status:?}):\n{out}"
    );
    ensure!(out.contains("nothing is left"), "{out}");
    ensure!(!run.state.join("ready").exists(), "ready file left");
    let listed = Command::new("ip").args(["netns", "list"]).output()?;
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let nodes = run.nodes();
    for ns in pods_netns
        .iter()
        .cloned()
        .chain(nodes.iter().map(|n| run.node_netns(n)))
    {
        ensure!(
            !listed
                .lines()
                .any(|l| l.split_whitespace().next() == Some(ns.as_str())),
            "netns {ns} left"
        );
    }
    let bridge = Command::new("ip")
        .args(["link", "show", &run.bridge()])
        .output()?;
    ensure!(!bridge.status.success(), "bridge {} left", run.bridge());
    for node in &nodes {
        let pins = std::path::Path::new("/sys/fs/bpf/orch").join(node);
        ensure!(!pins.exists(), "{} left", pins.display());
    }
    let rules = Command::new("iptables-save").output()?;
    let rules = String::from_utf8_lossy(&rules.stdout);
    for node in &nodes {
        ensure!(
            !rules.contains(node.as_str()),
            "iptables rules of {node} left"
        );
    }
    Ok(())
}
