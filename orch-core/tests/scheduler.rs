//! The scheduler end to end: a real `orch server` process (controllers
//! off, so nothing else touches the fake nodes), Node objects created with
//! allocatable resources, Ready conditions and taints, and pods that must
//! end up bound to the right node, or marked unschedulable with
//! Kubernetes' message, and retried when the cluster changes.
mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::{
    api::{Api, DeleteParams, ListParams, PostParams},
    Client,
};
use orch_core::scheduler::{self, BindResult, SchedulerOptions};
use serde_json::{json, Value};
use support::TestServer;

/// A server running only the scheduler, with this initial backoff.
fn server(backoff_ms: u64) -> TestServer {
    TestServer::start_with(&[
        "--no-controllers",
        "--scheduler-backoff-ms",
        &backoff_ms.to_string(),
    ])
}

fn node_json(name: &str, cpu: &str, mem: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {
            "capacity": {"cpu": cpu, "memory": mem, "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": mem, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        },
    })
}

async fn create_node(c: &Client, n: Value) {
    let n: Node = serde_json::from_value(n).unwrap();
    Api::<Node>::all(c.clone())
        .create(&PostParams::default(), &n)
        .await
        .unwrap();
}

fn pod_json(name: &str, cpu: &str) -> Value {
    let mut p = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": "app:1", "command": ["/bin/sleep", "1000"]}]},
    });
    if !cpu.is_empty() {
        p["spec"]["containers"][0]["resources"] = json!({"requests": {"cpu": cpu}});
    }
    p
}

async fn create_pod(c: &Client, p: Value) -> Pod {
    let p: Pod = serde_json::from_value(p).unwrap();
    Api::<Pod>::namespaced(c.clone(), "default")
        .create(&PostParams::default(), &p)
        .await
        .unwrap()
}

/// Polls until `f` gives `Some`, for at most `secs` seconds.
async fn until<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn node_of(c: &Client, pod: &str) -> Option<String> {
    let p = Api::<Pod>::namespaced(c.clone(), "default")
        .get(pod)
        .await
        .ok()?;
    p.spec?.node_name.filter(|n| !n.is_empty())
}

async fn bound_to(c: &Client, pod: &str) -> String {
    until(20, &format!("{pod} to be bound"), || node_of(c, pod)).await
}

async fn events_for(c: &Client, pod: &str) -> Vec<Event> {
    let evs = Api::<Event>::namespaced(c.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap();
    evs.items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(pod))
        .collect()
}

#[tokio::test]
async fn pods_land_on_the_only_node_that_fits() {
    let s = server(200);
    let c = s.client().await;
    create_node(&c, node_json("small", "1", "4Gi")).await;
    let mut tainted = node_json("tainted", "16", "64Gi");
    tainted["spec"]["taints"] =
        json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]);
    create_node(&c, tainted).await;
    let mut down = node_json("down", "16", "64Gi");
    down["status"]["conditions"] = json!([{"type": "Ready", "status": "False"}]);
    create_node(&c, down).await;
    let mut cordoned = node_json("cordoned", "16", "64Gi");
    cordoned["spec"]["unschedulable"] = json!(true);
    create_node(&c, cordoned).await;
    create_node(&c, node_json("big", "4", "8Gi")).await;

    create_pod(&c, pod_json("web-1", "2")).await;
    assert_eq!(bound_to(&c, "web-1").await, "big");
    let p = Api::<Pod>::namespaced(c.clone(), "default")
        .get("web-1")
        .await
        .unwrap();
    let cond = p.status.unwrap().conditions.unwrap();
    assert!(
        cond.iter()
            .any(|c| c.type_ == "PodScheduled" && c.status == "True"),
        "{cond:?}"
    );

    let ev = until(10, "the Scheduled event", || async {
        events_for(&c, "web-1")
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("Scheduled"))
    })
    .await;
    assert_eq!(
        ev.message.as_deref(),
        Some("Successfully assigned default/web-1 to big")
    );
    assert_eq!(ev.type_.as_deref(), Some("Normal"));
    assert_eq!(
        ev.source.and_then(|s| s.component).as_deref(),
        Some("default-scheduler")
    );

    // A pod that tolerates the taint and asks for more than "big" has.
    let mut db = pod_json("db-1", "8");
    db["spec"]["tolerations"] =
        json!([{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]);
    create_pod(&c, db).await;
    assert_eq!(bound_to(&c, "db-1").await, "tainted");
}

#[tokio::test]
async fn selectors_and_affinity_choose_the_node() {
    let s = server(200);
    let c = s.client().await;
    for (name, disk, gen) in [
        ("n-ssd", "ssd", "5"),
        ("n-hdd", "hdd", "3"),
        ("n-none", "", "1"),
    ] {
        let mut n = node_json(name, "8", "16Gi");
        if !disk.is_empty() {
            n["metadata"]["labels"]["disk"] = json!(disk);
        }
        n["metadata"]["labels"]["gen"] = json!(gen);
        create_node(&c, n).await;
    }
    let mut sel = pod_json("sel", "");
    sel["spec"]["nodeSelector"] = json!({"disk": "hdd"});
    create_pod(&c, sel).await;
    let mut gt = pod_json("gt", "");
    gt["spec"]["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["4"]}]}]}}});
    create_pod(&c, gt).await;
    let mut absent = pod_json("absent", "");
    absent["spec"]["affinity"] = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "DoesNotExist"}]}]}}});
    create_pod(&c, absent).await;
    let mut pref = pod_json("pref", "");
    pref["spec"]["affinity"] = json!({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}});
    create_pod(&c, pref).await;
    assert_eq!(bound_to(&c, "sel").await, "n-hdd");
    assert_eq!(bound_to(&c, "gt").await, "n-ssd");
    assert_eq!(bound_to(&c, "absent").await, "n-none");
    assert_eq!(bound_to(&c, "pref").await, "n-ssd");
}

#[tokio::test]
async fn pods_of_one_owner_spread_over_nodes() {
    let s = server(200);
    let c = s.client().await;
    for n in ["a", "b", "c"] {
        create_node(&c, node_json(n, "64", "256Gi")).await;
    }
    for i in 0..9 {
        let mut p = pod_json(&format!("r-{i}"), "100m");
        p["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "name": "r", "uid": "3f1d7a4e-0000-4000-8000-000000000001", "controller": true}]);
        create_pod(&c, p).await;
    }
    let mut per_node = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..9 {
        *per_node
            .entry(bound_to(&c, &format!("r-{i}")).await)
            .or_default() += 1;
    }
    assert_eq!(per_node.into_values().collect::<Vec<_>>(), [3, 3, 3]);
}

#[tokio::test]
async fn unschedulable_pods_get_the_message_and_retry_when_a_node_is_added() {
    // An initial backoff of a minute: only the node-add event can explain
    // a quick retry.
    let s = server(60_000);
    let c = s.client().await;
    let mut t = node_json("n1", "4", "8Gi");
    t["spec"]["taints"] = json!([{"key": "key", "value": "value", "effect": "NoSchedule"}]);
    create_node(&c, t).await;
    create_node(&c, node_json("n2", "1", "8Gi")).await;
    create_node(&c, node_json("n3", "1500m", "8Gi")).await;
    create_pod(&c, pod_json("big", "2")).await;

    let want = "0/3 nodes are available: 1 node(s) had untolerated taint {key: value}, 2 Insufficient cpu.";
    let api = Api::<Pod>::namespaced(c.clone(), "default");
    let cond = until(20, "PodScheduled=False", || async {
        let p = api.get("big").await.ok()?;
        p.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    })
    .await;
    assert_eq!(cond.reason.as_deref(), Some("Unschedulable"));
    assert_eq!(cond.message.as_deref(), Some(want));
    let ev = until(10, "the FailedScheduling event", || async {
        events_for(&c, "big")
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("FailedScheduling"))
    })
    .await;
    assert_eq!(ev.message.as_deref(), Some(want));
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    assert_eq!(node_of(&c, "big").await, None);

    let added = Instant::now();
    create_node(&c, node_json("n4", "2", "8Gi")).await;
    assert_eq!(bound_to(&c, "big").await, "n4");
    assert!(
        added.elapsed() < Duration::from_secs(15),
        "retried only after {:?}",
        added.elapsed()
    );
    let p = api.get("big").await.unwrap();
    let cond = p.status.unwrap().conditions.unwrap();
    assert!(
        cond.iter()
            .any(|c| c.type_ == "PodScheduled" && c.status == "True"),
        "{cond:?}"
    );
}

#[tokio::test]
async fn a_burst_of_unschedulable_pods_does_not_open_a_connection_per_write() {
    // The scheduler reports each pod unschedulable with a status write.
    // Over HTTP/1.1 with no bound, every write in flight took a client
    // connection of its own (both ends in the server process; 88 sockets
    // here), left idle in the pool afterwards. The loops' client
    // multiplexes over HTTP/2 and the writes in flight are bounded.
    const PODS: usize = 300;
    let s = server(60_000);
    let c = s.client().await;
    let api = Api::<Pod>::namespaced(c.clone(), "default");
    let creates = futures::stream::iter(0..PODS)
        .map(|i| {
            let c = c.clone();
            async move { create_pod(&c, pod_json(&format!("burst-{i}"), "100m")).await }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>();
    creates.await;
    until(60, "every pod reported unschedulable", || async {
        let pods = api.list(&ListParams::default()).await.ok()?;
        let reported = pods
            .items
            .iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "PodScheduled" && c.status == "False")
                    })
            })
            .count();
        (reported == PODS).then_some(())
    })
    .await;
    let sockets = s.sockets();
    eprintln!("the server holds {sockets} sockets");
    assert!(
        sockets < 40,
        "the server holds {sockets} sockets after the burst"
    );
}

#[tokio::test]
async fn deleting_a_bound_pod_makes_room_at_once() {
    let s = server(60_000);
    let c = s.client().await;
    create_node(&c, node_json("only", "1", "8Gi")).await;
    create_pod(&c, pod_json("first", "800m")).await;
    assert_eq!(bound_to(&c, "first").await, "only");
    create_pod(&c, pod_json("second", "800m")).await;
    let api = Api::<Pod>::namespaced(c.clone(), "default");
    until(20, "second to be unschedulable", || async {
        let p = api.get("second").await.ok()?;
        p.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    })
    .await;
    // Bound pods terminate gracefully: delete at once.
    api.delete(
        "first",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    until(20, "first to be gone", || async {
        api.get_opt("first").await.ok()?.is_none().then_some(())
    })
    .await;
    let t = Instant::now();
    assert_eq!(bound_to(&c, "second").await, "only");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
}

#[tokio::test]
async fn double_binding_gets_409_and_racing_schedulers_bind_once() {
    let s = server(200);
    let c = s.client().await;
    create_node(&c, node_json("n1", "64", "64Gi")).await;
    create_node(&c, node_json("n2", "64", "64Gi")).await;
    // The binding call itself: the second one is answered 409.
    let mut p = pod_json("manual", "");
    p["spec"]["schedulerName"] = json!("nobody");
    create_pod(&c, p).await;
    assert_eq!(
        scheduler::bind(c.clone(), "default", "manual", "", "n1").await,
        BindResult::Bound
    );
    assert_eq!(
        scheduler::bind(c.clone(), "default", "manual", "", "n2").await,
        BindResult::AlreadyBound
    );
    let raw = s
        .http()
        .send(
            "POST",
            "/api/v1/namespaces/default/pods/manual/binding",
            Some(&s.admin_token()),
            &[("content-type", "application/json")],
            serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": "manual"}, "target": {"kind": "Node", "name": "n2"}}))
            .unwrap(),
        )
        .await;
    assert_eq!(raw.status, 409);
    assert_eq!(node_of(&c, "manual").await.as_deref(), Some("n1"));

    // A second scheduler in this process races the server's for every
    // pod: each pod is bound exactly once, and the loser's 409 is taken
    // as done (no "Binding rejected" event, no retry).
    let rival = tokio::spawn(scheduler::run(c.clone(), SchedulerOptions::default()));
    for i in 0..40 {
        create_pod(&c, pod_json(&format!("race-{i}"), "10m")).await;
    }
    for i in 0..40 {
        bound_to(&c, &format!("race-{i}")).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    rival.abort();
    let evs = Api::<Event>::namespaced(c.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap();
    let rejected: Vec<_> = evs
        .items
        .iter()
        .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
        .collect();
    assert!(rejected.is_empty(), "{rejected:?}");
}
