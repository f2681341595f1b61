//! Deleting a namespace empties it first.
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_namespace_removes_everything_in_it() {
    let c = Cluster::start(patient()).await;
    let nss: Api<Namespace> = c.all();
    create(&nss, json!({"metadata": {"name": "shop"}})).await;
    create(&c.all::<Node>(), node_json("n1", "True")).await;
    let pods: Api<Pod> = c.api("shop");
    create(
        &c.api::<ConfigMap>("shop"),
        json!({"metadata": {"name": "cfg"}}),
    )
    .await;
    create(
        &c.api::<Secret>("shop"),
        json!({"metadata": {"name": "pw"}, "data": {"a": "Yg=="}}),
    )
    .await;
    create(
        &c.api::<Lease>("shop"),
        json!({"metadata": {"name": "l"}, "spec": {}}),
    )
    .await;
    let held: ConfigMap = create(
        &c.api("shop"),
        json!({"metadata": {"name": "held", "finalizers": ["foregroundDeletion"]}}),
    )
    .await;
    create(
        &c.api::<ConfigMap>("shop"),
        json!({"metadata": {"name": "dep", "ownerReferences": [owner("ConfigMap", &held, true)]}}),
    )
    .await;
    create(&c.api::<Service>("shop"), json!({"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})).await;
    create(
        &c.api::<Deployment>("shop"),
        json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}}}}),
    )
    .await;
    create(&pods, pod_json("free", json!({"app": "web"}), None)).await;
    create(&pods, pod_json("bound", json!({"app": "web"}), Some("n1"))).await;
    until(10, "the Service's slice", || async {
        let s = c
            .api::<EndpointSlice>("shop")
            .list(&ListParams::default())
            .await
            .unwrap();
        (!s.items.is_empty()).then_some(())
    })
    .await;

    nss.delete("shop", &DeleteParams::default()).await.unwrap();
    let empty_but_bound = || async {
        let cms = c
            .api::<ConfigMap>("shop")
            .list(&ListParams::default())
            .await
            .unwrap()
            .items;
        let slices = c
            .api::<EndpointSlice>("shop")
            .list(&ListParams::default())
            .await
            .unwrap()
            .items;
        let p: Vec<String> = pods
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .map(|p| p.name_any())
            .collect();
        let gone_all = cms.is_empty()
            && slices.is_empty()
            && p == ["bound"]
            && gone(&c.api::<Secret>("shop"), "pw").await
            && gone(&c.api::<Lease>("shop"), "l").await
            && gone(&c.api::<Service>("shop"), "web").await
            && gone(&c.api::<Deployment>("shop"), "web").await;
        gone_all.then_some(())
    };
    until(20, "everything but the bound pod to go", empty_but_bound).await;
    // The pod its agent has to finish keeps the namespace Terminating.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ns = nss
        .get("shop")
        .await
        .expect("the namespace must wait for its last pod");
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    assert!(pods
        .get("bound")
        .await
        .unwrap()
        .metadata
        .deletion_timestamp
        .is_some());
    pods.delete(
        "bound",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    until(15, "the namespace to go", || async {
        gone(&nss, "shop").await.then_some(())
    })
    .await;
}
