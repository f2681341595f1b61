//! Kubernetes object semantics served by `orch server`: generation,
//! generateName, finalizers, graceful and namespace deletion, binding,
//! authorization of node and read-only tokens, metrics, bookmarks,
//! snapshots, and garbage input.
mod support;

use std::{process::Command, time::Duration};

use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{ConfigMap, Namespace, Pod},
};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::TestServer;

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
        }
    }))
    .unwrap()
}

#[tokio::test]
async fn generation_defaults_and_generate_name() {
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let client = s.client().await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d = deps
        .create(&PostParams::default(), &deployment("web", 2))
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let spec = d.spec.as_ref().unwrap();
    assert_eq!(spec.revision_history_limit, Some(10));
    let strategy = spec.strategy.as_ref().unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    // Metadata-only change: generation stays.
    let d = deps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    // Spec change: generation bumps.
    let d = deps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(2));
    // Status change through /status: generation stays, spec untouched.
    let d = deps
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(2));
    assert_eq!(d.status.unwrap().replicas, Some(3));
    // The selector is immutable.
    let e = deps
        .patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"selector": {"matchLabels": {"app": "other"}}, "template": {"metadata": {"labels": {"app": "other"}}}}})))
        .await
        .unwrap_err();
    assert!(
        matches!(e, kube::Error::Api(ref s) if s.code == 422),
        "{e:?}"
    );

    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let c: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "cfg-"}})).unwrap();
    let a = cms.create(&PostParams::default(), &c).await.unwrap();
    let b = cms.create(&PostParams::default(), &c).await.unwrap();
    let (na, nb) = (a.metadata.name.unwrap(), b.metadata.name.unwrap());
    assert!(na.starts_with("cfg-") && na.len() == 9, "{na}");
    assert_ne!(na, nb);
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let cms: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    let c: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &c).await.unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let still = cms.get("held").await.unwrap();
    assert!(still.metadata.deletion_timestamp.is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(
        cms.get_opt("held").await.unwrap().is_none(),
        "object stayed after its last finalizer was removed"
    );

    // Orphan and foreground deletion leave their finalizers on the owner.
    let deps: Api<Deployment> = Api::namespaced(s.client().await, "default");
    deps.create(&PostParams::default(), &deployment("fg", 1))
        .await
        .unwrap();
    deps.delete("fg", &DeleteParams::foreground())
        .await
        .unwrap();
    let fg = deps.get("fg").await.unwrap();
    assert_eq!(
        fg.metadata.finalizers,
        Some(vec!["foregroundDeletion".to_string()])
    );
    deps.create(&PostParams::default(), &deployment("or", 1))
        .await
        .unwrap();
    deps.delete("or", &DeleteParams::orphan()).await.unwrap();
    assert_eq!(
        deps.get("or").await.unwrap().metadata.finalizers,
        Some(vec!["orphan".to_string()])
    );
}

#[tokio::test]
async fn bound_pods_terminate_gracefully_and_binding_is_once() {
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let pods: Api<Pod> = Api::namespaced(s.client().await, "default");
    let p: Pod = serde_json::from_value(
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}),
    )
    .unwrap();
    pods.create(&PostParams::default(), &p).await.unwrap();
    let http = s.http();
    let t = s.admin_token();
    let ct = [("content-type", "application/json")];
    let bind = serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Node", "name": "node-1"}})).unwrap();
    let r = http
        .send(
            "POST",
            "/api/v1/namespaces/default/pods/p/binding",
            Some(&t),
            &ct,
            bind.clone(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = http
        .send(
            "POST",
            "/api/v1/namespaces/default/pods/p/binding",
            Some(&t),
            &ct,
            bind,
        )
        .await;
    assert_eq!(r.status, 409);
    let bound = pods.get("p").await.unwrap();
    assert_eq!(
        bound.spec.as_ref().unwrap().node_name.as_deref(),
        Some("node-1")
    );
    let conds = bound.status.unwrap().conditions.unwrap();
    assert!(conds
        .iter()
        .any(|c| c.type_ == "PodScheduled" && c.status == "True"));

    // A bound pod is only marked; its node agent finishes the deletion.
    pods.delete("p", &DeleteParams::default()).await.unwrap();
    let marked = pods.get("p").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(30));
    pods.delete(
        "p",
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(pods.get_opt("p").await.unwrap().is_none());
}

#[tokio::test]
async fn deleting_a_namespace_makes_it_terminating() {
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let client = s.client().await;
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "shop"}})).unwrap(),
    )
    .await
    .unwrap();
    nss.delete("shop", &DeleteParams::default()).await.unwrap();
    let ns = nss.get("shop").await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    let cms: Api<ConfigMap> = Api::namespaced(client, "shop");
    let e = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, kube::Error::Api(ref s) if s.code == 403),
        "{e:?}"
    );
    // Clearing spec.finalizers through /finalize lets the delete complete.
    let r = s
        .http()
        .send("PUT", "/api/v1/namespaces/shop/finalize", Some(&s.admin_token()), &[("content-type", "application/json")], br#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"},"spec":{"finalizers":[]}}"#.to_vec())
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        nss.get_opt("shop").await.unwrap().is_none(),
        "a terminating namespace with no finalizers left must go"
    );
}

#[tokio::test]
async fn node_and_read_only_tokens_are_confined() {
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let token = |args: &[&str]| -> String {
        let out = Command::new(support::orch())
            .args(["server", "token", "--data-dir"])
            .arg(s.data_dir())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let node1 = token(&["--node", "node-1"]);
    let ro = token(&["--read-only", "system:orch-dns"]);
    let http = s.http();
    let ct = [("content-type", "application/json")];
    let node = |n: &str| {
        serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n}}))
            .unwrap()
    };
    let r = http
        .send("POST", "/api/v1/nodes", Some(&node1), &ct, node("node-1"))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = http
        .send(
            "PATCH",
            "/api/v1/nodes/node-1/status",
            Some(&node1),
            &[("content-type", "application/merge-patch+json")],
            br#"{"status":{"capacity":{"cpu":"2"}}}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, 200);
    let admin = s.admin_token();
    http.send("POST", "/api/v1/nodes", Some(&admin), &ct, node("node-2"))
        .await;
    let r = http
        .send(
            "PATCH",
            "/api/v1/nodes/node-2/status",
            Some(&node1),
            &[("content-type", "application/merge-patch+json")],
            br#"{"status":{}}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = http
        .send(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            Some(&node1),
            &ct,
            br#"{"metadata":{"name":"x"}}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = http
        .send("GET", "/api/v1/services", Some(&ro), &[], vec![])
        .await;
    assert_eq!(r.status, 200);
    let r = http
        .send("DELETE", "/api/v1/nodes/node-2", Some(&ro), &[], vec![])
        .await;
    assert_eq!(r.status, 403);
    // The join token only buys node credentials.
    let join = std::fs::read_to_string(s.data_dir().join("join-token"))
        .unwrap()
        .trim()
        .to_string();
    let r = http
        .send("GET", "/api/v1/pods", Some(&join), &[], vec![])
        .await;
    assert_eq!(r.status, 403);
    let r = http
        .send(
            "POST",
            "/orch/v1/node-credentials",
            Some(&join),
            &ct,
            br#"{"nodeName":"node-1"}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["token"], node1);
    let r = http
        .send("GET", "/api/v1/pods", Some("admin.forged"), &[], vec![])
        .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn metrics_bookmarks_and_snapshot() {
    let s = TestServer::start_with(&[
        "--no-controllers",
        "--no-scheduler",
        "--bookmark-interval-seconds",
        "1",
    ]);
    let http = s.http();
    let t = s.admin_token();
    let cms: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "m"}})).unwrap(),
    )
    .await
    .unwrap();
    let r = http.send("GET", "/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true&timeoutSeconds=3&resourceVersion=1", Some(&t), &[], vec![]).await;
    let types: Vec<String> = r
        .body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice::<serde_json::Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(types.contains(&"ADDED".to_string()), "{types:?}");
    assert!(
        types.iter().filter(|t| *t == "BOOKMARK").count() >= 1,
        "{types:?}"
    );

    let r = http.send("GET", "/metrics", Some(&t), &[], vec![]).await;
    let text = String::from_utf8_lossy(&r.body);
    for m in [
        "apiserver_request_duration_seconds_bucket",
        "orch_store_commit_duration_seconds",
        "apiserver_open_watches",
    ] {
        assert!(text.contains(m), "{m} missing from /metrics:\n{text}");
    }
    assert!(
        text.contains("verb=\"create\"") && text.contains("resource=\"configmaps\""),
        "{text}"
    );

    let out = s.data_dir().join("backup.redb");
    let o = Command::new(support::orch())
        .args(["server", "snapshot", "--data-dir"])
        .arg(s.data_dir())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let snap = orch_core::store::embedded::EmbeddedStore::open(&out, Default::default()).unwrap();
    use orch_core::store::Store;
    let kv = snap.get("/registry/configmaps/default/m").await.unwrap();
    assert!(kv.is_some(), "the snapshot lacks a written object");
}

#[tokio::test]
async fn garbage_requests_never_break_the_server() {
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let http = s.http();
    let t = s.admin_token();
    let paths = [
        "/api/v1/namespaces/default/pods",
        "/api/v1/namespaces/default/services",
        "/apis/apps/v1/namespaces/default/deployments",
        "/api/v1/nodes",
    ];
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let samples: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"{\"metadata\": []}".to_vec(),
        b"{\"metadata\": {\"name\": 5}, \"spec\": \"x\"}".to_vec(),
        b"{\"apiVersion\": 7, \"kind\": {}}".to_vec(),
        b"{\"metadata\":{\"name\":\"a\"},\"spec\":{\"containers\":[{\"name\":null,\"ports\":[{\"containerPort\":\"x\"}]}]}}".to_vec(),
        br#"{"metadata":{"name":"a"},"spec":{"ports":[{"port":-1,"targetPort":{"a":1}}],"selector":[1]}}"#.to_vec(),
    ];
    let structured = samples.len();
    let mut bodies = samples;
    for _ in 0..40 {
        let len = (next() % 200) as usize;
        bodies.push((0..len).map(|_| (next() % 256) as u8).collect());
    }
    for path in paths {
        for (i, b) in bodies.iter().enumerate() {
            for ct in ["application/json", "application/yaml"] {
                let r = http
                    .send("POST", path, Some(&t), &[("content-type", ct)], b.clone())
                    .await;
                // Well-formed objects may be accepted (unknown fields are
                // dropped); random bytes never; nothing is a server error.
                let allowed = if i < structured { 200..500 } else { 400..500 };
                assert!(
                    allowed.contains(&r.status),
                    "{path} {ct} {:?} → {} {}",
                    String::from_utf8_lossy(b),
                    r.status,
                    String::from_utf8_lossy(&r.body)
                );
            }
        }
    }
    // Patches of every type with garbage bodies.
    let cm =
        serde_json::to_vec(&json!({"metadata": {"name": "target"}, "data": {"a": "1"}})).unwrap();
    http.send(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some(&t),
        &[("content-type", "application/json")],
        cm,
    )
    .await;
    for ct in [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
    ] {
        for b in &bodies {
            let r = http
                .send(
                    "PATCH",
                    "/api/v1/namespaces/default/configmaps/target",
                    Some(&t),
                    &[("content-type", ct)],
                    b.clone(),
                )
                .await;
            assert!(
                r.status < 500,
                "{ct} {:?} → {} {}",
                String::from_utf8_lossy(b),
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        http.send("GET", "/healthz", None, &[], vec![]).await.status,
        200
    );
}
