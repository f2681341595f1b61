//! The ReplicaSet and Deployment controllers against real `orch server`
//! processes (and, where a test needs to kill it, a separate
//! `orch controller-manager`). No node agent runs: a fake kubelet in the
//! test binds pods, marks them Running and Ready through `/status`, and
//! finishes the deletion of terminating bound pods. A pod monitor records
//! a summary of the pods after every watch event, so bounds (surge,
//! unavailability, over-creation) are checked on every intermediate state.
mod support;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    future::Future,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::StreamExt;
use k8s_openapi::{
    api::{
        apps::v1::{Deployment, ReplicaSet},
        core::v1::{ConfigMap, Event as CoreEvent, Node, Pod},
    },
    jiff::Timestamp,
};
use kube::{
    api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams},
    runtime::{
        watcher::{self, watcher, Event},
        WatchStreamExt,
    },
    Client, ResourceExt,
};
use serde_json::{json, Value};
use support::TestServer;
use tokio::task::JoinHandle;

const NS: &str = "default";
const WAIT: Duration = Duration::from_secs(60);
const HASH: &str = "pod-template-hash";

// ---------------------------------------------------------------- helpers

/// Polls `f` every 100 ms until it returns `Some`, or panics after `limit`.
async fn wait_for<T, Fut: Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    mut f: impl FnMut() -> Fut,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn now() -> String {
    Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn is_active(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && !matches!(
            p.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        )
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn label<'a>(p: &'a impl ResourceExt, key: &str) -> &'a str {
    p.labels().get(key).map(String::as_str).unwrap_or("")
}

/// Binds a pod to `node` through the binding subresource.
async fn bind(api: &Api<Pod>, name: &str, node: &str) -> kube::Result<Value> {
    let body = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name}, "target": {"kind": "Node", "name": node}});
    api.create_subresource("binding", name, &PostParams::default(), &body)
        .await
}

/// Marks a pod Running and Ready through `/status`.
async fn mark_ready(api: &Api<Pod>, name: &str) -> kube::Result<Pod> {
    let status = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now()}]}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
        .await
}

/// Registers the node `n1` that fake kubelets bind pods to.
async fn ensure_node(client: &Client) {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}})).unwrap();
    match nodes.create(&PostParams::default(), &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("creating node n1: {e}"),
    }
}

/// A stand-in for the node agents.
#[derive(Clone, Copy)]
struct KubeletOpts {
    /// Bind pods to node `n1` (their deletion then becomes graceful).
    bind: bool,
    /// Delay before a new pod is marked Ready.
    ready_after: Duration,
    /// Delay before a terminating bound pod is finally deleted.
    finish_after: Option<Duration>,
    /// Pods with this label `key=true` are left alone (never ready).
    ignore_label: Option<&'static str>,
}

impl Default for KubeletOpts {
    fn default() -> Self {
        Self {
            bind: false,
            ready_after: Duration::from_millis(100),
            finish_after: Some(Duration::from_millis(300)),
            ignore_label: None,
        }
    }
}

/// A running fake kubelet; stops when dropped.
struct Kubelet(JoinHandle<()>);

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn kubelet(client: Client, o: KubeletOpts) -> Kubelet {
    Kubelet(tokio::spawn(async move {
        if o.bind {
            ensure_node(&client).await;
        }
        let api: Api<Pod> = Api::namespaced(client, NS);
        let mut started = HashSet::new();
        let mut finishing = HashSet::new();
        let mut pods = Box::pin(
            watcher(api.clone(), watcher::Config::default())
                .default_backoff()
                .applied_objects(),
        );
        while let Some(pod) = pods.next().await {
            let Ok(pod) = pod else { continue };
            if o.ignore_label.is_some_and(|l| label(&pod, l) == "true") {
                continue;
            }
            let (name, uid) = (pod.name_any(), pod.uid().unwrap_or_default());
            let bound = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_ref())
                .is_some();
            if pod.metadata.deletion_timestamp.is_some() {
                if let (true, Some(after)) = (bound, o.finish_after) {
                    if finishing.insert(uid) {
                        let api = api.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(after).await;
                            let _ = api
                                .delete(
                                    &name,
                                    &DeleteParams {
                                        grace_period_seconds: Some(0),
                                        ..Default::default()
                                    },
                                )
                                .await;
                        });
                    }
                }
            } else if !is_ready(&pod) && started.insert(uid) {
                let api = api.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(o.ready_after).await;
                    if o.bind && !bound {
                        let _ = bind(&api, &name, "n1").await;
                    }
                    let _ = mark_ready(&api, &name).await;
                });
            }
        }
    }))
}

/// The pods of one selector right after one watch event.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    /// Not terminating, not finished.
    active: usize,
    /// Active and Ready.
    available: usize,
    /// Everything, terminating pods included.
    all: usize,
    /// Active pods per pod-template-hash.
    active_by_hash: BTreeMap<String, usize>,
    /// All pods per pod-template-hash.
    all_by_hash: BTreeMap<String, usize>,
}

/// Records a [`Snapshot`] after every pod watch event; stops when dropped.
struct Monitor {
    history: Arc<Mutex<Vec<Snapshot>>>,
    pods: Arc<Mutex<BTreeMap<String, Pod>>>,
    task: JoinHandle<()>,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Monitor {
    /// Starts watching the pods matching `selector`, and waits until the
    /// watch is established.
    async fn start(client: Client, selector: &str) -> Self {
        let history: Arc<Mutex<Vec<Snapshot>>> = Arc::default();
        let pods: Arc<Mutex<BTreeMap<String, Pod>>> = Arc::default();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let api: Api<Pod> = Api::namespaced(client, NS);
        let cfg = watcher::Config::default().labels(selector);
        let task = tokio::spawn({
            let (history, pods) = (history.clone(), pods.clone());
            async move {
                let mut ready = Some(ready_tx);
                // A (re-)list fills `listing`, which replaces the map when done.
                let mut listing = BTreeMap::new();
                let mut events = Box::pin(watcher(api, cfg).default_backoff());
                while let Some(ev) = events.next().await {
                    let Ok(ev) = ev else { continue };
                    let mut map = pods.lock().unwrap();
                    match ev {
                        Event::Apply(p) => {
                            map.insert(p.name_any(), p);
                        }
                        Event::Delete(p) => {
                            map.remove(&p.name_any());
                        }
                        Event::Init => listing.clear(),
                        Event::InitApply(p) => {
                            listing.insert(p.name_any(), p);
                            continue;
                        }
                        Event::InitDone => {
                            *map = std::mem::take(&mut listing);
                            if let Some(tx) = ready.take() {
                                let _ = tx.send(());
                            }
                        }
                    }
                    history.lock().unwrap().push(summarize(map.values()));
                }
            }
        });
        ready_rx.await.expect("pod monitor watch");
        Self {
            history,
            pods,
            task,
        }
    }

    fn len(&self) -> usize {
        self.history.lock().unwrap().len()
    }

    fn since(&self, from: usize) -> Vec<Snapshot> {
        self.history.lock().unwrap()[from..].to_vec()
    }

    fn latest(&self) -> Snapshot {
        self.history
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }

    fn pods(&self) -> Vec<Pod> {
        self.pods.lock().unwrap().values().cloned().collect()
    }

    /// Waits until the latest snapshot satisfies `f`.
    async fn wait(&self, what: &str, f: impl Fn(&Snapshot) -> bool) -> Snapshot {
        wait_for(what, WAIT, || {
            let s = self.latest();
            std::future::ready(f(&s).then_some(s))
        })
        .await
    }
}

fn summarize<'a>(pods: impl Iterator<Item = &'a Pod>) -> Snapshot {
    let mut s = Snapshot::default();
    for p in pods {
        let hash = label(p, HASH).to_string();
        s.all += 1;
        *s.all_by_hash.entry(hash.clone()).or_default() += 1;
        if is_active(p) {
            s.active += 1;
            *s.active_by_hash.entry(hash).or_default() += 1;
            s.available += usize::from(is_ready(p));
        }
    }
    s
}

/// A separate `orch controller-manager` process; killed when dropped.
struct ControllerManager(Child);

impl ControllerManager {
    fn start(s: &TestServer, env: &[(&str, &str)]) -> Self {
        let child = Command::new(support::orch())
            .args(["controller-manager", "--kubeconfig"])
            .arg(s.kubeconfig())
            .args(["--leader-lease-seconds", "2"])
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting orch controller-manager");
        Self(child)
    }

    fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ControllerManager {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn container(version: &str) -> Value {
    json!({"name": "c", "image": "x", "command": ["sleep", "1000"], "env": [{"name": "VERSION", "value": version}]})
}

fn replica_set(name: &str, replicas: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container("v1")]}}}
    }))
    .unwrap()
}

fn deployment(name: &str, replicas: i32, strategy: Value, extra: Value) -> Deployment {
    let mut v = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "strategy": strategy,
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container("v1")]}}}
    });
    for (k, x) in extra.as_object().into_iter().flatten() {
        if k == "labels" {
            v["spec"]["template"]["metadata"]["labels"]
                .as_object_mut()
                .unwrap()
                .extend(x.as_object().unwrap().clone());
        } else {
            v["spec"][k] = x.clone();
        }
    }
    serde_json::from_value(v).unwrap()
}

fn rolling(surge: Value, unavailable: Value) -> Value {
    json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}})
}

/// Changes the pod template (a new revision).
async fn set_version(api: &Api<Deployment>, name: &str, version: &str) {
    let patch = json!({"spec": {"template": {"spec": {"containers": [container(version)]}}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
}

fn rolled_out(d: &Deployment) -> bool {
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let Some(s) = d.status.as_ref() else {
        return false;
    };
    s.observed_generation >= d.metadata.generation
        && s.updated_replicas == Some(want)
        && s.replicas == Some(want)
        && s.available_replicas == Some(want)
}

async fn wait_rolled_out(api: &Api<Deployment>, name: &str) -> Deployment {
    wait_for(&format!("deployment {name} to roll out"), WAIT, || async {
        api.get(name).await.ok().filter(rolled_out)
    })
    .await
}

/// The ReplicaSets of Deployment `name`, oldest revision first.
async fn replica_sets_of(client: &Client, name: &str) -> Vec<ReplicaSet> {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
    let mut rss: Vec<ReplicaSet> = api
        .list(&ListParams::default().labels(&format!("app={name}")))
        .await
        .unwrap()
        .items;
    rss.sort_by_key(revision);
    rss
}

fn revision(o: &impl ResourceExt) -> i64 {
    o.annotations()
        .get("deployment.kubernetes.io/revision")
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn spec_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(-1)
}

/// Messages of the events about `name` with `reason`.
async fn events(client: &Client, name: &str, reason: &str) -> Vec<String> {
    let api: Api<CoreEvent> = Api::namespaced(client.clone(), NS);
    let list = api
        .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await
        .unwrap();
    list.items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter_map(|e| e.message)
        .collect()
}

/// Active pods controlled by the object with `uid`.
fn controlled_by<'a>(pods: &'a [Pod], uid: &str) -> Vec<&'a Pod> {
    pods.iter()
        .filter(|p| {
            is_active(p)
                && p.owner_references()
                    .iter()
                    .any(|r| r.uid == uid && r.controller == Some(true))
        })
        .collect()
}

/// Checks the rolling-update bounds on every snapshot: never more than
/// `max_active` pods; once `floor` pods were available, never fewer.
fn check_rolling_bounds(history: &[Snapshot], max_active: usize, floor: usize) {
    let mut armed = false;
    for (i, s) in history.iter().enumerate() {
        assert!(
            s.active <= max_active,
            "event {i}: {} active pods > replicas + maxSurge = {max_active}: {s:?}",
            s.active
        );
        armed |= s.available >= floor;
        assert!(
            !armed || s.available >= floor,
            "event {i}: {} available pods < replicas - maxUnavailable = {floor}: {s:?}",
            s.available
        );
    }
    assert!(armed, "the availability floor was never reached");
}

// ------------------------------------------------------------- ReplicaSet

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicaset_scales_without_overshoot_under_a_slow_watch() {
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    // The controller's pod watch lags 400 ms behind: only expectations keep
    // it from creating (or deleting) again before it sees its own pods.
    let _cm = ControllerManager::start(&s, &[("ORCH_TEST_WATCH_LAG_MS", "400")]);
    let client = s.client().await;
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let mon = Monitor::start(client.clone(), "app=slow").await;

    let rs = rs_api
        .create(&PostParams::default(), &replica_set("slow", 20))
        .await
        .unwrap();
    let uid = rs.uid().unwrap();
    mon.wait("20 pods", |s| s.active == 20).await;
    wait_for("status.replicas 20", WAIT, || async {
        rs_api
            .get("slow")
            .await
            .ok()
            .filter(|r| r.status.as_ref().is_some_and(|s| s.replicas == 20))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let max = mon.since(0).iter().map(|s| s.active).max().unwrap();
    assert_eq!(max, 20, "created more pods than replicas");
    assert_eq!(mon.latest().active, 20);

    let all = mon.pods();
    for p in &all {
        let name = p.name_any();
        let suffix = name
            .strip_prefix("slow-")
            .unwrap_or_else(|| panic!("pod name {name}"));
        assert!(
            suffix.len() == 5 && suffix.chars().all(|c| c.is_ascii_alphanumeric()),
            "pod name {name}"
        );
        let refs = p.owner_references();
        assert_eq!(refs.len(), 1, "{name}: {refs:?}");
        let r = &refs[0];
        assert_eq!(
            (r.kind.as_str(), r.name.as_str(), r.uid.as_str()),
            ("ReplicaSet", "slow", uid.as_str())
        );
        assert_eq!(
            (r.controller, r.block_owner_deletion),
            (Some(true), Some(true))
        );
    }
    let created = events(&client, "slow", "SuccessfulCreate").await;
    assert!(
        !created.is_empty() && created.iter().all(|m| m.starts_with("Created pod: slow-")),
        "{created:?}"
    );

    // Five pods get scheduled and become ready: scaling down keeps them.
    ensure_node(&client).await;
    let mut keep: Vec<String> = all.iter().map(|p| p.name_any()).collect();
    keep.sort();
    keep.truncate(5);
    for name in &keep {
        bind(&pods, name, "n1").await.unwrap();
        mark_ready(&pods, name).await.unwrap();
    }
    let st = wait_for("readyReplicas 5", WAIT, || async {
        rs_api
            .get("slow")
            .await
            .ok()
            .and_then(|r| r.status)
            .filter(|s| s.ready_replicas == Some(5))
    })
    .await;
    assert_eq!(
        (st.available_replicas, st.fully_labeled_replicas),
        (Some(5), Some(20))
    );

    let from = mon.len();
    rs_api
        .patch_scale(
            "slow",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    mon.wait("5 pods", |s| s.active == 5).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        mon.since(from).iter().map(|s| s.active).min(),
        Some(5),
        "deleted more pods than needed"
    );
    let left: BTreeSet<String> = mon
        .pods()
        .iter()
        .filter(|p| is_active(p))
        .map(|p| p.name_any())
        .collect();
    assert_eq!(
        left,
        keep.iter().cloned().collect(),
        "unscheduled, not-ready pods go first"
    );
    assert!(events(&client, "slow", "SuccessfulDelete")
        .await
        .iter()
        .any(|m| m.starts_with("Deleted pod: slow-")));

    let from = mon.len();
    rs_api
        .patch_scale(
            "slow",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 12}})),
        )
        .await
        .unwrap();
    mon.wait("12 pods", |s| s.active == 12).await;
    let rs = wait_for("status of 12", WAIT, || async {
        rs_api.get("slow").await.ok().filter(|r| {
            r.status
                .as_ref()
                .is_some_and(|s| s.replicas == 12 && s.observed_generation == r.metadata.generation)
        })
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(mon.since(from).iter().map(|s| s.active).max(), Some(12));
    let st = rs.status.unwrap();
    assert_eq!(
        (st.fully_labeled_replicas, st.ready_replicas),
        (Some(12), Some(5))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicaset_adopts_orphans_and_releases_pods_that_stop_matching() {
    let s = TestServer::start_with(&["--no-scheduler"]);
    let client = s.client().await;
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let pod = |name: &str, labels: Value| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "spec": {"containers": [container("v1")]}})).unwrap()
    };
    for name in ["orphan-1", "orphan-2"] {
        pods.create(&PostParams::default(), &pod(name, json!({"app": "adopt"})))
            .await
            .unwrap();
    }
    // A pod something else controls: matching labels do not make it ours.
    let owners: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    let other = owners
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "other"}})).unwrap(),
        )
        .await
        .unwrap();
    let mut foreign = pod("foreign", json!({"app": "adopt"}));
    foreign.metadata.owner_references = Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: "other".into(),
            uid: other.uid().unwrap(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        },
    ]);
    pods.create(&PostParams::default(), &foreign).await.unwrap();

    let mon = Monitor::start(client.clone(), "app=adopt").await;
    let rs = rs_api
        .create(&PostParams::default(), &replica_set("adopt", 3))
        .await
        .unwrap();
    let uid = rs.uid().unwrap();
    let owned = wait_for("3 pods controlled by adopt", WAIT, || async {
        let list = pods
            .list(&ListParams::default().labels("app=adopt"))
            .await
            .ok()?
            .items;
        let n = controlled_by(&list, &uid).len();
        (n == 3).then_some(list)
    })
    .await;
    let names: BTreeSet<String> = controlled_by(&owned, &uid)
        .iter()
        .map(|p| p.name_any())
        .collect();
    assert!(
        names.contains("orphan-1") && names.contains("orphan-2"),
        "orphans adopted: {names:?}"
    );
    assert!(!names.contains("foreign"));
    for p in controlled_by(&owned, &uid) {
        let r = p.owner_references().iter().find(|r| r.uid == uid).unwrap();
        assert_eq!(r.block_owner_deletion, Some(true));
    }
    let f = pods.get("foreign").await.unwrap();
    assert_eq!(
        f.owner_references()[0].uid,
        other.uid().unwrap(),
        "someone else's pod is left alone"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        mon.since(0).iter().all(|s| s.active <= 4),
        "never more than 3 of ours + the foreign pod"
    );

    // orphan-1 stops matching: released, and replaced.
    pods.patch(
        "orphan-1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "gone"}}})),
    )
    .await
    .unwrap();
    wait_for("orphan-1 released", WAIT, || async {
        pods.get("orphan-1")
            .await
            .ok()
            .filter(|p| p.owner_references().is_empty())
    })
    .await;
    wait_for("a replacement", WAIT, || async {
        let list = pods
            .list(&ListParams::default().labels("app=adopt"))
            .await
            .ok()?
            .items;
        (controlled_by(&list, &uid).len() == 3 && !list.iter().any(|p| p.name_any() == "orphan-1"))
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_pods_are_replaced() {
    let s = TestServer::start_with(&["--no-scheduler"]);
    let client = s.client().await;
    // Bound pods terminate gracefully; this kubelet never finishes them.
    let _kubelet = kubelet(
        client.clone(),
        KubeletOpts {
            bind: true,
            finish_after: None,
            ..Default::default()
        },
    );
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let mon = Monitor::start(client.clone(), "app=term").await;
    rs_api
        .create(&PostParams::default(), &replica_set("term", 2))
        .await
        .unwrap();
    mon.wait("2 ready pods", |s| s.available == 2).await;
    let victim = mon.pods()[0].name_any();
    pods.delete(&victim, &DeleteParams::default())
        .await
        .unwrap();
    mon.wait("a replacement next to the terminating pod", |s| {
        s.active == 2 && s.all == 3
    })
    .await;
    let st = wait_for("status", WAIT, || async {
        rs_api
            .get("term")
            .await
            .ok()
            .and_then(|r| r.status)
            .filter(|s| s.ready_replicas == Some(2))
    })
    .await;
    assert_eq!(st.replicas, 2, "a terminating pod does not count");
    assert!(pods
        .get(&victim)
        .await
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_count_as_available_after_min_ready_seconds() {
    let s = TestServer::start_with(&["--no-scheduler"]);
    let client = s.client().await;
    let _kubelet = kubelet(client.clone(), KubeletOpts::default());
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), NS);
    let mut rs = replica_set("mrs", 2);
    rs.spec.as_mut().unwrap().min_ready_seconds = Some(3);
    rs_api.create(&PostParams::default(), &rs).await.unwrap();
    let status = |ready: i32, available: i32| {
        let api = rs_api.clone();
        move || {
            let api = api.clone();
            async move {
                let st = api.get("mrs").await.ok()?.status?;
                (st.ready_replicas == Some(ready) && st.available_replicas == Some(available))
                    .then_some(Instant::now())
            }
        }
    };
    let ready_at = wait_for("2 ready, 0 available", WAIT, status(2, 0)).await;
    let available_at = wait_for("2 available", WAIT, status(2, 2)).await;
    assert!(
        available_at - ready_at >= Duration::from_secs(1),
        "available only after minReadySeconds"
    );
}

// ------------------------------------------------------------- Deployment

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_update_stays_within_surge_and_unavailability() {
    let s = TestServer::start_with(&["--no-scheduler"]);
    let client = s.client().await;
    let _kubelet = kubelet(
        client.clone(),
        KubeletOpts {
            ready_after: Duration::from_millis(200),
            ..Default::default()
        },
    );
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let mon = Monitor::start(client.clone(), "app=web").await;

    api.create(
        &PostParams::default(),
        &deployment("web", 6, rolling(json!(2), json!(1)), json!({})),
    )
    .await
    .unwrap();
    wait_rolled_out(&api, "web").await;
    set_version(&api, "web", "v2").await;
    let d = wait_rolled_out(&api, "web").await;
    check_rolling_bounds(&mon.since(0), 8, 5);

    let rss = replica_sets_of(&client, "web").await;
    assert_eq!(rss.len(), 2, "one ReplicaSet per template");
    let (old, new) = (&rss[0], &rss[1]);
    assert_eq!((revision(old), revision(new), revision(&d)), (1, 2, 2));
    for rs in &rss {
        let hash = label(rs, HASH);
        assert_eq!(rs.name_any(), format!("web-{hash}"));
        let sel = rs
            .spec
            .as_ref()
            .unwrap()
            .selector
            .match_labels
            .clone()
            .unwrap();
        assert_eq!(sel.get(HASH).map(String::as_str), Some(hash));
        let owner = &rs.owner_references()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.controller),
            ("Deployment", Some(true))
        );
    }
    assert_eq!((spec_replicas(old), spec_replicas(new)), (0, 6));
    let latest = mon.latest();
    assert_eq!(
        latest.active_by_hash.get(label(new, HASH)),
        Some(&6),
        "{latest:?}"
    );
    assert_eq!(latest.all, 6);

    let st = d.status.clone().unwrap();
    assert_eq!(
        (st.ready_replicas, st.unavailable_replicas),
        (Some(6), Some(0))
    );
    let conds: HashMap<String, (String, String)> = st
        .conditions
        .unwrap()
        .into_iter()
        .map(|c| (c.type_, (c.status, c.reason.unwrap_or_default())))
        .collect();
    assert_eq!(
        conds["Available"],
        ("True".into(), "MinimumReplicasAvailable".into())
    );
    assert_eq!(
        conds["Progressing"],
        ("True".into(), "NewReplicaSetAvailable".into())
    );
    let scaling = events(&client, "web", "ScalingReplicaSet").await;
    assert!(
        scaling
            .iter()
            .any(|m| m.starts_with(&format!("Scaled up replica set {} to ", new.name_any()))),
        "{scaling:?}"
    );
    assert!(
        scaling.contains(&format!("Scaled down replica set {} to 0", old.name_any())),
        "{scaling:?}"
    );

    // Percentages: 50% surge of 6 is 3; no unavailability allowed.
    let from = mon.len();
    let patch = json!({"spec": {"strategy": rolling(json!("50%"), json!(0)), "template": {"spec": {"containers": [container("v3")]}}}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    let d = wait_rolled_out(&api, "web").await;
    check_rolling_bounds(&mon.since(from), 9, 6);
    assert_eq!(revision(&d), 3);
    assert_eq!(mon.latest().all, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recreate_removes_every_old_pod_before_starting_new_ones() {
    let s = TestServer::start_with(&["--no-scheduler"]);
    let client = s.client().await;
    let opts = KubeletOpts {
        bind: true,
        finish_after: Some(Duration::from_millis(700)),
        ..Default::default()
    };
    let _kubelet = kubelet(client.clone(), opts);
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let mon = Monitor::start(client.clone(), "app=rec").await;
    api.create(
        &PostParams::default(),
        &deployment("rec", 3, json!({"type": "Recreate"}), json!({})),
    )
    .await
    .unwrap();
    wait_rolled_out(&api, "rec").await;
    let old_hash = label(&mon.pods()[0], HASH).to_string();

    let from = mon.len();
    set_version(&api, "rec", "v2").await;
    wait_rolled_out(&api, "rec").await;
    let history = mon.since(from);
    let mixed = history.iter().position(|s| {
        s.all_by_hash
            .keys()
            .filter(|h| s.all_by_hash[*h] > 0)
            .count()
            > 1
    });
    assert!(
        mixed.is_none(),
        "old and new pods at once: {:?}",
        mixed.map(|i| &history[i])
    );
    assert!(
        history
            .iter()
            .any(|s| s.all_by_hash.get(&old_hash).is_some_and(|n| *n > 0) && s.active == 0),
        "old pods were seen terminating before new ones started"
    );
    let latest = mon.latest();
    assert_eq!((latest.all, latest.available), (3, 3));
    assert!(!latest.all_by_hash.contains_key(&old_hash));
    let rss = replica_sets_of(&client, "rec").await;
    assert_eq!(rss.iter().map(spec_replicas).collect::<Vec<_>>(), [0, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_replica_sets_beyond_the_history_limit_are_deleted() {
    let s = TestServer::start_with(&["--no-scheduler"]);
    let client = s.client().await;
    let _kubelet = kubelet(client.clone(), KubeletOpts::default());
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    api.create(
        &PostParams::default(),
        &deployment(
            "hist",
            1,
            rolling(json!(1), json!(0)),
            json!({"revisionHistoryLimit": 2}),
        ),
    )
    .await
    .unwrap();
    wait_rolled_out(&api, "hist").await;
    for v in ["v2", "v3", "v4", "v5"] {
        set_version(&api, "hist", v).await;
        wait_rolled_out(&api, "hist").await;
    }
    let rss = wait_for("history trimmed to 2 old ReplicaSets", WAIT, || async {
        let rss = replica_sets_of(&client, "hist").await;
        (rss.len() == 3).then_some(rss)
    })
    .await;
    assert_eq!(rss.iter().map(revision).collect::<Vec<_>>(), [3, 4, 5]);
    assert_eq!(rss.iter().map(spec_replicas).collect::<Vec<_>>(), [0, 0, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_a_deployment_resizes_its_replica_set() {
    let s = TestServer::start_with(&["--no-scheduler"]);
    let client = s.client().await;
    let _kubelet = kubelet(client.clone(), KubeletOpts::default());
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let mon = Monitor::start(client.clone(), "app=sc").await;
    api.create(
        &PostParams::default(),
        &deployment("sc", 2, rolling(json!("25%"), json!("25%")), json!({})),
    )
    .await
    .unwrap();
    wait_rolled_out(&api, "sc").await;
    for n in [5, 1] {
        api.patch_scale(
            "sc",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": n}})),
        )
        .await
        .unwrap();
        let d = wait_rolled_out(&api, "sc").await;
        assert_eq!(d.status.unwrap().replicas, Some(n));
        let rss = replica_sets_of(&client, "sc").await;
        assert_eq!(
            rss.iter().map(spec_replicas).collect::<Vec<_>>(),
            [n],
            "still one ReplicaSet"
        );
        mon.wait(&format!("{n} pods"), |s| s.all == n as usize)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_manager_killed_mid_rollout_converges_without_duplicates() {
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let mut cm = ControllerManager::start(&s, &[]);
    let client = s.client().await;
    let _kubelet = kubelet(
        client.clone(),
        KubeletOpts {
            ready_after: Duration::from_millis(400),
            ..Default::default()
        },
    );
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let mon = Monitor::start(client.clone(), "app=cm").await;
    api.create(
        &PostParams::default(),
        &deployment("cm", 6, rolling(json!(1), json!(0)), json!({})),
    )
    .await
    .unwrap();
    wait_rolled_out(&api, "cm").await;
    let old_hash = label(&mon.pods()[0], HASH).to_string();

    set_version(&api, "cm", "v2").await;
    mon.wait("the rollout under way", |s| {
        s.active_by_hash
            .iter()
            .any(|(h, n)| *h != old_hash && *n >= 2)
    })
    .await;
    cm.kill9();
    let at_kill = mon.latest();
    assert!(
        at_kill
            .active_by_hash
            .get(&old_hash)
            .is_some_and(|n| *n > 0),
        "killed mid-rollout: {at_kill:?}"
    );
    // The new process waits for the dead one's Lease to expire, then resumes.
    // Its pod watch lags, so acting before its pod cache is full would
    // duplicate pods.
    let _cm2 = ControllerManager::start(&s, &[("ORCH_TEST_WATCH_LAG_MS", "500")]);
    wait_rolled_out(&api, "cm").await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    check_rolling_bounds(&mon.since(0), 7, 6);
    let latest = mon.latest();
    assert_eq!(
        (latest.all, latest.active, latest.available),
        (6, 6, 6),
        "{latest:?}"
    );
    let rss = replica_sets_of(&client, "cm").await;
    assert_eq!(rss.len(), 2, "no duplicate ReplicaSet");
    assert_eq!(rss.iter().map(spec_replicas).collect::<Vec<_>>(), [0, 6]);
    assert_eq!(latest.active_by_hash.get(label(&rss[1], HASH)), Some(&6));
}

// ---------------------------------------------------------------- orchctl

async fn orchctl(s: &TestServer, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(support::orchctl())
        .arg("--kubeconfig")
        .arg(s.kubeconfig())
        .args(args)
        .stdin(Stdio::null())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(90), out)
        .await
        .expect("orchctl hung")
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchctl_rollout_status() {
    let s = TestServer::start_with(&["--no-scheduler"]);
    let client = s.client().await;
    let _kubelet = kubelet(
        client.clone(),
        KubeletOpts {
            ready_after: Duration::from_millis(300),
            ignore_label: Some("stuck"),
            ..Default::default()
        },
    );
    let api: Api<Deployment> = Api::namespaced(client.clone(), NS);

    api.create(
        &PostParams::default(),
        &deployment("web", 3, rolling(json!(1), json!(0)), json!({})),
    )
    .await
    .unwrap();
    let (ok, out, err) = orchctl(
        &s,
        &["rollout", "status", "deployment/web", "--timeout", "60s"],
    )
    .await;
    assert!(ok, "{out}\n{err}");
    assert!(
        out.ends_with("deployment \"web\" successfully rolled out\n"),
        "{out}"
    );
    assert!(
        out.lines().all(|l| l.starts_with("Waiting for deployment")
            || l == "deployment \"web\" successfully rolled out"),
        "{out}"
    );

    set_version(&api, "web", "v2").await;
    let (ok, out, err) = orchctl(&s, &["rollout", "status", "deploy", "web"]).await;
    assert!(ok, "{out}\n{err}");
    assert!(out.ends_with("successfully rolled out\n"), "{out}");
    assert!(rolled_out(&api.get("web").await.unwrap()));

    // Pods that never become ready: the progress deadline passes.
    let stuck = json!({"progressDeadlineSeconds": 2, "labels": {"stuck": "true"}});
    api.create(
        &PostParams::default(),
        &deployment("stuck", 1, rolling(json!(1), json!(0)), stuck),
    )
    .await
    .unwrap();
    let (ok, out, err) = orchctl(
        &s,
        &["rollout", "status", "deployment/stuck", "--timeout", "60s"],
    )
    .await;
    assert!(!ok, "{out}");
    assert!(
        err.contains("deployment \"stuck\" exceeded its progress deadline"),
        "{err}"
    );
    let d = api.get("stuck").await.unwrap();
    let progressing = d
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Progressing")
        .unwrap();
    assert_eq!(
        (progressing.status.as_str(), progressing.reason.as_deref()),
        ("False", Some("ProgressDeadlineExceeded"))
    );

    // And --timeout gives up on its own.
    api.create(
        &PostParams::default(),
        &deployment(
            "slow",
            1,
            rolling(json!(1), json!(0)),
            json!({"labels": {"stuck": "true"}}),
        ),
    )
    .await
    .unwrap();
    let started = Instant::now();
    let (ok, _, err) = orchctl(
        &s,
        &["rollout", "status", "deployment/slow", "--timeout", "2s"],
    )
    .await;
    assert!(!ok && err.contains("timed out"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
}
