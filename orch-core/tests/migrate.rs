//! `orch server migrate` with real processes: a server on the embedded
//! store gets a few hundred objects through the API, is stopped, and its
//! store is moved into a real etcd; a server on etcd with the same data
//! directory then serves the same objects, with etcd's resourceVersions,
//! and the ClusterIP reservations came along. Migrating while the server
//! runs, into an etcd that has objects, or with bad flags is refused with
//! a message saying why.
mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    process::{Command, Output},
};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{ConfigMap, Namespace, Service},
};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use orch_core::store::{
    etcd::{EtcdOptions, EtcdStore},
    list_all, ListOptions, Store, StoreError,
};
use orch_testkit::etcd::{binary, Etcd};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use support::TestServer;

const NAMESPACES: usize = 4;
const SERVICES: usize = 15;
const CONFIG_MAPS: usize = 50;
/// Objects are created this many at a time.
const IN_FLIGHT: usize = 8;
/// No controllers or scheduler, so nothing changes objects behind the test.
const QUIET: [&str; 2] = ["--no-controllers", "--no-scheduler"];
/// Every list compared before and after, cluster wide.
const LISTS: [&str; 8] = [
    "/api/v1/namespaces",
    "/api/v1/services",
    "/api/v1/configmaps",
    "/api/v1/secrets",
    "/api/v1/events",
    "/apis/apps/v1/deployments",
    "/apis/discovery.k8s.io/v1/endpointslices",
    "/apis/coordination.k8s.io/v1/leases",
];

fn object<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

/// Creates the test's namespaces, each with a Deployment, Services and
/// ConfigMaps, some of them updated and one deleted (so the store's
/// revision is ahead of its key count).
async fn fill(client: &kube::Client) {
    let pp = PostParams::default();
    let nss: Api<Namespace> = Api::all(client.clone());
    for n in 0..NAMESPACES {
        let ns = format!("mig-{n}");
        nss.create(&pp, &object(json!({"metadata": {"name": ns}})))
            .await
            .unwrap();
        let deps: Api<Deployment> = Api::namespaced(client.clone(), &ns);
        deps.create(
            &pp,
            &object(json!({
                "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {
                    "replicas": 3,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "c", "image": "x", "command": ["sleep", "60"]}]}}
                }
            })),
        )
        .await
        .unwrap();
        let svcs: Api<Service> = Api::namespaced(client.clone(), &ns);
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
        let (svcs, cms, pp) = (&svcs, &cms, &pp);
        futures::stream::iter(0..SERVICES)
            .map(|i| async move {
                let svc = json!({
                    "metadata": {"name": format!("svc-{i:02}")},
                    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80 + i, "targetPort": 8080}]}
                });
                svcs.create(pp, &object(svc)).await.map(drop)
            })
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<()>()
            .await
            .unwrap();
        futures::stream::iter(0..CONFIG_MAPS)
            .map(|i| async move {
                let cm = json!({
                    "metadata": {"name": format!("cm-{i:03}"), "labels": {"i": i.to_string()}},
                    "data": {"k": format!("value {i} in {}", cms.namespace().unwrap_or_default()), "n": i.to_string()}
                });
                cms.create(pp, &object(cm)).await.map(drop)
            })
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<()>()
            .await
            .unwrap();
        for i in (0..CONFIG_MAPS).step_by(5) {
            let change = Patch::Merge(json!({"data": {"updated": "yes"}}));
            let name = format!("cm-{i:03}");
            cms.patch(&name, &PatchParams::default(), &change)
                .await
                .unwrap();
        }
        let last = format!("cm-{:03}", CONFIG_MAPS - 1);
        cms.delete(&last, &DeleteParams::default()).await.unwrap();
    }
}

/// Every object of [`LISTS`] as the server returns it, without its
/// resourceVersion, by list path, namespace and name.
async fn objects(s: &TestServer) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for path in LISTS {
        let r = s
            .http()
            .send("GET", path, Some(&s.admin_token()), &[], vec![])
            .await;
        assert_eq!(
            r.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        for mut item in r.json()["items"].as_array().cloned().unwrap_or_default() {
            let meta = item["metadata"].as_object_mut().unwrap();
            assert!(meta.remove("resourceVersion").is_some(), "{item}");
            let field = |f: &str| meta.get(f).and_then(Value::as_str).unwrap_or_default();
            let id = format!("{path} {}/{}", field("namespace"), field("name"));
            // The `kubernetes` endpoints follow the live API servers: the
            // server leaves them when it stops and joins again on etcd.
            if id.ends_with("endpointslices default/kubernetes") {
                continue;
            }
            out.insert(id, item);
        }
    }
    out
}

/// The ClusterIPs of the Services among `objects`.
fn cluster_ips(objects: &BTreeMap<String, Value>) -> BTreeSet<String> {
    objects
        .iter()
        .filter(|(id, _)| id.starts_with("/api/v1/services "))
        .filter_map(|(_, svc)| svc.pointer("/spec/clusterIP")?.as_str())
        .filter(|ip| !ip.is_empty() && *ip != "None")
        .map(str::to_string)
        .collect()
}

/// How many objects of a list path there are.
fn count(objects: &BTreeMap<String, Value>, path: &str) -> usize {
    let prefix = format!("{path} ");
    objects.keys().filter(|id| id.starts_with(&prefix)).count()
}

/// Runs `orch server migrate ARGS`.
async fn migrate(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(support::orch())
            .args(["server", "migrate"])
            .args(args)
            .env("RUST_LOG", "error")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The rows of migrate's table: resource → (embedded, etcd).
fn table(stdout: &str) -> BTreeMap<String, (usize, usize)> {
    stdout
        .lines()
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [resource, a, b] => Some((resource.to_string(), (a.parse().ok()?, b.parse().ok()?))),
            _ => None,
        })
        .collect()
}

async fn etcd_client(url: &str) -> EtcdStore {
    EtcdStore::connect(EtcdOptions {
        endpoints: vec![url.to_string()],
        compaction_interval: None,
        ..Default::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_moves_from_the_embedded_store_to_etcd() {
    let etcd = tokio::task::spawn_blocking(|| Etcd::start(&binary()))
        .await
        .unwrap()
        .expect("starting etcd");
    let url = etcd.client_url();
    let direct = etcd_client(&url).await;
    let mut s = TestServer::start_with(&QUIET);
    let dir = s.data_dir().display().to_string();
    let client = s.client().await;
    fill(&client).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "mig-0");
    let old_rv = cms.get("cm-000").await.unwrap().metadata.resource_version;
    let list = cms.list(&Default::default()).await.unwrap();
    let embedded_rev: u64 = list.metadata.resource_version.unwrap().parse().unwrap();
    let before = objects(&s).await;
    assert!(count(&before, "/api/v1/configmaps") >= NAMESPACES * (CONFIG_MAPS - 1));
    assert!(count(&before, "/api/v1/services") > NAMESPACES * SERVICES);
    let ips = cluster_ips(&before);
    assert!(ips.len() > NAMESPACES * SERVICES, "{ips:?}");
    let flags = ["--data-dir", dir.as_str(), "--etcd-endpoints", url.as_str()];

    // While the server runs, migrate refuses and writes nothing.
    let out = migrate(&flags).await;
    let (_, err) = text(&out);
    assert!(!out.status.success(), "migrated under a running server");
    assert!(err.contains("stop the orch server"), "{err}");
    assert!(err.contains(&dir), "{err}");
    let (keys, _) = list_all(&direct, "/registry/").await.unwrap();
    assert!(keys.is_empty(), "{} keys written", keys.len());

    s.stop();
    let out = migrate(&flags).await;
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{stdout}\n{err}");
    eprintln!("orch server migrate:\n{stdout}");
    // The store's last revision: the stopping server wrote after `list`
    // (it took itself out of the `kubernetes` endpoints).
    let final_rev: u64 = stdout
        .split("embedded store at revision ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no revision in: {stdout}"));
    assert!(final_rev >= embedded_rev, "{final_rev} < {embedded_rev}");
    let rows = table(&stdout);
    for (resource, (embedded, in_etcd)) in &rows {
        assert_eq!(embedded, in_etcd, "{resource}:\n{stdout}");
    }
    for (resource, path) in [
        ("namespaces", "/api/v1/namespaces"),
        ("services", "/api/v1/services"),
        ("configmaps", "/api/v1/configmaps"),
        ("deployments", "/apis/apps/v1/deployments"),
    ] {
        assert_eq!(rows[resource].1, count(&before, path), "{resource}");
    }
    assert_eq!(rows["ipaddresses"].1, ips.len(), "{stdout}");
    let next = format!("orch server --store etcd --etcd-endpoints {url} --data-dir {dir}");
    assert!(stdout.contains(&next), "{stdout}");
    let (in_etcd, revision) = list_all(&direct, "/registry/").await.unwrap();
    assert_eq!(in_etcd.len(), rows["total"].1);
    assert!(
        in_etcd.len() < embedded_rev as usize,
        "updates and deletes happened"
    );
    // etcd's revision was moved past every resourceVersion of the embedded
    // store, and history before it is compacted.
    assert!(revision > embedded_rev, "{revision} <= {embedded_rev}");
    let old = ListOptions {
        prefix: "/registry/configmaps/".into(),
        revision: Some(embedded_rev),
        ..Default::default()
    };
    let e = direct.list(&old).await.unwrap_err();
    assert!(matches!(e, StoreError::Compacted { .. }), "{e:?}");
    // The reservations are there before any server on etcd could make them.
    for ip in &ips {
        let key = format!("/registry/ipaddresses/{ip}");
        assert!(direct.get(&key).await.unwrap().is_some(), "{key}");
    }

    // A second run finds etcd full and leaves it alone.
    let out = migrate(&flags).await;
    let (_, err) = text(&out);
    assert!(!out.status.success());
    let full = format!("etcd already holds {} keys under /registry/", in_etcd.len());
    assert!(
        err.contains(&full) && err.contains("only fills an empty etcd"),
        "{err}"
    );
    assert_eq!(direct.current_revision().await.unwrap(), revision);

    let mut on_etcd = vec!["--store", "etcd", "--etcd-endpoints", url.as_str()];
    on_etcd.extend(QUIET);
    s.restart_with(&on_etcd);
    let after = objects(&s).await;
    let differing: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|id| before.get(*id) != after.get(*id))
        .collect();
    assert!(differing.is_empty(), "differ: {differing:?}");
    assert_eq!(before.len(), after.len());

    // resourceVersions are etcd's now, and updates with them work.
    let client = s.client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "mig-0");
    let mut cm = cms.get("cm-000").await.unwrap();
    let kv = direct
        .get("/registry/configmaps/mig-0/cm-000")
        .await
        .unwrap();
    let rv = cm.metadata.resource_version.clone().unwrap();
    assert_eq!(rv, kv.unwrap().mod_revision.to_string());
    cm.data
        .get_or_insert_default()
        .insert("k".into(), "changed".into());
    let updated = cms.replace("cm-000", &PostParams::default(), &cm).await;
    let updated = updated.expect("an update with etcd's resourceVersion");
    let new_rv: u64 = updated.metadata.resource_version.unwrap().parse().unwrap();
    assert!(new_rv > rv.parse().unwrap());
    eprintln!("cm-000: resourceVersion {old_rv:?} on the embedded store, {rv} on etcd");
    if old_rv.as_ref() != Some(&rv) && old_rv.as_deref() != Some(&new_rv.to_string()) {
        cm.metadata.resource_version = old_rv.clone();
        let stale = cms.replace("cm-000", &PostParams::default(), &cm).await;
        assert!(matches!(stale, Err(kube::Error::Api(e)) if e.code == 409));
    }

    // A watch from the embedded store's last resourceVersion misses
    // nothing written since; one from an older resourceVersion is told to
    // list again.
    let watch = |rv: &str| {
        let path = format!(
            "/api/v1/namespaces/mig-0/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=1"
        );
        let (s, token) = (&s, s.admin_token());
        async move {
            let r = s.http().send("GET", &path, Some(&token), &[], vec![]).await;
            (r.status, String::from_utf8_lossy(&r.body).into_owned())
        }
    };
    let (status, body) = watch(&final_rev.to_string()).await;
    let event: Value = serde_json::from_str(body.lines().next().unwrap_or("{}")).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(event["type"], "MODIFIED", "{body}");
    assert_eq!(
        event["object"]["metadata"]["resourceVersion"],
        new_rv.to_string()
    );
    let older = old_rv.unwrap();
    assert!(older.parse::<u64>().unwrap() < embedded_rev);
    let (status, body) = watch(&older).await;
    let gone = status == 410 || (status == 200 && body.contains("\"code\":410"));
    assert!(gone, "{status} {body}");

    // A new Service gets a free ClusterIP; a taken one is refused.
    let svcs: Api<Service> = Api::namespaced(client, "mig-0");
    let fresh = json!({"metadata": {"name": "fresh"}, "spec": {"ports": [{"port": 80}]}});
    let fresh = svcs.create(&PostParams::default(), &object(fresh)).await;
    let ip = fresh.unwrap().spec.unwrap().cluster_ip.unwrap();
    assert!(!ips.contains(&ip), "{ip} was taken");
    let taken = ips.iter().next().unwrap();
    let clash = json!({"metadata": {"name": "clash"}, "spec": {"clusterIP": taken, "ports": [{"port": 80}]}});
    let clash = svcs.create(&PostParams::default(), &object(clash)).await;
    assert!(matches!(clash, Err(kube::Error::Api(e)) if e.code == 422 || e.code == 409));
    drop(s);
    drop(etcd);
}

#[test]
fn bad_flags_and_a_missing_store_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let cases: &[(&[&str], &str)] = &[
        (&["--data-dir", &d], "--etcd-endpoints is required"),
        (
            &["--data-dir", &d, "--etcd-endpoints", "127.0.0.1:2379"],
            "--etcd-endpoints",
        ),
        (
            &[
                "--data-dir",
                &d,
                "--etcd-endpoints",
                "https://127.0.0.1:2379",
            ],
            "--etcd-cafile is required",
        ),
        (
            &["--data-dir", &d, "--etcd-endpoints", "http://127.0.0.1:1"],
            "no embedded store in",
        ),
    ];
    for (args, want) in cases {
        let out = Command::new(support::orch())
            .args(["server", "migrate"])
            .args(*args)
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        let (_, err) = text(&out);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert!(
        !Path::new(&d).join("store.redb").exists(),
        "migrate created a store"
    );
}
