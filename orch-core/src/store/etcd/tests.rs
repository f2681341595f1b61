//! The conformance suite and etcd-only checks (coordinated compaction,
//! lost connections, bad TLS settings) against [`EtcdStore`] on real etcd
//! processes on loopback, each started by the test in a temporary
//! directory and killed when it ends.
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orch_testkit::etcd::{binary, Etcd};

use super::{compact, EtcdOptions, EtcdStore, EtcdTls};
use crate::store::{conformance, KeyValue, ListOptions, ListPage, Revision, Store, StoreError};

/// Starts etcd on a blocking thread (it waits for `/health`).
async fn start_etcd() -> Etcd {
    tokio::task::spawn_blocking(|| Etcd::start(&binary()))
        .await
        .unwrap()
        .expect("starting etcd")
}

fn options(etcd: &Etcd) -> EtcdOptions {
    EtcdOptions {
        endpoints: vec![etcd.client_url()],
        request_timeout: Duration::from_secs(5),
        compaction_interval: None,
        ..Default::default()
    }
}

async fn connect(etcd: &Etcd) -> EtcdStore {
    EtcdStore::connect(options(etcd)).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    let etcd = start_etcd().await;
    // One etcd for every check: they write under prefixes of their own.
    conformance::run_all(|| async {
        let store: Arc<dyn Store> = Arc::new(connect(&etcd).await);
        store
    })
    .await;
}

/// The embedded store prunes its history after each write; etcd's history
/// is compacted by time. To meet the check's "keeps no more than `kept`
/// events", this wrapper compacts etcd right after each write; reads and
/// watches go to [`EtcdStore`] unchanged.
struct CompactEveryWrite {
    inner: EtcdStore,
    kept: u64,
}

impl CompactEveryWrite {
    async fn wrote(&self, kv: KeyValue) -> Result<KeyValue, StoreError> {
        if kv.mod_revision > self.kept {
            self.inner.compact(kv.mod_revision - self.kept).await?;
        }
        Ok(kv)
    }
}

#[async_trait::async_trait]
impl Store for CompactEveryWrite {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        self.inner.get(key).await
    }
    async fn list(&self, opts: &ListOptions) -> Result<ListPage, StoreError> {
        self.inner.list(opts).await
    }
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue, StoreError> {
        let kv = self.inner.create(key, value).await?;
        self.wrote(kv).await
    }
    async fn update(&self, key: &str, value: Vec<u8>, e: Revision) -> Result<KeyValue, StoreError> {
        let kv = self.inner.update(key, value, e).await?;
        self.wrote(kv).await
    }
    async fn delete(&self, key: &str, e: Option<Revision>) -> Result<KeyValue, StoreError> {
        let kv = self.inner.delete(key, e).await?;
        self.wrote(kv).await
    }
    async fn watch(
        &self,
        prefix: &str,
        after: Revision,
    ) -> Result<crate::store::WatchStream, StoreError> {
        self.inner.watch(prefix, after).await
    }
    async fn current_revision(&self) -> Result<Revision, StoreError> {
        self.inner.current_revision().await
    }
    async fn snapshot(&self, path: &std::path::Path) -> Result<Revision, StoreError> {
        self.inner.snapshot(path).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_compacted() {
    let etcd = start_etcd().await;
    let store = Arc::new(CompactEveryWrite {
        inner: connect(&etcd).await,
        kept: 8,
    });
    conformance::compacted(store, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_restart() {
    // Each open after the first restarts etcd itself (kill -9) on the same
    // data directory before connecting again.
    let etcd = Mutex::new(start_etcd().await);
    let opens = Mutex::new(0);
    conformance::restart(|| {
        let first = {
            let mut n = opens.lock().unwrap();
            *n += 1;
            *n == 1
        };
        let opts = {
            let mut etcd = etcd.lock().unwrap();
            if !first {
                etcd.restart().expect("restarting etcd");
            }
            options(&etcd)
        };
        async move {
            let store: Arc<dyn Store> = Arc::new(EtcdStore::connect(opts).await.unwrap());
            store
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_snapshot() {
    let etcd = start_etcd().await;
    let store: Arc<dyn Store> = Arc::new(connect(&etcd).await);
    let snaps = tempfile::tempdir().unwrap();
    // Copies are restored into etcds of their own, kept until the end.
    let copies: Arc<Mutex<Vec<Etcd>>> = Arc::default();
    let keep = copies.clone();
    conformance::snapshot(store, snaps.path(), move |path: PathBuf| {
        let keep = keep.clone();
        async move {
            let copy =
                tokio::task::spawn_blocking(move || Etcd::start_from_snapshot(&binary(), &path))
                    .await
                    .unwrap()
                    .expect("restoring the snapshot");
            let store: Arc<dyn Store> = Arc::new(connect(&copy).await);
            keep.lock().unwrap().push(copy);
            store
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_is_taken_in_turns() {
    // Two API servers over one etcd: in each interval one of them
    // compacts, to a revision noted one interval earlier.
    let etcd = start_etcd().await;
    let a = connect(&etcd).await;
    let b = connect(&etcd).await;
    let limit = Duration::from_secs(5);
    let kv = || a.client.kv_client();
    let (mut ta, mut tb) = (compact::Tick::default(), compact::Tick::default());

    let w1 = a.create("/turns/k1", vec![1]).await.unwrap();
    // Tick 1: a notes the revision, b learns a's version; nobody compacts.
    let (next, done) = compact::once(kv(), ta, limit).await.unwrap();
    assert_eq!(done, None);
    ta = next;
    let (next, done) = compact::once(b.client.kv_client(), tb, limit)
        .await
        .unwrap();
    assert_eq!(done, None, "b lost the race and only learns the version");
    tb = next;
    assert_eq!(tb.version, ta.version);
    let noted = ta.revision;
    assert!(noted > 0 && noted as u64 >= w1.mod_revision);

    let w2 = a
        .update("/turns/k1", vec![2], w1.mod_revision)
        .await
        .unwrap();
    // Tick 2: b wins this time (its version is current) and compacts to
    // what it noted; a's txn is refused.
    let (next, done) = compact::once(b.client.kv_client(), tb, limit)
        .await
        .unwrap();
    assert_eq!(done, Some(tb.revision));
    let compacted = tb.revision as u64;
    tb = next;
    let (next, done) = compact::once(kv(), ta, limit).await.unwrap();
    assert_eq!(done, None);
    ta = next;
    assert_eq!(ta.version, tb.version);

    // History before the compaction is gone, after it is there.
    let before = ListOptions {
        prefix: "/turns/".into(),
        revision: Some(compacted - 1),
        ..Default::default()
    };
    match a.list(&before).await {
        Err(StoreError::Compacted { requested, oldest }) => {
            assert_eq!((requested, oldest), (compacted - 1, compacted));
        }
        other => panic!("list before the compaction: {other:?}"),
    }
    assert!(matches!(
        b.watch("/turns/", compacted - 2).await,
        Err(StoreError::Compacted { .. })
    ));
    let page = a
        .list(&ListOptions {
            revision: Some(compacted),
            ..before.clone()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let now = a.get("/turns/k1").await.unwrap().unwrap();
    assert_eq!(now, w2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compactor_runs_on_its_own() {
    let etcd = start_etcd().await;
    let store = EtcdStore::connect(EtcdOptions {
        compaction_interval: Some(Duration::from_millis(300)),
        ..options(&etcd)
    })
    .await
    .unwrap();
    let first = store.create("/auto/k", vec![]).await.unwrap();
    // The first tick notes a revision, the second compacts to it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let old = ListOptions {
            prefix: "/auto/".into(),
            revision: Some(first.mod_revision - 1),
            ..Default::default()
        };
        match store.list(&old).await {
            Err(StoreError::Compacted { .. }) => break,
            Ok(_) => assert!(tokio::time::Instant::now() < deadline, "never compacted"),
            Err(e) => panic!("{e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_etcd_is_an_error_not_a_hang() {
    let mut etcd = start_etcd().await;
    let store = EtcdStore::connect(EtcdOptions {
        request_timeout: Duration::from_secs(2),
        ..options(&etcd)
    })
    .await
    .unwrap();
    store.create("/lost/k", vec![]).await.unwrap();
    let mut watch = store.watch("/lost/", 0).await.unwrap();
    etcd.kill();
    let started = std::time::Instant::now();
    for result in [
        store.create("/lost/k2", vec![]).await.map(|_| ()),
        store.get("/lost/k").await.map(|_| ()),
        store.current_revision().await.map(|_| ()),
    ] {
        assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    // The open watch ends with an error too (its one event first).
    use futures::StreamExt;
    let mut ended = false;
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    while let Ok(Some(item)) = tokio::time::timeout_at(until, watch.next()).await {
        if item.is_err() {
            ended = true;
            break;
        }
    }
    assert!(ended, "the watch did not report the lost connection");

    // Nothing answers: connecting fails within the timeout, naming etcd.
    let e = EtcdStore::connect(EtcdOptions {
        request_timeout: Duration::from_secs(2),
        ..options(&etcd)
    })
    .await
    .unwrap_err();
    assert!(e.to_string().contains(&etcd.client_url()), "{e}");
}

#[tokio::test]
async fn tls_settings_are_checked() {
    let half = EtcdOptions {
        tls: Some(EtcdTls {
            cert_file: Some("/nonexistent/cert.pem".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let e = EtcdStore::connect(half).await.unwrap_err();
    assert!(e.to_string().contains("both"), "{e}");
    let missing = EtcdOptions {
        tls: Some(EtcdTls {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let e = EtcdStore::connect(missing).await.unwrap_err();
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
}
