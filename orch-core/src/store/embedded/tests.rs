//! The conformance suite and embedded-only checks (group commit, history
//! persistence, corrupt files, lagging watchers) against [`EmbeddedStore`].
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::tables::{KV, META, META_COMPACTED};
use super::{EmbeddedOptions, EmbeddedStore};
use crate::store::{conformance, ListOptions, Store, StoreError};

fn open(path: &Path, opts: EmbeddedOptions) -> EmbeddedStore {
    EmbeddedStore::open(path, opts).expect("open store")
}

fn open_dyn(path: &Path, opts: EmbeddedOptions) -> Arc<dyn Store> {
    Arc::new(open(path, opts))
}

/// Options that prune everything but the last `kept` events.
fn short_history(kept: usize) -> EmbeddedOptions {
    EmbeddedOptions {
        history: Duration::ZERO,
        min_history_events: kept,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    conformance::run_all(|| {
        let path = dir
            .path()
            .join(format!("{}.redb", n.fetch_add(1, Ordering::Relaxed)));
        async move { open_dyn(&path, EmbeddedOptions::default()) }
    })
    .await;
}

#[tokio::test]
async fn conformance_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_dyn(&dir.path().join("s.redb"), short_history(8));
    conformance::compacted(store, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    conformance::restart(|| {
        let path = path.clone();
        async move { open_dyn(&path, EmbeddedOptions::default()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_dyn(&dir.path().join("s.redb"), EmbeddedOptions::default());
    let snaps = tempfile::tempdir().unwrap();
    conformance::snapshot(store, snaps.path(), |path: PathBuf| async move {
        open_dyn(&path, EmbeddedOptions::default())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_shares_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir.path().join("s.redb"), EmbeddedOptions::default()));
    let writers = 64;
    let rounds = 10;
    let barrier = Arc::new(tokio::sync::Barrier::new(writers));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let key = format!("/group/{w}");
            let mut kv = store.create(&key, vec![0; 64]).await.unwrap();
            for i in 1..rounds {
                kv = store
                    .update(&key, vec![i; 64], kv.mod_revision)
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let writes = store.metrics().writes();
    let batches = store.metrics().batches();
    assert_eq!(writes, (writers * rounds as usize) as u64);
    assert_eq!(store.current_revision().await.unwrap(), writes);
    assert!(
        batches * 4 <= writes,
        "{writes} writes took {batches} commits: no group commit"
    );

    let mut registry = prometheus_client::registry::Registry::default();
    store.register_metrics(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(text.contains("orch_store_commit_duration_seconds_count"));
    assert!(text.contains(&format!("orch_store_writes_total {writes}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_sees_earlier_requests() {
    // Many creates of the same key at once: exactly one wins, whether or
    // not they land in the same batch.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir.path().join("s.redb"), EmbeddedOptions::default()));
    let tasks: Vec<_> = (0..32u8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.create("/same", vec![i]).await })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(StoreError::AlreadyExists(_)) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(store.current_revision().await.unwrap(), 1);
}

#[tokio::test]
async fn history_is_pruned_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let store = open(&path, short_history(5));
    for i in 0..20 {
        store.create(&format!("/k/{i}"), vec![]).await.unwrap();
    }
    assert_eq!(store.history_len(), 5);
    assert_eq!(store.compacted_revision(), 15);
    drop(store);

    let store = open(&path, short_history(5));
    assert_eq!(store.history_len(), 5);
    assert_eq!(store.compacted_revision(), 15);
    assert!(matches!(
        store.watch("/k/", 14).await,
        Err(StoreError::Compacted { oldest: 15, .. })
    ));
    let mut watch = store.watch("/k/", 15).await.unwrap();
    let events = conformance::next_events(&mut watch, 5).await;
    assert_eq!(
        events.iter().map(|e| e.revision()).collect::<Vec<_>>(),
        [16, 17, 18, 19, 20]
    );

    // The default window keeps everything this young.
    drop(watch);
    drop(store);
    let store = open(&path, EmbeddedOptions::default());
    store.create("/k/more", vec![]).await.unwrap();
    assert_eq!(store.history_len(), 6);
}

#[tokio::test]
async fn fresh_store_watch_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("s.redb"), EmbeddedOptions::default());
    let mut watch = store.watch("", 0).await.unwrap();
    let page = store
        .list(&ListOptions {
            revision: Some(0),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(page.items.is_empty() && page.revision == 0);
    let kv = store.create("/a", b"x".to_vec()).await.unwrap();
    assert_eq!(conformance::next_events(&mut watch, 1).await[0].kv, kv);
    // A watch from a revision not yet written starts when it is.
    let mut ahead = store.watch("", 3).await.unwrap();
    store.create("/b", vec![]).await.unwrap();
    store.create("/c", vec![]).await.unwrap();
    let d = store.create("/d", vec![]).await.unwrap();
    assert_eq!(conformance::next_events(&mut ahead, 1).await[0].kv, d);
}

#[tokio::test]
async fn lagging_watcher_gets_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let opts = EmbeddedOptions {
        watch_buffer: 4,
        ..Default::default()
    };
    let store = open(&dir.path().join("s.redb"), opts);
    let mut watch = store.watch("", 0).await.unwrap();
    for i in 0..10 {
        store.create(&format!("/k/{i}"), vec![]).await.unwrap();
    }
    match tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .unwrap()
    {
        Some(Err(StoreError::Compacted { .. })) => {}
        other => panic!("expected Compacted, got {other:?}"),
    }
    assert!(
        watch.next().await.is_none(),
        "the stream ends after Compacted"
    );
}

#[tokio::test]
async fn watch_ends_when_store_closes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("s.redb"), EmbeddedOptions::default());
    let mut watch = store.watch("", 0).await.unwrap();
    drop(store);
    assert!(tokio::time::timeout(Duration::from_secs(5), watch.next())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn snapshot_refuses_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("s.redb"), EmbeddedOptions::default());
    store.create("/a", vec![]).await.unwrap();
    let target = dir.path().join("exists");
    std::fs::write(&target, b"keep me").unwrap();
    assert!(matches!(
        store.snapshot(&target).await,
        Err(StoreError::Backend(_))
    ));
    assert_eq!(std::fs::read(&target).unwrap(), b"keep me");
}

#[tokio::test]
async fn corrupt_records_are_backend_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    drop(open(&path, EmbeddedOptions::default()));
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(KV)
            .unwrap()
            .insert("/bad", [1u8, 2, 3].as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    match EmbeddedStore::open(&path, EmbeddedOptions::default()) {
        Err(StoreError::Backend(message)) => assert!(message.contains("/bad"), "{message}"),
        other => panic!("expected a backend error, got {other:?}"),
    }

    let path = dir.path().join("t.redb");
    drop(open(&path, EmbeddedOptions::default()));
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(META_COMPACTED, 7u64)
            .unwrap();
        txn.commit().unwrap();
    }
    assert!(matches!(
        EmbeddedStore::open(&path, EmbeddedOptions::default()),
        Err(StoreError::Backend(_))
    ));

    let junk = dir.path().join("junk.redb");
    std::fs::write(&junk, vec![0xAB; 8192]).unwrap();
    assert!(matches!(
        EmbeddedStore::open(&junk, EmbeddedOptions::default()),
        Err(StoreError::Backend(_))
    ));
}

#[tokio::test]
async fn open_dir_and_second_open_fails() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = EmbeddedStore::open_dir(&data, EmbeddedOptions::default()).unwrap();
    assert_eq!(store.path(), data.join(super::FILE_NAME));
    assert!(matches!(
        EmbeddedStore::open_dir(&data, EmbeddedOptions::default()),
        Err(StoreError::InUse(_))
    ));
}

/// The files as a `kill -9` leaves them (everything written, nothing
/// synced or closed): acknowledged writes come back through the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_after_the_last_checkpoint_are_replayed_from_the_log() {
    let live = tempfile::tempdir().unwrap();
    let crashed = tempfile::tempdir().unwrap();
    let opts = EmbeddedOptions {
        wal_capacity: 1 << 20,
        ..Default::default()
    };
    let store = EmbeddedStore::open_dir(live.path(), opts.clone()).unwrap();
    assert_eq!(store.replayed_on_open(), 0);
    let mut written = Vec::new();
    for i in 0..200 {
        written.push(
            store
                .create(&format!("/k/{i:03}"), vec![i as u8; 300])
                .await
                .unwrap(),
        );
    }
    let last = store
        .update("/k/000", b"new".to_vec(), written[0].mod_revision)
        .await
        .unwrap();
    store.delete("/k/001", None).await.unwrap();
    for name in ["store.redb", "store.wal"] {
        std::fs::copy(live.path().join(name), crashed.path().join(name)).unwrap();
    }
    let reopened = EmbeddedStore::open_dir(crashed.path(), opts).unwrap();
    assert!(reopened.replayed_on_open() > 0, "nothing came from the log");
    assert_eq!(reopened.current_revision().await.unwrap(), 202);
    assert_eq!(reopened.get("/k/000").await.unwrap(), Some(last));
    assert_eq!(reopened.get("/k/001").await.unwrap(), None);
    assert_eq!(
        reopened.get("/k/199").await.unwrap().as_ref(),
        written.last()
    );
    // The history came back too: a watch from 0 sees all 202 changes.
    let events: Vec<_> = reopened
        .watch("/k/", 0)
        .await
        .unwrap()
        .take(202)
        .collect()
        .await;
    assert_eq!(events.len(), 202);
    assert!(events.iter().all(|e| e.is_ok()));
    drop(store);
}

#[test]
fn a_log_that_skips_a_revision_is_refused() {
    use super::recover;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    // A store whose log holds revisions 1 and 3 but not 2.
    {
        let db = redb::Database::create(&path).unwrap();
        super::tables::init(&db).unwrap();
        let (mut log, _) = recover::recover(&db, &path.with_extension("wal"), 1 << 16).unwrap();
        let (_, epoch) = super::tables::durable_point(&db).unwrap();
        log.reset(epoch);
        let event = |rev| {
            super::tables::encode_event(&super::state::Event {
                kind: crate::store::EventKind::Put,
                key: std::sync::Arc::from("/k"),
                kv: super::state::Entry {
                    value: bytes::Bytes::from_static(b"v"),
                    create_revision: 1,
                    mod_revision: rev,
                },
                prev: None,
                unix_ms: 0,
            })
            .unwrap()
        };
        log.append(&[event(1)]).unwrap();
        log.append(&[event(3)]).unwrap();
    }
    let opts = EmbeddedOptions {
        wal_capacity: 1 << 16,
        ..Default::default()
    };
    let err = EmbeddedStore::open(&path, opts).unwrap_err();
    assert!(err.to_string().contains("expected revision 2"), "{err}");
}
