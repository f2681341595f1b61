//! `orch server --store etcd` as real processes: an etcd on loopback and
//! the server on it. Objects created through the API survive a `kill -9`
//! of the server, a watch resumes from a resourceVersion taken before it,
//! a compacted resourceVersion answers 410 Gone, and bad store flags are
//! refused with the flag's name. Over TLS, the server reaches an etcd that
//! requires client certificates with its own, and is refused without one.
mod support;

use std::{process::Command, time::Duration};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use orch_core::store::{
    etcd::{EtcdOptions, EtcdStore, EtcdTls},
    Store,
};
use orch_testkit::etcd::{binary, Etcd, TlsFiles};
use serde_json::json;
use support::{added_names, TestServer};

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": name}})).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_and_watches_survive_a_server_restart_on_etcd() {
    let etcd = tokio::task::spawn_blocking(|| Etcd::start(&binary()))
        .await
        .unwrap()
        .expect("starting etcd");
    let url = etcd.client_url();
    let mut s = TestServer::start_with(&[
        "--store",
        "etcd",
        "--etcd-endpoints",
        &url,
        "--no-controllers",
        "--no-scheduler",
    ]);
    let cms: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    let first = cms
        .create(&PostParams::default(), &config_map("e0"))
        .await
        .unwrap();
    let rv0: u64 = first.metadata.resource_version.unwrap().parse().unwrap();
    for i in 1..10 {
        cms.create(&PostParams::default(), &config_map(&format!("e{i}")))
            .await
            .unwrap();
    }
    // The objects are in etcd under Kubernetes' keys, resourceVersion
    // being the etcd mod_revision.
    let direct = EtcdStore::connect(EtcdOptions {
        endpoints: vec![url.clone()],
        compaction_interval: None,
        ..Default::default()
    })
    .await
    .unwrap();
    let kv = direct
        .get("/registry/configmaps/default/e0")
        .await
        .unwrap()
        .expect("the object is in etcd");
    assert_eq!(kv.mod_revision, rv0);

    s.restart();
    let cms: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    let names: Vec<String> = cms
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|n| n.starts_with('e'))
        .collect();
    assert_eq!(names, (0..10).map(|i| format!("e{i}")).collect::<Vec<_>>());
    for i in 10..13 {
        cms.create(&PostParams::default(), &config_map(&format!("e{i}")))
            .await
            .unwrap();
    }
    let watch = |rv: u64| {
        format!(
            "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=1"
        )
    };
    let r = s
        .http()
        .send("GET", &watch(rv0), Some(&s.admin_token()), &[], vec![])
        .await;
    assert_eq!(r.status, 200);
    let want: Vec<String> = (1..13).map(|i| format!("e{i}")).collect();
    assert_eq!(added_names(&r.body), want, "no gap, no duplicate");

    // Once etcd's history is compacted past rv0, the same watch is 410.
    let now = direct.current_revision().await.unwrap();
    direct.compact(now).await.unwrap();
    let r = s
        .http()
        .send("GET", &watch(rv0), Some(&s.admin_token()), &[], vec![])
        .await;
    let gone = r.status == 410
        || (r.status == 200 && String::from_utf8_lossy(&r.body).contains("\"code\":410"));
    assert!(gone, "{} {}", r.status, String::from_utf8_lossy(&r.body));
    drop(s);
    drop(etcd);
}

#[test]
fn bad_store_flags_name_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--store", "etcd"], "--etcd-endpoints is required"),
        (
            &["--store", "etcd", "--etcd-endpoints", "127.0.0.1:2379"],
            "--etcd-endpoints",
        ),
        (
            &["--store", "etcd", "--etcd-endpoints", "http://127.0.0.1"],
            "--etcd-endpoints",
        ),
        (
            &["--etcd-endpoints", "http://127.0.0.1:2379"],
            "--etcd-endpoints needs --store etcd",
        ),
        (
            &[
                "--store",
                "etcd",
                "--etcd-endpoints",
                "https://127.0.0.1:2379",
            ],
            "--etcd-cafile",
        ),
        (
            &[
                "--store",
                "etcd",
                "--etcd-endpoints",
                "https://127.0.0.1:2379",
                "--etcd-cafile",
                "/nonexistent/ca.pem",
            ],
            "--etcd-cafile: /nonexistent/ca.pem",
        ),
        (&["--store", "zookeeper"], "--store"),
    ];
    for (args, want) in cases {
        let out = Command::new(support::orch())
            .args(["server", "--data-dir"])
            .arg(dir.path())
            .args(["--listen", "127.0.0.1:0"])
            .args(*args)
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_etcd_stops_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let port = orch_testkit::free_port().unwrap();
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(support::orch())
            .args(["server", "--data-dir"])
            .arg(dir.path())
            .args(["--listen", "127.0.0.1:0", "--store", "etcd"])
            .args(["--etcd-endpoints", &format!("http://127.0.0.1:{port}")])
            .env("RUST_LOG", "error")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// A CA, etcd's serving certificate for 127.0.0.1 and a client
/// certificate, written as PEM files into `dir`.
fn tls_files(dir: &std::path::Path) -> (TlsFiles, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let write = |name: &str, body: String| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(vec!["127.0.0.1".into(), "localhost".into()]);
    let (client_cert, client_key) = leaf(vec!["orch-apiserver".into()]);
    let files = TlsFiles {
        ca: write("ca.pem", ca_cert.pem()),
        cert: write("server.pem", server_cert),
        key: write("server-key.pem", server_key),
    };
    (
        files,
        write("client.pem", client_cert),
        write("client-key.pem", client_key),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_reaches_etcd_over_tls_with_a_client_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let (files, client_cert, client_key) = tls_files(certs.path());
    let ca = files.ca.display().to_string();
    let etcd = tokio::task::spawn_blocking(move || Etcd::start_tls(&binary(), files))
        .await
        .unwrap()
        .expect("starting etcd with client TLS");
    let url = etcd.client_url();
    assert!(url.starts_with("https://"), "{url}");
    let (cert, key) = (
        client_cert.display().to_string(),
        client_key.display().to_string(),
    );

    // Without a client certificate etcd refuses the server, which exits
    // naming the endpoint instead of hanging.
    let out = Command::new(support::orch())
        .args(["server", "--data-dir"])
        .arg(certs.path().join("refused"))
        .args(["--listen", "127.0.0.1:0", "--store", "etcd"])
        .args(["--etcd-endpoints", &url, "--etcd-cafile", &ca])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "started without a client certificate"
    );
    assert!(err.contains(&url), "{err}");

    let s = TestServer::start_with(&[
        "--store",
        "etcd",
        "--etcd-endpoints",
        &url,
        "--etcd-cafile",
        &ca,
        "--etcd-certfile",
        &cert,
        "--etcd-keyfile",
        &key,
        "--no-controllers",
        "--no-scheduler",
        "--no-cluster-dns",
    ]);
    let cms: Api<ConfigMap> = Api::namespaced(s.client().await, "default");
    let created = cms
        .create(&PostParams::default(), &config_map("over-tls"))
        .await
        .unwrap();
    let direct = EtcdStore::connect(EtcdOptions {
        endpoints: vec![url.clone()],
        tls: Some(EtcdTls {
            ca_file: Some(ca.into()),
            cert_file: Some(cert.into()),
            key_file: Some(key.into()),
        }),
        compaction_interval: None,
        ..Default::default()
    })
    .await
    .expect("a TLS client of the test's own");
    let kv = direct
        .get("/registry/configmaps/default/over-tls")
        .await
        .unwrap()
        .expect("the object is in etcd");
    assert_eq!(
        created.metadata.resource_version,
        Some(kv.mod_revision.to_string())
    );
}
