//! EndpointSlices: content, readiness, termination, named ports,
//! publishNotReadyAddresses, no churn, and the 100-endpoint limit.
use super::*;

async fn slices(c: &Cluster, svc: &str) -> Vec<EndpointSlice> {
    let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={svc}"));
    let mut items = c
        .api::<EndpointSlice>("default")
        .list(&lp)
        .await
        .unwrap()
        .items;
    items.sort_by_key(|s| s.ports.iter().flatten().filter_map(|p| p.port).min());
    items
}

/// (pod name, ready, serving, terminating) of every endpoint, sorted.
fn endpoints(slices: &[EndpointSlice]) -> Vec<(String, bool, bool, bool)> {
    let mut out: Vec<_> = slices
        .iter()
        .flat_map(|s| &s.endpoints)
        .map(|e| {
            let c = e.conditions.clone().unwrap();
            (
                e.target_ref.as_ref().unwrap().name.clone().unwrap(),
                c.ready.unwrap(),
                c.serving.unwrap(),
                c.terminating.unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

async fn until_endpoints(
    c: &Cluster,
    svc: &str,
    want: &[(&str, bool, bool, bool)],
) -> Vec<EndpointSlice> {
    let want: Vec<(String, bool, bool, bool)> = want
        .iter()
        .map(|(n, a, b, d)| (n.to_string(), *a, *b, *d))
        .collect();
    until(
        15,
        &format!("endpoints of {svc} to be {want:?}"),
        || async {
            let s = slices(c, svc).await;
            (endpoints(&s) == want).then_some(s)
        },
    )
    .await
}

/// How many writes (create, update, patch, delete) of EndpointSlices the
/// API server has answered, from its request metrics.
async fn slice_writes(c: &Cluster) -> u64 {
    let r = c
        .server
        .http()
        .send(
            "GET",
            "/metrics",
            Some(&c.server.admin_token()),
            &[],
            vec![],
        )
        .await;
    String::from_utf8_lossy(&r.body)
        .lines()
        .filter(|l| {
            l.starts_with("apiserver_request_duration_seconds_count{")
                && l.contains("resource=\"endpointslices\"")
        })
        .filter(|l| {
            ["create", "update", "patch", "delete"]
                .iter()
                .any(|v| l.contains(&format!("verb=\"{v}\"")))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_slices_follow_pods() {
    let c = Cluster::start(patient()).await;
    create(&c.all::<Node>(), node_json("n1", "True")).await;
    let kubernetes_before = slices(&c, "kubernetes").await;
    let svcs: Api<Service> = c.api("default");
    let pods: Api<Pod> = c.api("default");
    let web = create(&svcs, json!({"metadata": {"name": "web", "labels": {"tier": "front"}}, "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})).await;
    for (name, ip) in [("a", "10.244.1.10"), ("b", "10.244.1.11")] {
        create(&pods, pod_json(name, json!({"app": "web"}), Some("n1"))).await;
        set_pod_status(&pods, name, ip, true).await;
    }
    // A pod without an IP, and one not selected, are not endpoints.
    create(&pods, pod_json("no-ip", json!({"app": "web"}), Some("n1"))).await;
    create(&pods, pod_json("other", json!({"app": "db"}), Some("n1"))).await;
    set_pod_status(&pods, "other", "10.244.1.99", true).await;

    let s = until_endpoints(
        &c,
        "web",
        &[("a", true, true, false), ("b", true, true, false)],
    )
    .await;
    assert_eq!(s.len(), 1);
    let slice = &s[0];
    assert_eq!(slice.address_type, "IPv4");
    let labels = slice.labels();
    assert_eq!(
        labels["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert_eq!(labels["tier"], "front");
    let owner = &slice.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("Service", web.uid().unwrap().as_str(), Some(true))
    );
    let port = &slice.ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.port, port.protocol.as_deref()),
        (Some("http"), Some(8080), Some("TCP"))
    );
    let a = slice
        .endpoints
        .iter()
        .find(|e| e.addresses == ["10.244.1.10"])
        .unwrap();
    assert_eq!(a.node_name.as_deref(), Some("n1"));
    let target = a.target_ref.as_ref().unwrap();
    assert_eq!(
        (target.kind.as_deref(), target.name.as_deref()),
        (Some("Pod"), Some("a"))
    );
    assert_eq!(target.uid, pods.get("a").await.unwrap().uid());

    // No churn: irrelevant pod changes cause no slice write at all (the API
    // server would drop an identical write, so count requests too).
    let (name, rv) = (slice.name_any(), slice.resource_version());
    let writes = slice_writes(&c).await;
    assert!(writes > 0, "no slice writes in the metrics");
    pods.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"touched": "yes"}}})),
    )
    .await
    .unwrap();
    set_pod_status(&pods, "other", "10.244.1.98", false).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        slice_writes(&c).await,
        writes,
        "slices written (even if unchanged) for nothing"
    );
    let s = slices(&c, "web").await;
    assert_eq!(
        (s[0].name_any(), s[0].resource_version()),
        (name.clone(), rv),
        "slice rewritten for nothing"
    );

    // Readiness follows the pod's Ready condition, in the same slice.
    set_pod_status(&pods, "a", "10.244.1.10", false).await;
    let s = until_endpoints(
        &c,
        "web",
        &[("a", false, false, false), ("b", true, true, false)],
    )
    .await;
    assert_eq!(s[0].name_any(), name, "the slice must be updated in place");
    set_pod_status(&pods, "a", "10.244.1.10", true).await;
    until_endpoints(
        &c,
        "web",
        &[("a", true, true, false), ("b", true, true, false)],
    )
    .await;

    // A named port that means another number on this pod: a slice of its own.
    let mut p = pod_json("c", json!({"app": "web"}), Some("n1"));
    p["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(9090);
    p["spec"]["hostname"] = json!("c");
    p["spec"]["subdomain"] = json!("web");
    create(&pods, p).await;
    set_pod_status(&pods, "c", "10.244.1.12", true).await;
    let s = until_endpoints(
        &c,
        "web",
        &[
            ("a", true, true, false),
            ("b", true, true, false),
            ("c", true, true, false),
        ],
    )
    .await;
    assert_eq!(s.len(), 2);
    assert_eq!(s[1].ports.as_ref().unwrap()[0].port, Some(9090));
    assert_eq!(s[1].endpoints[0].hostname.as_deref(), Some("c"));
    assert_eq!(s[0].endpoints[0].hostname, None);

    // Terminating: not ready, still serving.
    pods.delete("b", &DeleteParams::default()).await.unwrap();
    until_endpoints(
        &c,
        "web",
        &[
            ("a", true, true, false),
            ("b", false, true, true),
            ("c", true, true, false),
        ],
    )
    .await;

    // publishNotReadyAddresses: everything is ready.
    set_pod_status(&pods, "a", "10.244.1.10", false).await;
    create(&svcs, json!({"metadata": {"name": "all"}, "spec": {"selector": {"app": "web"}, "publishNotReadyAddresses": true, "ports": [{"port": 80, "targetPort": 8080}]}})).await;
    until_endpoints(
        &c,
        "all",
        &[
            ("a", true, false, false),
            ("b", true, true, true),
            ("c", true, true, false),
        ],
    )
    .await;

    // A pod that stops matching leaves; a Service that loses its selector
    // or goes away loses its slices.
    pods.patch(
        "c",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"app": "gone"}}})),
    )
    .await
    .unwrap();
    until_endpoints(
        &c,
        "all",
        &[("a", true, false, false), ("b", true, true, true)],
    )
    .await;
    svcs.patch(
        "all",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"selector": null}})),
    )
    .await
    .unwrap();
    until(15, "slices of a selectorless Service to go", || async {
        slices(&c, "all").await.is_empty().then_some(())
    })
    .await;
    svcs.delete("web", &DeleteParams::default()).await.unwrap();
    until(15, "slices of a deleted Service to go", || async {
        slices(&c, "web").await.is_empty().then_some(())
    })
    .await;

    // The API server's own slice was never touched.
    let kubernetes_after = slices(&c, "kubernetes").await;
    assert_eq!(kubernetes_before.len(), 1);
    assert_eq!(
        kubernetes_after
            .iter()
            .map(|s| s.resource_version())
            .collect::<Vec<_>>(),
        kubernetes_before
            .iter()
            .map(|s| s.resource_version())
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_slices_hold_at_most_one_hundred_endpoints() {
    let c = Cluster::start(patient()).await;
    let svcs: Api<Service> = c.api("default");
    let pods: Api<Pod> = c.api("default");
    create(&svcs, json!({"metadata": {"name": "big"}, "spec": {"selector": {"app": "big"}, "ports": [{"port": 80}]}})).await;
    // An empty Service keeps one empty placeholder slice.
    let s = until(15, "a placeholder slice", || async {
        Some(slices(&c, "big").await).filter(|s| s.len() == 1)
    })
    .await;
    assert!(s[0].endpoints.is_empty());
    let placeholder = s[0].name_any();
    futures::stream::iter(0..250)
        .for_each_concurrent(16, |i| {
            let pods = pods.clone();
            async move {
                create(
                    &pods,
                    pod_json(&format!("p{i:03}"), json!({"app": "big"}), None),
                )
                .await;
                set_pod_status(
                    &pods,
                    &format!("p{i:03}"),
                    &format!("10.244.{}.{}", 10 + i / 200, i % 200 + 1),
                    true,
                )
                .await;
            }
        })
        .await;
    let s = until(30, "250 endpoints in slices of at most 100", || async {
        let s = slices(&c, "big").await;
        (endpoints(&s).len() == 250).then_some(s)
    })
    .await;
    let mut sizes: Vec<usize> = s.iter().map(|s| s.endpoints.len()).collect();
    sizes.sort();
    assert_eq!(sizes, [50, 100, 100], "{sizes:?}");
    assert!(
        s.iter().any(|s| s.name_any() == placeholder),
        "the placeholder slice should be reused"
    );
    let names: BTreeSet<String> = s.iter().map(|s| s.name_any()).collect();

    // Removing pods shrinks slices in place: no new slice, nothing over 100.
    futures::stream::iter(0..60)
        .for_each_concurrent(16, |i| {
            let pods = pods.clone();
            async move {
                pods.delete(&format!("p{:03}", i * 4), &DeleteParams::default())
                    .await
                    .unwrap();
            }
        })
        .await;
    let s = until(30, "190 endpoints", || async {
        let s = slices(&c, "big").await;
        (endpoints(&s).len() == 190).then_some(s)
    })
    .await;
    assert!(s.iter().all(|s| s.endpoints.len() <= 100));
    assert!(
        s.iter().all(|s| names.contains(&s.name_any())),
        "slices were replaced instead of updated"
    );
}
