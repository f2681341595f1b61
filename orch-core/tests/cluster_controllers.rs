//! The EndpointSlice, node lifecycle, node IPAM, garbage collector and
//! namespace controllers end to end, against a real `orch server` process.
//! The server runs with its own controllers and scheduler off; each test
//! runs exactly these five controllers in-process (with the options it
//! needs), so that nothing else touches its objects. Nodes are fake: Node
//! objects and Leases written by the test, no agents.
//!
//! This file holds the harness and shared helpers; the tests are grouped
//! by controller under `cluster_controllers/`. The last test checks that
//! `orch server` runs the controllers itself by default.
mod support;

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::{future::BoxFuture, FutureExt, StreamExt, TryStreamExt};
use k8s_openapi::{
    api::{
        apps::v1::{Deployment, ReplicaSet},
        coordination::v1::Lease,
        core::v1::{ConfigMap, Event, Namespace, Node, Pod, Secret, Service},
        discovery::v1::EndpointSlice,
    },
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::Timestamp,
};
use kube::{
    api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams},
    runtime::watcher,
    Client, Resource, ResourceExt,
};
use orch_core::controllers::{
    endpointslice,
    feed::{self, PodFeed},
    gc, namespace, nodeipam, nodelifecycle,
    runtime::supervise,
    ControllerError, ControllerOptions,
};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use support::TestServer;

type RunFn =
    fn(Client, ControllerOptions, PodFeed) -> BoxFuture<'static, Result<(), ControllerError>>;

/// A server plus the five controllers under test, stopped on drop.
struct Cluster {
    server: TestServer,
    client: Client,
    opts: ControllerOptions,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Cluster {
    async fn start(opts: ControllerOptions) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let server = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
        let client = server.client().await;
        let mut c = Self {
            server,
            client,
            opts,
            tasks: Vec::new(),
        };
        c.start_controllers();
        c
    }

    fn start_controllers(&mut self) {
        let runs: [(&'static str, RunFn); 5] = [
            ("endpointslice", |c, o, p| {
                endpointslice::run(c, o, p).boxed()
            }),
            ("nodelifecycle", |c, o, p| {
                nodelifecycle::run(c, o, p).boxed()
            }),
            ("nodeipam", |c, o, _| nodeipam::run(c, o).boxed()),
            ("garbagecollector", |c, o, p| gc::run(c, o, p).boxed()),
            ("namespace", |c, o, _| namespace::run(c, o).boxed()),
        ];
        // The controllers that read pods share one Pod feed, as in
        // `orch server`.
        let (pods, pod_watch) = feed::pods(self.client.clone(), Duration::ZERO);
        self.tasks.push(tokio::spawn(async move {
            let e = pod_watch.await;
            tracing::warn!(error = %e, "the Pod feed ended");
        }));
        for (name, run) in runs {
            let (c, o, p) = (self.client.clone(), self.opts.clone(), pods.clone());
            self.tasks.push(tokio::spawn(async move {
                supervise(name, || run(c.clone(), o.clone(), p.clone())).await
            }));
        }
    }

    fn stop_controllers(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }

    fn api<K>(&self, ns: &str) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), ns)
    }

    fn all<K: Resource<DynamicType = ()>>(&self) -> Api<K> {
        Api::all(self.client.clone())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_controllers();
        self.server.kill9();
    }
}

fn fast() -> ControllerOptions {
    ControllerOptions {
        node_monitor_grace_period: Duration::from_secs(3),
        default_toleration_seconds: 2,
        ..ControllerOptions::default()
    }
}

/// Options under which fake nodes without Leases stay healthy.
fn patient() -> ControllerOptions {
    ControllerOptions {
        node_monitor_grace_period: Duration::from_secs(600),
        ..ControllerOptions::default()
    }
}

fn obj<K: DeserializeOwned>(v: Value) -> K {
    serde_json::from_value(v).unwrap()
}

async fn create<K>(api: &Api<K>, v: Value) -> K
where
    K: Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.create(&PostParams::default(), &obj(v)).await.unwrap()
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

fn now_micro() -> Value {
    serde_json::to_value(MicroTime(Timestamp::now())).unwrap()
}

fn node_json(name: &str, ready: &str) -> Value {
    json!({
        "metadata": {"name": name},
        "status": {"conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady", "lastHeartbeatTime": now_micro(), "lastTransitionTime": now_micro()}]},
    })
}

/// What a node agent does on each beat: renew its Lease.
async fn renew_lease(c: &Cluster, node: &str) {
    let leases: Api<Lease> = c.api("kube-node-lease");
    let spec =
        json!({"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": now_micro()});
    if leases.get_opt(node).await.unwrap().is_none() {
        create(&leases, json!({"metadata": {"name": node}, "spec": spec})).await;
    } else {
        leases
            .patch(
                node,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": spec})),
            )
            .await
            .unwrap();
    }
}

/// What a node agent does when it is (back) up: post Ready with a fresh heartbeat.
async fn post_ready(c: &Cluster, node: &str, ready: &str) {
    let status = node_json(node, ready)["status"].clone();
    c.all::<Node>()
        .patch_status(
            node,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .unwrap();
}

fn pod_json(name: &str, labels: Value, node: Option<&str>) -> Value {
    let mut p = json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "app:1", "ports": [{"name": "http", "containerPort": 8080}]}]},
    });
    if let Some(n) = node {
        p["spec"]["nodeName"] = json!(n);
    }
    p
}

/// What a node agent reports for a running pod.
async fn set_pod_status(pods: &Api<Pod>, name: &str, ip: &str, ready: bool) {
    let status = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();
}

fn ready_condition(n: &Node) -> (String, Option<String>, Option<String>) {
    let c = n
        .status
        .as_ref()
        .unwrap()
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
        .clone();
    (c.status, c.reason, c.message)
}

fn taint_keys(n: &Node) -> BTreeSet<String> {
    n.spec
        .iter()
        .flat_map(|s| s.taints.iter().flatten())
        .map(|t| format!("{}:{}", t.key, t.effect))
        .collect()
}

fn owner(kind: &str, o: &impl Resource, block: bool) -> Value {
    let api_version = if kind == "ReplicaSet" || kind == "Deployment" {
        "apps/v1"
    } else {
        "v1"
    };
    json!({"apiVersion": api_version, "kind": kind, "name": o.meta().name, "uid": o.meta().uid, "blockOwnerDeletion": block})
}

async fn events(c: &Cluster, ns: &str, about: &str, reason: &str) -> Vec<Event> {
    let evs = c
        .api::<Event>(ns)
        .list(&ListParams::default())
        .await
        .unwrap();
    evs.items
        .into_iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(about) && e.reason.as_deref() == Some(reason)
        })
        .collect()
}

async fn gone<K>(api: &Api<K>, name: &str) -> bool
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name).await.unwrap().is_none()
}

async fn pod_cidr(nodes: &Api<Node>, name: &str) -> String {
    until(10, &format!("a podCIDR for {name}"), || async {
        let n = nodes.get(name).await.ok()?;
        let spec = n.spec?;
        let cidr = spec.pod_cidr?;
        assert_eq!(spec.pod_cidrs, Some(vec![cidr.clone()]));
        Some(cidr)
    })
    .await
}

#[path = "cluster_controllers/endpointslice.rs"]
mod endpointslice_tests;
#[path = "cluster_controllers/gc.rs"]
mod gc_tests;
#[path = "cluster_controllers/namespace.rs"]
mod namespace_tests;
#[path = "cluster_controllers/nodes.rs"]
mod nodes_tests;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orch_server_runs_the_controllers_itself() {
    let s = TestServer::start_with(&["--no-scheduler"]);
    let nodes: Api<Node> = Api::all(s.client().await);
    create(&nodes, node_json("node-5", "True")).await;
    assert_eq!(pod_cidr(&nodes, "node-5").await, "10.244.5.0/24");
}
