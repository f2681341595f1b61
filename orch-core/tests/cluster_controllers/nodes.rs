//! Node lifecycle (health, taints, evictions, pod GC) and node IPAM.
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_nodes_are_tainted_and_their_pods_evicted() {
    let c = Cluster::start(fast()).await;
    let nodes: Api<Node> = c.all();
    let pods: Api<Pod> = c.api("default");
    create(&nodes, node_json("n1", "True")).await;
    renew_lease(&c, "n1").await;
    create(&pods, pod_json("plain", json!({}), Some("n1"))).await;
    let mut forever = pod_json("forever", json!({}), Some("n1"));
    forever["spec"]["tolerations"] = json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}]);
    create(&pods, forever).await;
    let mut patient = pod_json("patient", json!({}), Some("n1"));
    patient["spec"]["tolerations"] = json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 3600}]);
    create(&pods, patient).await;
    for (p, ip) in [
        ("plain", "10.244.1.2"),
        ("forever", "10.244.1.3"),
        ("patient", "10.244.1.4"),
    ] {
        set_pod_status(&pods, p, ip, true).await;
    }

    // Renewing the Lease keeps the node healthy past the grace period.
    for _ in 0..5 {
        renew_lease(&c, "n1").await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let n = nodes.get("n1").await.unwrap();
    assert_eq!(ready_condition(&n).0, "True");
    assert!(taint_keys(&n).is_empty());

    // Silence: Ready=Unknown and the unreachable taints within the grace period.
    let silent = Instant::now();
    let n = until(8, "n1 to be marked unreachable", || async {
        let n = nodes.get("n1").await.unwrap();
        (ready_condition(&n).0 == "Unknown" && !taint_keys(&n).is_empty()).then_some(n)
    })
    .await;
    assert!(
        silent.elapsed() < Duration::from_secs(6),
        "took {:?}",
        silent.elapsed()
    );
    assert_eq!(
        ready_condition(&n),
        (
            "Unknown".into(),
            Some("NodeStatusUnknown".into()),
            Some("Kubelet stopped posting node status.".into())
        )
    );
    assert_eq!(
        taint_keys(&n),
        [
            "node.kubernetes.io/unreachable:NoExecute".to_string(),
            "node.kubernetes.io/unreachable:NoSchedule".to_string()
        ]
        .into()
    );
    until(5, "a NodeNotReady event", || async {
        (!events(&c, "default", "n1", "NodeNotReady").await.is_empty()).then_some(())
    })
    .await;

    // Pods on it are no longer ready; the one without a toleration of its
    // own is evicted after the default 2 s; it stays Terminating (no agent).
    until(5, "pods on n1 to be marked not ready", || async {
        let p = pods.get("forever").await.unwrap();
        let ready = p
            .status
            .unwrap()
            .conditions
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        (!ready).then_some(())
    })
    .await;
    until(8, "plain to be evicted", || async {
        pods.get("plain")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .map(|_| ())
    })
    .await;
    until(5, "a TaintManagerEviction event", || async {
        (!events(&c, "default", "plain", "TaintManagerEviction")
            .await
            .is_empty())
        .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        pods.get("plain")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some(),
        "an evicted pod on an unreachable node stays Terminating"
    );
    for p in ["forever", "patient"] {
        assert!(
            pods.get(p)
                .await
                .unwrap()
                .metadata
                .deletion_timestamp
                .is_none(),
            "{p} must not be evicted"
        );
    }

    // Back: Lease renewed and Ready=True → the taints go.
    renew_lease(&c, "n1").await;
    post_ready(&c, "n1", "True").await;
    let n = until(8, "taints removed", || async {
        let n = nodes.get("n1").await.unwrap();
        taint_keys(&n).is_empty().then_some(n)
    })
    .await;
    assert_eq!(ready_condition(&n).0, "True");
    until(5, "a NodeReady event", || async {
        (!events(&c, "default", "n1", "NodeReady").await.is_empty()).then_some(())
    })
    .await;

    // An agent reporting Ready=False (while renewing) gets the not-ready taints.
    renew_lease(&c, "n1").await;
    post_ready(&c, "n1", "False").await;
    until(8, "not-ready taints", || async {
        let n = nodes.get("n1").await.unwrap();
        let want: BTreeSet<String> = [
            "node.kubernetes.io/not-ready:NoExecute".to_string(),
            "node.kubernetes.io/not-ready:NoSchedule".to_string(),
        ]
        .into();
        (taint_keys(&n) == want).then_some(())
    })
    .await;
    post_ready(&c, "n1", "True").await;
    until(8, "taints removed again", || async {
        taint_keys(&nodes.get("n1").await.unwrap())
            .is_empty()
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_of_deleted_nodes_are_force_deleted() {
    let c = Cluster::start(fast()).await;
    let nodes: Api<Node> = c.all();
    let pods: Api<Pod> = c.api("default");
    create(&nodes, node_json("n2", "True")).await;
    create(&pods, pod_json("on-n2", json!({}), Some("n2"))).await;
    create(&pods, pod_json("on-ghost", json!({}), Some("ghost"))).await;
    // A pod on a node that exists is never force-deleted: it is Terminating.
    pods.delete("on-n2", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(pods
        .get("on-n2")
        .await
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_some());
    until(10, "the pod of a node that never existed to go", || async {
        gone(&pods, "on-ghost").await.then_some(())
    })
    .await;
    nodes.delete("n2", &DeleteParams::default()).await.unwrap();
    until(10, "the pod of a deleted node to go", || async {
        gone(&pods, "on-n2").await.then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ipam_is_stable_unique_and_reclaimed() {
    let mut c = Cluster::start(patient()).await;
    let nodes: Api<Node> = c.all();
    for n in ["node-3", "alpha", "beta"] {
        create(&nodes, node_json(n, "True")).await;
        pod_cidr(&nodes, n).await;
    }
    assert_eq!(pod_cidr(&nodes, "node-3").await, "10.244.3.0/24");
    assert_eq!(pod_cidr(&nodes, "alpha").await, "10.244.1.0/24");
    assert_eq!(pod_cidr(&nodes, "beta").await, "10.244.2.0/24");
    // node-1's own subnet is taken: it gets the lowest free one.
    create(&nodes, node_json("node-1", "True")).await;
    assert_eq!(pod_cidr(&nodes, "node-1").await, "10.244.4.0/24");
    // Many at once: all different.
    futures::stream::iter(0..20)
        .for_each_concurrent(8, |i| {
            let nodes = nodes.clone();
            async move {
                create(&nodes, node_json(&format!("w{i}"), "True")).await;
            }
        })
        .await;
    let mut all = BTreeSet::new();
    for i in 0..20 {
        assert!(
            all.insert(pod_cidr(&nodes, &format!("w{i}")).await),
            "a subnet was given twice"
        );
    }
    for n in ["node-3", "alpha", "beta", "node-1"] {
        assert!(
            all.insert(pod_cidr(&nodes, n).await),
            "a subnet was given twice"
        );
    }
    // Stable across unrelated changes and a controller restart that
    // rebuilds from the nodes (one created while it was down).
    nodes
        .patch(
            "alpha",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    c.stop_controllers();
    create(&nodes, node_json("late", "True")).await;
    c.start_controllers();
    let late = pod_cidr(&nodes, "late").await;
    assert!(all.insert(late), "the restarted allocator reused a subnet");
    assert_eq!(pod_cidr(&nodes, "alpha").await, "10.244.1.0/24");
    // Reclaimed once its node is gone.
    nodes
        .delete("beta", &DeleteParams::default())
        .await
        .unwrap();
    until(10, "beta to go", || async {
        gone(&nodes, "beta").await.then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    create(&nodes, node_json("gamma", "True")).await;
    assert_eq!(pod_cidr(&nodes, "gamma").await, "10.244.2.0/24");
}
