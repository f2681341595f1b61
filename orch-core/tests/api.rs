//! The API server against real clients: raw HTTPS, kube-rs, with a real
//! `orch server` process per test.
mod support;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::{
    api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams},
    runtime::watcher,
};
use serde_json::json;
use support::TestServer;

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "none", "command": ["sleep", "1000"]}]}
    }))
    .unwrap()
}

#[tokio::test]
async fn unauthenticated_requests_get_401_and_discovery_works() {
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let http = s.http();
    let r = http.send("GET", "/api/v1/pods", None, &[], vec![]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["reason"], "Unauthorized");
    let t = s.admin_token();
    let r = http.send("GET", "/apis", Some(&t), &[], vec![]).await;
    assert_eq!(r.status, 200);
    assert!(r.json()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["name"] == "apps"));
    let r = http.send("GET", "/api/v1", Some(&t), &[], vec![]).await;
    assert!(r.json()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["name"] == "pods/binding"));
    let r = http.send("GET", "/healthz", None, &[], vec![]).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn crud_with_kubernetes_status_codes() {
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let client = s.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created = pods
        .create(&PostParams::default(), &pod("web-1"))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.is_some());
    assert!(meta.creation_timestamp.is_some());
    assert_eq!(meta.generation, Some(1));
    assert_eq!(
        created.spec.as_ref().unwrap().restart_policy.as_deref(),
        Some("Always")
    );
    assert_eq!(
        created.status.as_ref().unwrap().phase.as_deref(),
        Some("Pending")
    );

    let dup = pods
        .create(&PostParams::default(), &pod("web-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(dup, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{dup:?}"
    );
    let missing = pods.get("nope").await.unwrap_err();
    assert!(
        matches!(missing, kube::Error::Api(ref s) if s.code == 404),
        "{missing:?}"
    );

    // Stale update → 409 Conflict.
    let mut stale = created.clone();
    let mut fresh = created.clone();
    fresh
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("v".into(), "2".into());
    let updated = pods
        .replace("web-1", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        created.metadata.resource_version
    );
    stale
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("v".into(), "3".into());
    let conflict = pods
        .replace("web-1", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(conflict, kube::Error::Api(ref s) if s.code == 409 && s.reason == "Conflict"),
        "{conflict:?}"
    );

    // Status writes ignore spec; main writes ignore status.
    let st = pods
        .patch_status(
            "web-1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Running"}, "spec": {"nodeName": "x"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        st.status.as_ref().unwrap().phase.as_deref(),
        Some("Running")
    );
    assert_eq!(st.spec.as_ref().unwrap().node_name, None);
    let main = pods
        .patch(
            "web-1",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"phase": "Failed"}, "metadata": {"labels": {"x": "y"}}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        main.status.as_ref().unwrap().phase.as_deref(),
        Some("Running")
    );
    assert_eq!(main.metadata.labels.as_ref().unwrap()["x"], "y");

    // Label selectors.
    pods.create(&PostParams::default(), &{
        let mut p = pod("db-1");
        p.metadata.labels = Some([("app".to_string(), "db".to_string())].into());
        p
    })
    .await
    .unwrap();
    let web = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    assert_eq!(web.items.len(), 1);
    let not_web = pods
        .list(&ListParams::default().labels("app notin (web)"))
        .await
        .unwrap();
    assert_eq!(not_web.items.len(), 1);
    assert_eq!(not_web.items[0].metadata.name.as_deref(), Some("db-1"));

    // Delete of an unbound pod is immediate.
    pods.delete("db-1", &DeleteParams::default()).await.unwrap();
    assert!(pods.get_opt("db-1").await.unwrap().is_none());
}

#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let http = s.http();
    let t = s.admin_token();
    let ct = [("content-type", "application/json")];
    let r = http
        .send(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            Some(&t),
            &ct,
            b"{\"metadata\": {\"name\": \"a\",}".to_vec(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("line 1 column"),
        "{}",
        r.json()
    );
    let r = http
        .send(
            "GET",
            "/api/v1/namespaces/default/widgets",
            Some(&t),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 404);
    assert!(r.json()["message"].as_str().unwrap().contains("v1/pods"));
    let big = vec![b' '; 3 * 1024 * 1024 + 10];
    let r = http
        .send(
            "POST",
            "/api/v1/namespaces/default/configmaps",
            Some(&t),
            &ct,
            big,
        )
        .await;
    assert_eq!(r.status, 413);
    let r = http
        .send(
            "GET",
            "/api/v1/pods?labelSelector=a%20in%20(",
            Some(&t),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, 400);
    // 422 with field causes.
    let body = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "Bad_Name"}, "spec": {"ports": [{"port": 70000}]}});
    let r = http
        .send(
            "POST",
            "/api/v1/namespaces/default/services",
            Some(&t),
            &ct,
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["reason"], "Invalid");
    let fields: Vec<&str> = v["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"metadata.name"), "{fields:?}");
    assert!(
        fields.iter().any(|f| f.starts_with("spec.ports[0].port")),
        "{fields:?}"
    );
    // A write into a namespace that does not exist.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    let r = http
        .send(
            "POST",
            "/api/v1/namespaces/ghost/configmaps",
            Some(&t),
            &ct,
            serde_json::to_vec(&cm).unwrap(),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn services_get_unique_cluster_ips_that_survive_restarts() {
    let mut s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let client = s.client().await;
    let svcs: Api<Service> = Api::namespaced(client, "default");
    let k = svcs.get("kubernetes").await.unwrap();
    assert_eq!(
        k.spec.as_ref().unwrap().cluster_ip.as_deref(),
        Some("10.96.0.1")
    );
    let mk = |name: &str, ip: Option<&str>| -> Service {
        let mut spec = json!({"selector": {"app": name}, "ports": [{"port": 80}]});
        if let Some(ip) = ip {
            spec["clusterIP"] = json!(ip);
        }
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
    };
    let a = svcs
        .create(&PostParams::default(), &mk("a", None))
        .await
        .unwrap();
    let ip_a = a.spec.as_ref().unwrap().cluster_ip.clone().unwrap();
    assert!(ip_a.starts_with("10.96."));
    let port = &a.spec.as_ref().unwrap().ports.as_ref().unwrap()[0];
    assert_eq!(port.protocol.as_deref(), Some("TCP"));
    let taken = svcs
        .create(&PostParams::default(), &mk("b", Some(&ip_a)))
        .await
        .unwrap_err();
    assert!(
        matches!(taken, kube::Error::Api(ref s) if s.code == 422),
        "{taken:?}"
    );
    let c = svcs
        .create(&PostParams::default(), &mk("c", Some("10.96.5.5")))
        .await
        .unwrap();
    assert_eq!(
        c.spec.as_ref().unwrap().cluster_ip.as_deref(),
        Some("10.96.5.5")
    );
    let headless = svcs
        .create(&PostParams::default(), &mk("h", Some("None")))
        .await
        .unwrap();
    assert_eq!(
        headless.spec.as_ref().unwrap().cluster_ip.as_deref(),
        Some("None")
    );
    // ClusterIP is immutable.
    let change = svcs
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"clusterIP": "10.96.5.6"}})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(change, kube::Error::Api(ref s) if s.code == 422),
        "{change:?}"
    );

    s.restart();
    let client = s.client().await;
    let svcs: Api<Service> = Api::namespaced(client, "default");
    let again = svcs
        .create(&PostParams::default(), &mk("b", Some(&ip_a)))
        .await
        .unwrap_err();
    assert!(
        matches!(again, kube::Error::Api(ref s) if s.code == 422),
        "allocation lost across restart: {again:?}"
    );
    svcs.delete("a", &DeleteParams::default()).await.unwrap();
    let b = svcs
        .create(&PostParams::default(), &mk("b", Some(&ip_a)))
        .await
        .unwrap();
    assert_eq!(
        b.spec.as_ref().unwrap().cluster_ip.as_deref(),
        Some(ip_a.as_str())
    );
}

#[tokio::test]
async fn kube_rs_watcher_sees_every_change_in_order() {
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let client = s.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let stream = watcher(cms.clone(), watcher::Config::default()).boxed();
    let collector = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut stream = stream;
        while let Ok(next) = tokio::time::timeout(Duration::from_secs(10), stream.try_next()).await
        {
            let Some(ev) = next.unwrap() else { break };
            match ev {
                watcher::Event::Apply(cm) => seen.push(format!(
                    "apply {} {}",
                    cm.metadata.name.unwrap(),
                    cm.data
                        .unwrap_or_default()
                        .get("v")
                        .cloned()
                        .unwrap_or_default()
                )),
                watcher::Event::Delete(cm) => {
                    seen.push(format!("delete {}", cm.metadata.name.unwrap()))
                }
                _ => {}
            }
            if seen.last().is_some_and(|l| l == "delete b") {
                break;
            }
        }
        seen
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mk = |n: &str, v: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": n}, "data": {"v": v}})).unwrap()
    };
    cms.create(&PostParams::default(), &mk("a", "1"))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &mk("b", "1"))
        .await
        .unwrap();
    cms.replace("a", &PostParams::default(), &{
        let mut c = cms.get("a").await.unwrap();
        c.data = Some([("v".to_string(), "2".to_string())].into());
        c
    })
    .await
    .unwrap();
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    cms.delete("b", &DeleteParams::default()).await.unwrap();
    let seen = collector.await.unwrap();
    assert_eq!(
        seen,
        vec![
            "apply a 1",
            "apply b 1",
            "apply a 2",
            "delete a",
            "delete b"
        ]
    );
}

#[tokio::test]
async fn watch_from_a_compacted_revision_gets_an_in_stream_410() {
    let s = TestServer::start_with(&[
        "--watch-history-seconds",
        "0",
        "--watch-history-min-events",
        "1",
    ]);
    let client = s.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..5 {
        let c: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).unwrap();
        cms.create(&PostParams::default(), &c).await.unwrap();
    }
    let r = s
        .http()
        .send(
            "GET",
            "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=2&timeoutSeconds=2",
            Some(&s.admin_token()),
            &[],
            vec![],
        )
        .await;
    assert_eq!(
        r.status, 200,
        "a too-old watch is HTTP 200 with an ERROR event"
    );
    let first: serde_json::Value =
        serde_json::from_slice(r.body.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["type"], "ERROR");
    assert_eq!(first["object"]["code"], 410);
    assert_eq!(first["object"]["reason"], "Expired");
}

#[tokio::test]
async fn list_pages_share_one_snapshot() {
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let client = s.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..7 {
        let c: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).unwrap();
        cms.create(&PostParams::default(), &c).await.unwrap();
    }
    let p1 = cms.list(&ListParams::default().limit(3)).await.unwrap();
    assert_eq!(p1.items.len(), 3);
    let token = p1.metadata.continue_.clone().unwrap();
    // Changes after the first page do not show in later pages.
    cms.delete("c5", &DeleteParams::default()).await.unwrap();
    let c: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c9"}})).unwrap();
    cms.create(&PostParams::default(), &c).await.unwrap();
    let p2 = cms
        .list(&ListParams::default().limit(3).continue_token(&token))
        .await
        .unwrap();
    let p3 = cms
        .list(
            &ListParams::default()
                .limit(3)
                .continue_token(p2.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(p2.metadata.resource_version, p1.metadata.resource_version);
    let names: Vec<String> = p1
        .items
        .iter()
        .chain(&p2.items)
        .chain(&p3.items)
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, vec!["c0", "c1", "c2", "c3", "c4", "c5", "c6"]);
    assert!(p3.metadata.continue_.as_deref().unwrap_or("").is_empty());
}

#[tokio::test]
async fn control_loop_client_honours_tls_server_name() {
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let with_name = |name: &str| {
        let text = std::fs::read_to_string(s.kubeconfig()).unwrap();
        let mut kc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        kc["clusters"][0]["cluster"]["tls-server-name"] = name.into();
        let path = s.data_dir().join(format!("{name}.kubeconfig"));
        std::fs::write(&path, serde_yaml::to_string(&kc).unwrap()).unwrap();
        path
    };
    // The serving certificate names kubernetes.default.svc, not this one.
    let client = orch_core::controlplane::client_from(&with_name("kubernetes.default.svc"))
        .await
        .unwrap();
    client.apiserver_version().await.unwrap();
    let client = orch_core::controlplane::client_from(&with_name("not-the-server.example"))
        .await
        .unwrap();
    let err = client.apiserver_version().await.unwrap_err();
    assert!(
        format!("{err:?}").contains("NotValidForName"),
        "a name the certificate does not carry is refused: {err:?}"
    );
}
