//! A highly available control plane, as real processes on loopback: two
//! `orch server`s over one etcd (a 3-member cluster, or one member), the
//! second joined with the first one's server token.
//! - The etcd leader is killed during a bounded write loop through both
//!   servers: every acknowledged write is still there, read through either
//!   server, and both take writes again. ClusterIPs allocated concurrently
//!   through both servers from a small range are all different. The
//!   `kubernetes` endpoints list both servers until one dies.
//! - (root) The server that leads reconciliation is killed: the other takes
//!   the Lease within its duration, a Deployment scaled meanwhile
//!   converges, and a node agent given both servers keeps its node Ready
//!   and its Lease renewed throughout.
mod support;

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use futures::future::join_all;
use k8s_openapi::api::{
    apps::v1::Deployment,
    coordination::v1::Lease,
    core::v1::{ConfigMap, Node, Service},
    discovery::v1::EndpointSlice,
};
use kube::{
    api::{Api, ListParams, Patch, PatchParams, PostParams},
    Client,
};
use orch_testkit::{
    etcd::{binary, Etcd},
    etcd_cluster::EtcdCluster,
};
use serde_json::json;
use support::{
    agent::{wait_for, Agent, HostCleanup, Net},
    TestServer,
};

/// Flags of a server on etcd `endpoints`; `token` joins the cluster.
fn etcd_flags<'a>(endpoints: &'a str, token: Option<&'a str>) -> Vec<&'a str> {
    let mut f = vec!["--store", "etcd", "--etcd-endpoints", endpoints];
    if let Some(t) = token {
        f.extend(["--token", t]);
    }
    f
}

fn server_token(s: &TestServer) -> String {
    std::fs::read_to_string(s.data_dir().join("server-token"))
        .expect("the first server keeps its server token")
        .trim()
        .to_string()
}

/// The two servers share the cluster's CA and tokens.
fn assert_same_cluster(a: &TestServer, b: &TestServer) {
    for f in ["ca.crt", "admin-token", "join-token", "token-key"] {
        assert_eq!(
            std::fs::read(a.data_dir().join(f)).unwrap(),
            std::fs::read(b.data_dir().join(f)).unwrap(),
            "{f} differs between the servers"
        );
    }
}

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"n": name}})).unwrap()
}

async fn names(c: &Client) -> HashSet<String> {
    Api::<ConfigMap>::namespaced(c.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|n| n.starts_with("w-"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_the_loss_of_the_etcd_leader() {
    let mut etcd = tokio::task::spawn_blocking(|| EtcdCluster::start(&binary(), 3))
        .await
        .unwrap()
        .expect("starting a 3-member etcd cluster");
    let eps = etcd.endpoints();
    let plain = ["--no-controllers", "--no-scheduler", "--no-cluster-dns"];
    // A /26: 61 addresses for Services, so two servers allocating on their
    // own would collide almost at once.
    let small = ["--service-cidr", "10.97.0.0/26"];
    // Distinct advertised addresses, as servers on two machines.
    let mut flags = etcd_flags(&eps, None);
    flags.extend(plain.iter().chain(&small));
    flags.extend(["--advertise-address", "127.0.0.2"]);
    let mut a = TestServer::start_with(&flags);
    let token = server_token(&a);
    let mut flags = etcd_flags(&eps, Some(&token));
    flags.extend(plain.iter().chain(&small));
    flags.extend(["--advertise-address", "127.0.0.3"]);
    let b = TestServer::start_with(&flags);
    assert_same_cluster(&a, &b);
    let clients = [a.client().await, b.client().await];

    // Bounded write loop through both servers; the etcd leader is killed
    // after a third of it.
    const WRITES: usize = 300;
    let started = Instant::now();
    let (mut acked, mut failed) = (Vec::new(), Vec::new());
    let mut killed = None;
    for i in 0..WRITES {
        if i == WRITES / 3 {
            let leader = etcd.leader().expect("finding the etcd leader");
            etcd.member(leader).kill();
            killed = Some(leader);
        }
        let name = format!("w-{i:04}");
        let api = Api::<ConfigMap>::namespaced(clients[i % 2].clone(), "default");
        match tokio::time::timeout(
            Duration::from_secs(30),
            api.create(&PostParams::default(), &config_map(&name)),
        )
        .await
        {
            Ok(Ok(_)) => acked.push(name),
            Ok(Err(e)) => failed.push(format!("{name}: {e}")),
            Err(_) => panic!("a create through server {} hung for 30 s", i % 2),
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the write loop ran over 180 s"
        );
    }
    eprintln!(
        "etcd member {} (leader) killed: {} writes acknowledged, {} failed in {:.1} s",
        killed.unwrap(),
        acked.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        acked.len() >= WRITES / 2,
        "the API did not keep taking writes: {failed:?}"
    );

    // Both servers take writes again, and every acknowledged write is
    // there through either.
    for (i, c) in clients.iter().enumerate() {
        let api = Api::<ConfigMap>::namespaced(c.clone(), "default");
        wait_for(
            &format!("server {i} to take writes again"),
            30,
            async || {
                api.create(&PostParams::default(), &config_map(&format!("w-after-{i}")))
                    .await
                    .ok()
            },
        )
        .await;
        let have = names(c).await;
        let lost: Vec<&String> = acked.iter().filter(|n| !have.contains(*n)).collect();
        assert!(
            lost.is_empty(),
            "server {i} lost acknowledged writes: {lost:?}"
        );
    }

    // ClusterIPs taken at the same time through both servers never clash.
    let creates = (0..56).map(|i| {
        let api = Api::<Service>::namespaced(clients[i % 2].clone(), "default");
        async move {
            let svc: Service = serde_json::from_value(json!({
                "metadata": {"name": format!("s-{i}")},
                "spec": {"ports": [{"port": 80}]}
            }))
            .unwrap();
            api.create(&PostParams::default(), &svc)
                .await
                .unwrap_or_else(|e| panic!("service s-{i}: {e}"))
                .spec
                .and_then(|s| s.cluster_ip)
                .unwrap()
        }
    });
    let ips: Vec<String> = join_all(creates).await;
    let distinct: HashSet<&String> = ips.iter().collect();
    assert_eq!(
        distinct.len(),
        ips.len(),
        "a ClusterIP was given twice: {ips:?}"
    );
    assert!(
        !distinct.contains(&"10.97.0.1".to_string()),
        "the kubernetes Service's address was reused"
    );

    // The `kubernetes` endpoints list both servers, and lose one that dies.
    assert_eq!(api_endpoints(&clients[1]).await, ["127.0.0.2", "127.0.0.3"]);
    a.kill9();
    let killed = Instant::now();
    wait_for(
        "the dead server to leave the kubernetes endpoints",
        30,
        async || (api_endpoints(&clients[1]).await == ["127.0.0.3"]).then_some(()),
    )
    .await;
    eprintln!(
        "the dead server left the kubernetes endpoints after {:.1} s",
        killed.elapsed().as_secs_f64()
    );
}

/// The addresses in the EndpointSlice `default/kubernetes`.
async fn api_endpoints(c: &Client) -> Vec<String> {
    let slice = Api::<EndpointSlice>::namespaced(c.clone(), "default")
        .get("kubernetes")
        .await
        .unwrap();
    slice
        .endpoints
        .into_iter()
        .flat_map(|e| e.addresses)
        .collect()
}

async fn node_ready(c: &Client, node: &str) -> Option<bool> {
    let n = Api::<Node>::all(c.clone()).get_opt(node).await.ok()??;
    let ready = n
        .status?
        .conditions?
        .into_iter()
        .find(|c| c.type_ == "Ready")?;
    Some(ready.status == "True")
}

async fn ready_replicas(c: &Client, name: &str) -> i32 {
    Api::<Deployment>::namespaced(c.clone(), "default")
        .get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|d| d.status)
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

/// Leader election Lease duration of the servers, in seconds.
const LEADER_LEASE: u64 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_other_server_takes_over_and_the_node_stays_ready() {
    if !support::root_or_skip() {
        return;
    }
    let etcd = tokio::task::spawn_blocking(|| Etcd::start(&binary()))
        .await
        .unwrap()
        .expect("starting etcd");
    let url = etcd.client_url();
    let net = Net::new(4);
    let _host = HostCleanup::new(&net);
    let lease = LEADER_LEASE.to_string();
    let loops = [
        "--no-cluster-dns",
        "--leader-lease-seconds",
        &lease,
        "--node-monitor-grace-period-seconds",
        "20",
    ];
    let mut flags = etcd_flags(&url, None);
    flags.extend(loops);
    let mut a = net.server_with(&flags);
    let ca = a.client().await;
    let first = wait_for("server A to lead", 30, async || {
        support::controller_lease_holder(&ca).await
    })
    .await;
    let token = server_token(&a);
    let mut flags = etcd_flags(&url, Some(&token));
    flags.extend(loops);
    let b = net.server_with(&flags);
    assert_same_cluster(&a, &b);
    let cb = b.client().await;
    assert_eq!(
        support::controller_lease_holder(&cb).await.as_deref(),
        Some(first.as_str())
    );

    // The agent knows both servers, A first.
    let b_url = b.url();
    let agent = Agent::start_with(&a, &net, 0, &["--server", &b_url]);
    let node = agent.name.clone();
    wait_for("the node to be Ready", 60, async || {
        node_ready(&cb, &node).await.filter(|r| *r)
    })
    .await;
    let deploy: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "ha"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "ha"}},
            "template": {
                "metadata": {"labels": {"app": "ha"}},
                "spec": {"terminationGracePeriodSeconds": 2, "containers": [{"name": "main", "image": "host", "command": ["sleep", "600"]}]}
            }
        }
    }))
    .unwrap();
    let deployments = Api::<Deployment>::namespaced(cb.clone(), "default");
    deployments
        .create(&PostParams::default(), &deploy)
        .await
        .unwrap();
    wait_for("one ready replica", 60, async || {
        (ready_replicas(&cb, "ha").await == 1).then_some(())
    })
    .await;

    // Kill the leading server (also the one the agent talks to), and scale
    // the Deployment through the other while nobody reconciles.
    a.kill9();
    let killed = Instant::now();
    let leases = Api::<Lease>::namespaced(cb.clone(), "kube-node-lease");
    let renewed_before = leases.get(&node).await.unwrap().spec.unwrap().renew_time;
    deployments
        .patch(
            "ha",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();

    let (mut took_over, mut renewed, mut converged) = (None, None, None);
    let deadline = killed + Duration::from_secs(90 * support::time_scale());
    while (took_over.is_none() || renewed.is_none() || converged.is_none())
        && Instant::now() < deadline
    {
        assert_eq!(
            node_ready(&cb, &node).await,
            Some(true),
            "the node left Ready {:.1} s after server A died",
            killed.elapsed().as_secs_f64()
        );
        if took_over.is_none()
            && support::controller_lease_holder(&cb)
                .await
                .is_some_and(|h| h != first)
        {
            took_over = Some(killed.elapsed());
        }
        if renewed.is_none() {
            let now = leases.get(&node).await.unwrap().spec.unwrap().renew_time;
            if now != renewed_before {
                renewed = Some(killed.elapsed());
            }
        }
        if converged.is_none() && ready_replicas(&cb, "ha").await == 3 {
            converged = Some(killed.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "after server A died: B led after {took_over:?}, the node Lease was renewed after \
         {renewed:?}, 3 replicas ready after {converged:?}"
    );
    let took_over = took_over.expect("server B never took the controller Lease");
    assert!(
        took_over <= Duration::from_secs(LEADER_LEASE + 3) * support::time_scale() as u32,
        "B took over after {took_over:?}, more than the {LEADER_LEASE} s Lease (+3 s)"
    );
    renewed.expect("the agent never renewed its node Lease through server B");
    converged.expect("the Deployment scaled meanwhile never reached 3 ready replicas");
    drop(agent);
}
