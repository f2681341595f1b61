//! A conformance suite for [`Store`] backends.
//!
//! Every check is an async function that panics on failure, so any backend
//! (the embedded one today, etcd later) runs the same suite from its own
//! tests. Checks write under a prefix of their own and do not assume an
//! empty store, except where a doc says what the store must be opened with.
//! [`run_all`] runs every check that only needs a fresh store.
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;

use super::{
    EventKind, KeyValue, ListOptions, Revision, Store, StoreError, WatchEvent, WatchStream,
};

/// How long a check waits for watch events before failing.
const WAIT: Duration = Duration::from_secs(20);

/// Runs every check that needs only a store, each on a store from
/// `new_store`.
pub async fn run_all<F, Fut>(new_store: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    crud_cas(new_store().await).await;
    revision_monotonic(new_store().await).await;
    list_paging(new_store().await).await;
    list_snapshot_across_pages(new_store().await).await;
    future_revision(new_store().await).await;
    watch_replay_and_live(new_store().await).await;
    watch_prefix(new_store().await).await;
    watch_event_shapes(new_store().await).await;
}

/// A key prefix no other check or run uses.
pub fn unique_prefix(check: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("/conformance/{check}/{nanos}-{n}/")
}

/// Create, get, update and delete, with every compare-and-swap outcome.
pub async fn crud_cas(store: Arc<dyn Store>) {
    let p = unique_prefix("crud");
    let k = format!("{p}a");
    assert_eq!(store.get(&k).await.unwrap(), None);
    let before = store.current_revision().await.unwrap();

    let created = store.create(&k, b"v1".to_vec()).await.unwrap();
    assert_eq!(created.key, k);
    assert_eq!(created.value, b"v1");
    assert!(created.mod_revision > before);
    assert_eq!(created.create_revision, created.mod_revision);
    assert_eq!(store.get(&k).await.unwrap(), Some(created.clone()));

    match store.create(&k, b"again".to_vec()).await {
        Err(StoreError::AlreadyExists(key)) => assert_eq!(key, k),
        other => panic!("create of an existing key: {other:?}"),
    }

    let stale = created.mod_revision + 1000;
    match store.update(&k, b"v2".to_vec(), stale).await {
        Err(StoreError::Conflict {
            key,
            expected,
            actual,
        }) => {
            assert_eq!(
                (key.as_str(), expected, actual),
                (k.as_str(), stale, created.mod_revision)
            );
        }
        other => panic!("update with a stale revision: {other:?}"),
    }
    assert_eq!(store.get(&k).await.unwrap(), Some(created.clone()));

    let updated = store
        .update(&k, b"v2".to_vec(), created.mod_revision)
        .await
        .unwrap();
    assert_eq!(updated.value, b"v2");
    assert_eq!(updated.create_revision, created.create_revision);
    assert!(updated.mod_revision > created.mod_revision);
    assert_eq!(store.get(&k).await.unwrap(), Some(updated.clone()));

    let missing = format!("{p}missing");
    assert!(
        matches!(store.update(&missing, b"x".to_vec(), 1).await, Err(StoreError::NotFound(key)) if key == missing)
    );
    assert!(
        matches!(store.delete(&missing, None).await, Err(StoreError::NotFound(key)) if key == missing)
    );
    assert!(matches!(
        store.delete(&missing, Some(1)).await,
        Err(StoreError::NotFound(_))
    ));

    match store.delete(&k, Some(created.mod_revision)).await {
        Err(StoreError::Conflict {
            expected, actual, ..
        }) => {
            assert_eq!(
                (expected, actual),
                (created.mod_revision, updated.mod_revision)
            );
        }
        other => panic!("delete with a stale revision: {other:?}"),
    }
    assert_eq!(store.get(&k).await.unwrap(), Some(updated.clone()));

    let deleted = store.delete(&k, Some(updated.mod_revision)).await.unwrap();
    assert_eq!(deleted.key, k);
    assert_eq!(deleted.value, b"v2");
    assert_eq!(deleted.create_revision, created.create_revision);
    assert!(deleted.mod_revision > updated.mod_revision);
    assert_eq!(store.get(&k).await.unwrap(), None);
    assert_eq!(
        store.current_revision().await.unwrap(),
        deleted.mod_revision
    );

    let recreated = store.create(&k, b"v3".to_vec()).await.unwrap();
    assert!(recreated.create_revision > deleted.mod_revision);
    assert_eq!(recreated.create_revision, recreated.mod_revision);
    let gone = store.delete(&k, None).await.unwrap();
    assert_eq!(gone.value, b"v3");
    assert_eq!(store.get(&k).await.unwrap(), None);
}

/// Every write takes a new, higher revision; failed writes take none.
pub async fn revision_monotonic(store: Arc<dyn Store>) {
    let p = unique_prefix("monotonic");
    let mut last = store.current_revision().await.unwrap();
    let mut kvs = Vec::new();
    for i in 0..10 {
        let kv = store.create(&format!("{p}{i}"), vec![i]).await.unwrap();
        assert!(
            kv.mod_revision > last,
            "revision went from {last} to {}",
            kv.mod_revision
        );
        last = kv.mod_revision;
        assert_eq!(store.current_revision().await.unwrap(), last);
        kvs.push(kv);
    }
    for kv in &kvs {
        let next = store
            .update(&kv.key, b"u".to_vec(), kv.mod_revision)
            .await
            .unwrap();
        assert!(next.mod_revision > last);
        last = next.mod_revision;
    }
    // Failed writes leave the revision alone.
    assert!(store.create(&kvs[0].key, vec![]).await.is_err());
    assert!(store
        .update(&kvs[0].key, vec![], kvs[0].mod_revision)
        .await
        .is_err());
    assert!(store.delete(&format!("{p}none"), None).await.is_err());
    assert_eq!(store.current_revision().await.unwrap(), last);
}

/// Reads every page of `opts` (from its `start_after`) at one revision.
pub async fn list_all(store: &dyn Store, opts: &ListOptions) -> (Vec<KeyValue>, Revision) {
    let mut opts = opts.clone();
    let mut items = Vec::new();
    loop {
        let page = store.list(&opts).await.unwrap();
        if let Some(revision) = opts.revision {
            assert_eq!(
                page.revision, revision,
                "every page is read at the same revision"
            );
        }
        assert!(opts.limit == 0 || page.items.len() <= opts.limit);
        if page.more {
            assert!(!page.items.is_empty(), "a page with more must not be empty");
        }
        opts.revision = Some(page.revision);
        opts.start_after = page
            .items
            .last()
            .map(|kv| kv.key.clone())
            .or(opts.start_after);
        items.extend(page.items);
        if !page.more {
            return (items, opts.revision.unwrap_or_default());
        }
    }
}

/// Prefix filtering, key order, `limit`, `start_after` and `more`.
pub async fn list_paging(store: Arc<dyn Store>) {
    let p = unique_prefix("paging");
    let empty = ListOptions {
        prefix: p.clone(),
        ..Default::default()
    };
    let page = store.list(&empty).await.unwrap();
    assert!(page.items.is_empty() && !page.more);
    assert_eq!(page.revision, store.current_revision().await.unwrap());

    // Created out of order; a sibling prefix that shares the first bytes.
    for i in [3, 0, 4, 1, 2] {
        store.create(&format!("{p}k{i}"), vec![i]).await.unwrap();
    }
    store
        .create(&format!("{}x/k", p.trim_end_matches('/')), vec![])
        .await
        .unwrap();
    let keys = |items: &[KeyValue]| items.iter().map(|kv| kv.key.clone()).collect::<Vec<_>>();
    let want: Vec<String> = (0..5).map(|i| format!("{p}k{i}")).collect();

    let all = store.list(&empty).await.unwrap();
    assert_eq!(keys(&all.items), want);
    assert!(!all.more);

    let exact = store
        .list(&ListOptions {
            limit: 5,
            ..empty.clone()
        })
        .await
        .unwrap();
    assert_eq!(keys(&exact.items), want);
    assert!(
        !exact.more,
        "a page that ends exactly at the last key has no more"
    );

    let first = store
        .list(&ListOptions {
            limit: 2,
            ..empty.clone()
        })
        .await
        .unwrap();
    assert_eq!(keys(&first.items), want[..2]);
    assert!(first.more);

    let after = ListOptions {
        start_after: Some(want[1].clone()),
        limit: 2,
        ..empty.clone()
    };
    let second = store.list(&after).await.unwrap();
    assert_eq!(keys(&second.items), want[2..4]);
    assert!(second.more);

    let last = ListOptions {
        start_after: Some(want[3].clone()),
        limit: 2,
        ..empty.clone()
    };
    let third = store.list(&last).await.unwrap();
    assert_eq!(keys(&third.items), want[4..]);
    assert!(!third.more);

    for limit in [1, 2, 3, 4, 5, 6] {
        let (items, _) = list_all(
            &*store,
            &ListOptions {
                limit,
                ..empty.clone()
            },
        )
        .await;
        assert_eq!(keys(&items), want, "paging by {limit}");
    }

    // An empty prefix lists every key, these among them.
    let every = ListOptions {
        limit: 3,
        ..Default::default()
    };
    let every = keys(&list_all(&*store, &every).await.0);
    assert!(want.iter().all(|k| every.contains(k)), "{every:?}");

    // A start_after before the prefix reads from the start of the prefix.
    let before = ListOptions {
        start_after: Some("/".into()),
        ..empty.clone()
    };
    assert_eq!(keys(&store.list(&before).await.unwrap().items), want);
    // A start_after past the prefix reads nothing.
    let past = ListOptions {
        start_after: Some(format!("{p}zzz")),
        ..empty.clone()
    };
    assert!(store.list(&past).await.unwrap().items.is_empty());
}

/// Pages read at a fixed revision show that revision, whatever is written
/// between them: later deletes, updates and creates are invisible.
pub async fn list_snapshot_across_pages(store: Arc<dyn Store>) {
    let p = unique_prefix("snapshot-pages");
    let mut originals = Vec::new();
    for i in 0..10 {
        originals.push(
            store
                .create(&format!("{p}k{i:02}"), format!("v{i}").into_bytes())
                .await
                .unwrap(),
        );
    }
    let opts = ListOptions {
        prefix: p.clone(),
        limit: 3,
        ..Default::default()
    };
    let first = store.list(&opts).await.unwrap();
    let revision = first.revision;
    assert_eq!(revision, store.current_revision().await.unwrap());
    assert_eq!(first.items, originals[..3]);
    assert!(first.more);

    // Writes between pages, before and after the page boundary.
    store.delete(&originals[0].key, None).await.unwrap();
    store.delete(&originals[5].key, None).await.unwrap();
    store
        .update(
            &originals[6].key,
            b"changed".to_vec(),
            originals[6].mod_revision,
        )
        .await
        .unwrap();
    store
        .create(&format!("{p}k04a"), b"new".to_vec())
        .await
        .unwrap();
    store
        .create(&format!("{p}k99"), b"new".to_vec())
        .await
        .unwrap();
    let k8 = store.delete(&originals[8].key, None).await.unwrap();
    store
        .create(&originals[8].key, b"recreated".to_vec())
        .await
        .unwrap();
    assert!(k8.mod_revision > revision);

    let rest = ListOptions {
        start_after: first.items.last().map(|kv| kv.key.clone()),
        revision: Some(revision),
        ..opts.clone()
    };
    let (tail, _) = list_all(&*store, &rest).await;
    assert_eq!(
        tail,
        originals[3..],
        "later pages must show the old revision"
    );

    let (whole, _) = list_all(
        &*store,
        &ListOptions {
            limit: 0,
            revision: Some(revision),
            ..opts.clone()
        },
    )
    .await;
    assert_eq!(whole, originals);

    // An intermediate revision: just after the update of k06.
    let mid = store
        .list(&ListOptions {
            prefix: p.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let now: BTreeMap<_, _> = mid
        .items
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone()))
        .collect();
    assert!(!now.contains_key(&originals[0].key) && !now.contains_key(&originals[5].key));
    assert_eq!(now[&originals[6].key], b"changed");
    assert_eq!(now[&format!("{p}k04a")], b"new");
    assert_eq!(now[&originals[8].key], b"recreated");
    assert_eq!(now.len(), 10);
}

/// A revision newer than the current one answers FutureRevision.
pub async fn future_revision(store: Arc<dyn Store>) {
    let p = unique_prefix("future");
    store.create(&format!("{p}a"), vec![]).await.unwrap();
    let current = store.current_revision().await.unwrap();
    let opts = ListOptions {
        prefix: p,
        revision: Some(current + 10),
        ..Default::default()
    };
    match store.list(&opts).await {
        Err(StoreError::FutureRevision {
            requested,
            current: c,
        }) => {
            assert_eq!(requested, current + 10);
            assert!(c >= current);
        }
        other => panic!("list at a future revision: {other:?}"),
    }
}

/// Revisions older than the history answer Compacted, for list and watch.
///
/// The store must keep no more than `kept` events of history once more than
/// that many have been written (for the embedded store: a zero time window
/// and a minimum of `kept` events).
pub async fn compacted(store: Arc<dyn Store>, kept: usize) {
    let p = unique_prefix("compacted");
    let before = store.current_revision().await.unwrap();
    let k = format!("{p}k");
    let mut kv = store.create(&k, vec![0]).await.unwrap();
    for i in 0..kept * 2 + 5 {
        kv = store
            .update(&k, vec![i as u8], kv.mod_revision)
            .await
            .unwrap();
    }
    let old = ListOptions {
        prefix: p.clone(),
        revision: Some(before),
        ..Default::default()
    };
    match store.list(&old).await {
        Err(StoreError::Compacted { requested, oldest }) => {
            assert_eq!(requested, before);
            assert!(oldest > before && oldest <= kv.mod_revision);
        }
        other => panic!("list at a compacted revision: {other:?}"),
    }
    match store.watch(&p, before).await {
        Err(StoreError::Compacted { requested, .. }) => assert_eq!(requested, before),
        Err(other) => panic!("watch from a compacted revision: {other:?}"),
        Ok(_) => panic!("watch from a compacted revision succeeded"),
    }
    // The recent past and the present still work.
    let recent = kv.mod_revision - 1;
    let page = store
        .list(&ListOptions {
            revision: Some(recent),
            ..old.clone()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].mod_revision, recent);
    let mut watch = store.watch(&p, recent).await.unwrap();
    let events = next_events(&mut watch, 1).await;
    assert_eq!(events[0].kv, kv);
}

/// Reads `n` events from `stream`, failing after a timeout.
pub async fn next_events(stream: &mut WatchStream, n: usize) -> Vec<WatchEvent> {
    let mut events = Vec::with_capacity(n);
    while events.len() < n {
        match tokio::time::timeout(WAIT, stream.next()).await {
            Ok(Some(Ok(event))) => events.push(event),
            Ok(Some(Err(err))) => panic!("watch failed after {} events: {err}", events.len()),
            Ok(None) => panic!("watch ended after {} of {n} events", events.len()),
            Err(_) => panic!("timed out after {} of {n} watch events", events.len()),
        }
    }
    events
}

/// Asserts that nothing more arrives on `stream` for a short while.
pub async fn assert_quiet(stream: &mut WatchStream) {
    if let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(200), stream.next()).await {
        panic!("unexpected watch event {event:?}");
    }
}

/// A watch from a past revision replays the history, then goes live, with
/// no gap and no duplicate while writers run concurrently.
pub async fn watch_replay_and_live(store: Arc<dyn Store>) {
    let p = unique_prefix("watch");
    let start = store.current_revision().await.unwrap();
    let writers = 4;
    let per_writer = 50;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            let key = format!("{p}w{w}");
            let mut kv = store.create(&key, b"0".to_vec()).await.unwrap();
            done.push(kv.clone());
            for i in 1..per_writer {
                if i % 10 == 9 {
                    kv = store.delete(&key, Some(kv.mod_revision)).await.unwrap();
                    done.push(kv.clone());
                    kv = store
                        .create(&key, i.to_string().into_bytes())
                        .await
                        .unwrap();
                } else {
                    kv = store
                        .update(&key, i.to_string().into_bytes(), kv.mod_revision)
                        .await
                        .unwrap();
                }
                done.push(kv.clone());
            }
            done
        }));
    }
    // Join while some writes are done and others are not.
    while store.current_revision().await.unwrap() < start + 20 {
        tokio::task::yield_now().await;
    }
    let mut from_start = store.watch(&p, start).await.unwrap();
    let mid = store.current_revision().await.unwrap();
    let mut from_mid = store.watch(&p, mid).await.unwrap();

    let mut written: BTreeMap<Revision, KeyValue> = BTreeMap::new();
    for task in tasks {
        for kv in task.await.unwrap() {
            assert!(
                written.insert(kv.mod_revision, kv).is_none(),
                "two writes share a revision"
            );
        }
    }
    let events = next_events(&mut from_start, written.len()).await;
    check_against_writes(&events, &written);
    let after_mid: BTreeMap<_, _> = written
        .range(mid + 1..)
        .map(|(r, kv)| (*r, kv.clone()))
        .collect();
    let events = next_events(&mut from_mid, after_mid.len()).await;
    check_against_writes(&events, &after_mid);
    assert_quiet(&mut from_start).await;
    assert_quiet(&mut from_mid).await;

    // A watch from now sees only what follows.
    let now = store.current_revision().await.unwrap();
    let mut live = store.watch(&p, now).await.unwrap();
    let kv = store
        .create(&format!("{p}late"), b"x".to_vec())
        .await
        .unwrap();
    let events = next_events(&mut live, 1).await;
    assert_eq!(events[0].kv, kv);
}

/// `events` are exactly the writes in `written`, in revision order.
fn check_against_writes(events: &[WatchEvent], written: &BTreeMap<Revision, KeyValue>) {
    let revisions: Vec<_> = events.iter().map(WatchEvent::revision).collect();
    let want: Vec<_> = written.keys().copied().collect();
    assert_eq!(revisions, want, "watch revisions (gap, duplicate or order)");
    for event in events {
        let kv = &written[&event.revision()];
        assert_eq!(&event.kv, kv);
    }
}

/// A watch sees only keys under its prefix, in the replay and live.
pub async fn watch_prefix(store: Arc<dyn Store>) {
    let p = unique_prefix("watch-prefix");
    let a = format!("{p}a/");
    let start = store.current_revision().await.unwrap();
    store.create(&format!("{a}1"), vec![]).await.unwrap();
    store.create(&format!("{p}b/1"), vec![]).await.unwrap();
    store.create(&format!("{p}ab"), vec![]).await.unwrap();
    let mut watch = store.watch(&a, start).await.unwrap();
    store.create(&format!("{p}b/2"), vec![]).await.unwrap();
    store.create(&format!("{p}a"), vec![]).await.unwrap();
    store.create(&format!("{a}2"), vec![]).await.unwrap();
    let events = next_events(&mut watch, 2).await;
    let keys: Vec<_> = events.iter().map(|e| e.kv.key.clone()).collect();
    assert_eq!(keys, [format!("{a}1"), format!("{a}2")]);
    assert_quiet(&mut watch).await;
}

/// The shape of put and delete events, replayed and live.
pub async fn watch_event_shapes(store: Arc<dyn Store>) {
    let p = unique_prefix("shapes");
    let k = format!("{p}k");
    let start = store.current_revision().await.unwrap();
    let created = store.create(&k, b"one".to_vec()).await.unwrap();
    let updated = store
        .update(&k, b"two".to_vec(), created.mod_revision)
        .await
        .unwrap();
    let mut replayed = store.watch(&p, start).await.unwrap();
    let mut live = store.watch(&p, updated.mod_revision).await.unwrap();
    let deleted = store.delete(&k, None).await.unwrap();

    let want = [
        WatchEvent {
            kind: EventKind::Put,
            kv: created.clone(),
            prev: None,
        },
        WatchEvent {
            kind: EventKind::Put,
            kv: updated.clone(),
            prev: Some(created.clone()),
        },
        WatchEvent {
            kind: EventKind::Delete,
            kv: KeyValue {
                mod_revision: deleted.mod_revision,
                ..updated.clone()
            },
            prev: Some(updated.clone()),
        },
    ];
    assert_eq!(deleted, want[2].kv);
    assert_eq!(next_events(&mut replayed, 3).await, want);
    assert_eq!(next_events(&mut live, 1).await, want[2..]);
    assert_eq!(want[2].revision(), deleted.mod_revision);
}

/// State written before a restart is all there after it: keys, revision,
/// lists at older revisions and watches from older revisions.
///
/// `open` must open the same store each time; the check drops each store
/// before it opens the next. The store must keep at least 20 events of
/// history.
pub async fn restart<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    let p = unique_prefix("restart");
    let store = open().await;
    let start = store.current_revision().await.unwrap();
    let a = store
        .create(&format!("{p}a"), b"a1".to_vec())
        .await
        .unwrap();
    let b = store
        .create(&format!("{p}b"), b"b1".to_vec())
        .await
        .unwrap();
    let mid = b.mod_revision;
    let a2 = store
        .update(&a.key, b"a2".to_vec(), a.mod_revision)
        .await
        .unwrap();
    let b_gone = store.delete(&b.key, None).await.unwrap();
    let c = store
        .create(&format!("{p}c"), b"c1".to_vec())
        .await
        .unwrap();
    let last = c.mod_revision;
    let mut before: Vec<WatchEvent> = Vec::new();
    {
        let mut watch = store.watch(&p, start).await.unwrap();
        before.extend(next_events(&mut watch, 5).await);
    }
    drop(store);

    let store = open().await;
    assert_eq!(store.current_revision().await.unwrap(), last);
    assert_eq!(store.get(&a.key).await.unwrap(), Some(a2.clone()));
    assert_eq!(store.get(&b.key).await.unwrap(), None);
    assert_eq!(store.get(&c.key).await.unwrap(), Some(c.clone()));
    let now = store
        .list(&ListOptions {
            prefix: p.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(now.items, [a2.clone(), c.clone()]);
    let then = ListOptions {
        prefix: p.clone(),
        revision: Some(mid),
        ..Default::default()
    };
    assert_eq!(
        store.list(&then).await.unwrap().items,
        [a.clone(), b.clone()]
    );

    // Resume a watch from before the restart: same events, none missing,
    // none repeated, then live ones.
    let mut watch = store.watch(&p, start).await.unwrap();
    assert_eq!(next_events(&mut watch, 5).await, before);
    let mut resumed = store.watch(&p, mid).await.unwrap();
    let tail = next_events(&mut resumed, 3).await;
    assert_eq!(tail, before[2..]);
    assert_eq!(tail[1].kv, b_gone);
    let d = store
        .create(&format!("{p}d"), b"d1".to_vec())
        .await
        .unwrap();
    assert!(d.mod_revision > last);
    assert_eq!(next_events(&mut watch, 1).await[0].kv, d);
    assert_eq!(next_events(&mut resumed, 1).await[0].kv, d);
    drop((watch, resumed));
    drop(store);

    // And once more, after a write made by the reopened store.
    let store = open().await;
    assert_eq!(store.current_revision().await.unwrap(), d.mod_revision);
    assert_eq!(store.get(&d.key).await.unwrap(), Some(d));
}

/// A snapshot taken while writers run opens as a store equal to the
/// original at the snapshot's revision.
///
/// `open_snapshot` opens the file a snapshot wrote; `dir` is an empty
/// directory for it.
pub async fn snapshot<F, Fut>(store: Arc<dyn Store>, dir: &Path, open_snapshot: F)
where
    F: Fn(std::path::PathBuf) -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    let p = unique_prefix("snapshot");
    for i in 0..50 {
        store
            .create(&format!("{p}k{i:02}"), vec![i; 100])
            .await
            .unwrap();
    }
    store.delete(&format!("{p}k07"), None).await.unwrap();
    let first = store.current_revision().await.unwrap();
    let writer = {
        let store = store.clone();
        let p = p.clone();
        tokio::spawn(async move {
            for i in 0..50 {
                store
                    .create(&format!("{p}late{i:02}"), vec![1])
                    .await
                    .unwrap();
            }
        })
    };
    let path = dir.join("snapshot");
    let revision = store.snapshot(&path).await.unwrap();
    writer.await.unwrap();
    assert!(revision >= first);

    let copy = open_snapshot(path.clone()).await;
    assert_eq!(copy.current_revision().await.unwrap(), revision);
    let all = ListOptions {
        prefix: p.clone(),
        ..Default::default()
    };
    let (copied, _) = list_all(&*copy, &all).await;
    let (original, _) = list_all(
        &*store,
        &ListOptions {
            revision: Some(revision),
            ..all.clone()
        },
    )
    .await;
    assert_eq!(copied, original);
    assert!(copied.len() >= 49);
    assert!(copied.iter().all(|kv| !kv.key.ends_with("k07")));

    // The copy keeps the history: it can watch from before the snapshot.
    let late = copied.iter().filter(|kv| kv.key.contains("/late")).count();
    let mut watch = copy.watch(&p, first).await.unwrap();
    let replayed = next_events(&mut watch, late).await;
    assert!(replayed.iter().all(|e| e.kv.key.contains("/late")));
    assert_quiet(&mut watch).await;

    // The copy is a store of its own.
    let kv = copy
        .create(&format!("{p}only-in-copy"), vec![])
        .await
        .unwrap();
    assert_eq!(kv.mod_revision, revision + 1);
    assert_eq!(store.get(&kv.key).await.unwrap(), None);
    let keys: BTreeSet<_> = copied.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(keys.len(), copied.len());
}
