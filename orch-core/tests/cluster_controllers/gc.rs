//! Cascading deletion in the three modes: background, foreground, orphan.
use super::*;

async fn configmap(c: &Cluster, name: &str, owners: Value) -> ConfigMap {
    create(
        &c.api("default"),
        json!({"metadata": {"name": name, "ownerReferences": owners}}),
    )
    .await
}

/// A ReplicaSet owning `n` pods (the first bound to a node when `bound`).
async fn replicaset_with_pods(
    c: &Cluster,
    name: &str,
    n: usize,
    block: bool,
    bound: bool,
) -> ReplicaSet {
    let labels = json!({"app": name});
    let rs: ReplicaSet = create(
        &c.api("default"),
        json!({"metadata": {"name": name}, "spec": {"replicas": n, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}}}}),
    )
    .await;
    for i in 0..n {
        let mut p = pod_json(
            &format!("{name}-{i}"),
            labels.clone(),
            (bound && i == 0).then_some("n1"),
        );
        p["metadata"]["ownerReferences"] = json!([owner("ReplicaSet", &rs, block)]);
        create(&c.api::<Pod>("default"), p).await;
    }
    rs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_deletion_removes_dependents() {
    let c = Cluster::start(patient()).await;
    let deps: Api<Deployment> = c.api("default");
    let rss: Api<ReplicaSet> = c.api("default");
    let pods: Api<Pod> = c.api("default");
    let cms: Api<ConfigMap> = c.api("default");
    let d: Deployment = create(
        &deps,
        json!({"metadata": {"name": "web"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}}}}),
    )
    .await;
    replicaset_with_pods(&c, "web-1", 2, true, false).await;
    rss.patch(
        "web-1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"ownerReferences": [owner("Deployment", &d, true)]}})),
    )
    .await
    .unwrap();
    let root = configmap(&c, "root", json!([])).await;
    let child = configmap(&c, "child", json!([owner("ConfigMap", &root, false)])).await;
    let grandchild: Secret = create(&c.api("default"), json!({"metadata": {"name": "grandchild", "ownerReferences": [owner("ConfigMap", &child, false)]}})).await;
    let other = configmap(&c, "other", json!([])).await;
    configmap(
        &c,
        "shared",
        json!([
            owner("ConfigMap", &root, false),
            owner("ConfigMap", &other, false)
        ]),
    )
    .await;
    // Objects with live owners are left alone.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        pods.list(&ListParams::default()).await.unwrap().items.len(),
        2
    );

    deps.delete("web", &DeleteParams::default()).await.unwrap();
    until(15, "the ReplicaSet and its pods to go", || async {
        (gone(&rss, "web-1").await
            && pods
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .is_empty())
        .then_some(())
    })
    .await;

    cms.delete("root", &DeleteParams::default()).await.unwrap();
    let secrets: Api<Secret> = c.api("default");
    until(15, "the ConfigMap chain to go", || async {
        (gone(&cms, "child").await && gone(&secrets, &grandchild.name_any()).await).then_some(())
    })
    .await;
    // A dependent with another live owner stays, without the gone one.
    let shared = until(10, "shared to lose its gone owner", || async {
        let s = cms.get("shared").await.unwrap();
        (s.owner_references().len() == 1).then_some(s)
    })
    .await;
    assert_eq!(shared.owner_references()[0].uid, other.uid().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreground_deletion_waits_for_blocking_dependents() {
    let c = Cluster::start(patient()).await;
    create(&c.all::<Node>(), node_json("n1", "True")).await;
    let rss: Api<ReplicaSet> = c.api("default");
    let pods: Api<Pod> = c.api("default");
    let cms: Api<ConfigMap> = c.api("default");
    replicaset_with_pods(&c, "fg", 2, true, true).await;

    rss.delete("fg", &DeleteParams::foreground()).await.unwrap();
    // The unbound pod goes at once; the bound one is Terminating, waiting
    // for its (absent) agent, and blocks its owner.
    until(10, "the unbound pod to go", || async {
        gone(&pods, "fg-1").await.then_some(())
    })
    .await;
    until(10, "the bound pod to terminate", || async {
        pods.get("fg-0")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .map(|_| ())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rs = rss
        .get("fg")
        .await
        .expect("the owner must wait for its blocking dependent");
    assert!(rs.metadata.deletion_timestamp.is_some());
    assert_eq!(rs.finalizers(), ["foregroundDeletion"]);
    // The agent finishes the pod: the owner goes.
    pods.delete(
        "fg-0",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    until(10, "the owner to go", || async {
        gone(&rss, "fg").await.then_some(())
    })
    .await;

    // A chain goes leaves first: c, then b, then a.
    let order = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = order.clone();
    let watch = tokio::spawn(
        watcher(cms.clone(), Default::default()).try_for_each(move |e| {
            if let watcher::Event::Delete(cm) = e {
                seen.lock().unwrap().push(cm.name_any());
            }
            futures::future::ready(Ok(()))
        }),
    );
    let a = configmap(&c, "a", json!([])).await;
    let b = configmap(&c, "b", json!([owner("ConfigMap", &a, true)])).await;
    configmap(&c, "c", json!([owner("ConfigMap", &b, true)])).await;
    cms.delete("a", &DeleteParams::foreground()).await.unwrap();
    until(15, "the chain to go", || async {
        (order.lock().unwrap().len() == 3).then_some(())
    })
    .await;
    watch.abort();
    assert_eq!(*order.lock().unwrap(), ["c", "b", "a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_deletion_keeps_dependents() {
    let c = Cluster::start(patient()).await;
    let rss: Api<ReplicaSet> = c.api("default");
    let pods: Api<Pod> = c.api("default");
    let cms: Api<ConfigMap> = c.api("default");
    replicaset_with_pods(&c, "or", 2, true, false).await;
    let keep = configmap(&c, "keep", json!([])).await;
    let other = configmap(&c, "other", json!([])).await;
    configmap(
        &c,
        "dep",
        json!([
            owner("ConfigMap", &keep, true),
            owner("ConfigMap", &other, false)
        ]),
    )
    .await;

    rss.delete("or", &DeleteParams::orphan()).await.unwrap();
    until(10, "the orphaning owner to go", || async {
        gone(&rss, "or").await.then_some(())
    })
    .await;
    for p in ["or-0", "or-1"] {
        let p = pods.get(p).await.expect("orphaned pods must stay");
        assert!(
            p.owner_references().is_empty(),
            "{:?}",
            p.owner_references()
        );
        assert!(p.metadata.deletion_timestamp.is_none());
    }
    cms.delete("keep", &DeleteParams::orphan()).await.unwrap();
    until(10, "keep to go", || async {
        gone(&cms, "keep").await.then_some(())
    })
    .await;
    let dep = cms.get("dep").await.unwrap();
    assert_eq!(
        dep.owner_references()
            .iter()
            .map(|o| o.name.as_str())
            .collect::<Vec<_>>(),
        ["other"]
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!gone(&cms, "dep").await);
}
