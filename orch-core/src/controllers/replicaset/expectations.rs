//! Expectations: the pod creations and deletions a ReplicaSet asked for
//! that its pod cache has not shown yet. While any are outstanding the
//! controller does not create or delete pods for that ReplicaSet, so a
//! lagging watch never makes it act twice; after `timeout` they are
//! dropped, so a lost event cannot wedge it.
//!
//! Unlike Kubernetes' counters, we remember the pod names (creations are
//! recorded from the create responses), and an expectation is met either
//! when the watch shows the event or when the cache already reflects it.
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use kube::runtime::reflector::Store;

use super::{claim::controller_of, informer::Key};
use crate::controllers::slim::CachedPod;

#[derive(Debug)]
struct Pending {
    creates: HashSet<String>,
    deletes: HashSet<String>,
    since: Instant,
}

/// Outstanding creations and deletions per ReplicaSet.
#[derive(Debug, Clone)]
pub(super) struct Expectations {
    pending: Arc<Mutex<HashMap<Key, Pending>>>,
    timeout: Duration,
}

impl Expectations {
    /// Expectations that expire after `timeout`.
    pub(super) fn new(timeout: Duration) -> Self {
        Self {
            pending: Arc::default(),
            timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn entry<'a>(map: &'a mut HashMap<Key, Pending>, key: &Key) -> &'a mut Pending {
        map.entry(key.clone()).or_insert_with(|| Pending {
            creates: HashSet::new(),
            deletes: HashSet::new(),
            since: Instant::now(),
        })
    }

    /// We created these pods for `key`.
    pub(super) fn expect_creations(&self, key: &Key, names: impl IntoIterator<Item = String>) {
        let mut map = self.lock();
        let p = Self::entry(&mut map, key);
        p.creates.extend(names);
        p.since = Instant::now();
    }

    /// We are about to delete these pods of `key`.
    pub(super) fn expect_deletions(&self, key: &Key, names: impl IntoIterator<Item = String>) {
        let mut map = self.lock();
        let p = Self::entry(&mut map, key);
        p.deletes.extend(names);
        p.since = Instant::now();
    }

    /// A deletion we expected did not happen (the call failed).
    pub(super) fn deletion_failed(&self, key: &Key, name: &str) {
        if let Some(p) = self.lock().get_mut(key) {
            p.deletes.remove(name);
        }
    }

    /// The watch showed `pod` (`deleted`: its removal).
    pub(super) fn observe(&self, pod: &CachedPod, deleted: bool) {
        let (Some(ns), Some(name)) = (
            pod.metadata.namespace.as_deref(),
            pod.metadata.name.as_deref(),
        ) else {
            return;
        };
        let Some(owner) = controller_of(&pod.metadata) else {
            return;
        };
        let mut map = self.lock();
        if let Some(p) = map.get_mut(&Key::new(ns, &owner.name)) {
            p.creates.remove(name);
            if deleted || pod.metadata.deletion_timestamp.is_some() {
                p.deletes.remove(name);
            }
        }
    }

    /// Forgets `key` (its ReplicaSet is gone).
    pub(super) fn forget(&self, key: &Key) {
        self.lock().remove(key);
    }

    /// `None` if `key` may act now; otherwise how long its expectations may
    /// still block it. Expectations the cache already reflects are met.
    pub(super) fn outstanding(&self, key: &Key, pods: &Store<CachedPod>) -> Option<Duration> {
        let mut map = self.lock();
        let p = map.get_mut(key)?;
        let cached = |name: &str| pods.get(&Key::new(&key.namespace, name).to_ref());
        p.creates.retain(|n| cached(n).is_none());
        p.deletes
            .retain(|n| cached(n).is_some_and(|pod| pod.metadata.deletion_timestamp.is_none()));
        let left = self.timeout.checked_sub(p.since.elapsed());
        if p.creates.is_empty() && p.deletes.is_empty() || left.is_none() {
            if left.is_none() {
                tracing::warn!(replicaset = %key, creates = p.creates.len(), deletes = p.deletes.len(), "expectations timed out; resyncing");
            }
            map.remove(key);
            return None;
        }
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::{reflector, watcher::Event};
    use serde_json::json;

    fn pod(name: &str, deleting: bool) -> CachedPod {
        let mut v = json!({"metadata": {"name": name, "namespace": "d",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u", "controller": true}]}});
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn block_until_the_cache_or_the_watch_shows_the_change() {
        let (store, mut writer) = reflector::store::<CachedPod>();
        let key = Key::new("d", "rs");
        let exp = Expectations::new(Duration::from_secs(300));
        assert_eq!(exp.outstanding(&key, &store), None);

        exp.expect_creations(&key, ["rs-a".to_string(), "rs-b".to_string()]);
        assert!(exp.outstanding(&key, &store).is_some());
        writer.apply_watcher_event(&Event::Apply(pod("rs-a", false)));
        assert!(
            exp.outstanding(&key, &store).is_some(),
            "rs-b is still unseen"
        );
        // Created and deleted again before we looked: the watch event counts.
        exp.observe(&pod("rs-b", false), true);
        assert_eq!(exp.outstanding(&key, &store), None);

        exp.expect_deletions(&key, ["rs-a".to_string()]);
        assert!(exp.outstanding(&key, &store).is_some());
        writer.apply_watcher_event(&Event::Apply(pod("rs-a", true)));
        assert_eq!(
            exp.outstanding(&key, &store),
            None,
            "a terminating pod counts as deleted"
        );

        exp.expect_deletions(&key, ["rs-x".to_string()]);
        exp.deletion_failed(&key, "rs-x");
        assert_eq!(exp.outstanding(&key, &store), None);
    }

    #[test]
    fn expire_after_the_timeout() {
        let (store, _writer) = reflector::store::<CachedPod>();
        let key = Key::new("d", "rs");
        let exp = Expectations::new(Duration::from_millis(20));
        exp.expect_creations(&key, ["rs-a".to_string()]);
        assert!(exp.outstanding(&key, &store).is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(exp.outstanding(&key, &store), None);
    }
}
