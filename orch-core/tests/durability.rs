//! Crash safety with real processes: `kill -9` the server during a stream of
//! acknowledged writes; after each restart every acknowledged write is
//! there, and a watcher resumes from its last resourceVersion with no event
//! missed or duplicated.
mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use serde_json::json;
use support::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let mut s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let mut acked: Vec<String> = Vec::new();
    for trial in 0..5 {
        let client = s.client().await;
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        let writer = tokio::spawn(async move {
            let mut ok = Vec::new();
            for i in 0..400 {
                let name = format!("t{trial}-{i}");
                let c: ConfigMap =
                    serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
                match cms.create(&PostParams::default(), &c).await {
                    Ok(_) => ok.push(name),
                    Err(_) => break,
                }
            }
            ok
        });
        tokio::time::sleep(Duration::from_millis(150 + 60 * trial)).await;
        s.kill9();
        acked.extend(writer.await.unwrap());
        s.restart();
        let client = s.client().await;
        let cms: Api<ConfigMap> = Api::namespaced(client, "default");
        let present: std::collections::HashSet<String> = cms
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect();
        let lost: Vec<&String> = acked.iter().filter(|n| !present.contains(*n)).collect();
        assert!(
            lost.is_empty(),
            "trial {trial}: {} acknowledged writes lost, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
    }
    assert!(
        acked.len() > 50,
        "too few writes were acknowledged ({}) to prove anything",
        acked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_resumes_across_a_restart_without_gaps_or_duplicates() {
    let mut s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let client = s.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let mk = |n: String| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": n}})).unwrap()
    };
    let first = cms
        .create(&PostParams::default(), &mk("w0".into()))
        .await
        .unwrap();
    let rv0: u64 = first.metadata.resource_version.unwrap().parse().unwrap();
    for i in 1..10 {
        cms.create(&PostParams::default(), &mk(format!("w{i}")))
            .await
            .unwrap();
    }
    s.restart();
    let client = s.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 10..15 {
        cms.create(&PostParams::default(), &mk(format!("w{i}")))
            .await
            .unwrap();
    }
    let r = s
        .http()
        .send("GET", &format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv0}&timeoutSeconds=1"), Some(&s.admin_token()), &[], vec![])
        .await;
    assert_eq!(r.status, 200);
    let names = support::added_names(&r.body);
    let want: Vec<String> = (1..15).map(|i| format!("w{i}")).collect();
    assert_eq!(names, want);
}
