//! Watch feeds: one watch of a kind kept in one cache, whose changes every
//! subscriber receives after the cache took them in. The controllers that
//! read pods share one feed ([`pods`]), so the cluster's pods are decoded
//! and held once rather than once per controller; a controller's other
//! kinds get a feed of their own.
use std::{
    fmt::Debug,
    future::Future,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use futures::{Stream, StreamExt};
use kube::{
    api::Api,
    runtime::{
        reflector::{self, ObjectRef, Store},
        watcher::{self, watcher, Event},
        WatchStreamExt,
    },
    Client, Resource,
};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::{
    slim::{self, CachedPod},
    ControllerError,
};

/// What a watch brought, as a subscriber sees it.
#[derive(Debug)]
pub enum Change<K> {
    /// Created or modified: the object as the cache now holds it (during
    /// a re-list, as listed).
    Applied(Arc<K>),
    /// Deleted: the object's final state.
    Deleted(Arc<K>),
    /// A full list was taken in (the first one, or again after a lost
    /// watch), or the subscriber joined after it: changes may have gone
    /// unseen, deletions among them.
    Listed,
}

/// What a subscriber is called with: the object's previous cached version
/// (if any) and the change.
type Handler<K> = Box<dyn FnMut(Option<&K>, &Change<K>) + Send>;

/// Who is called on every change, and whether a full list was taken in.
struct Subscribers<K> {
    handlers: Vec<(u64, Handler<K>)>,
    next_id: u64,
    listed: bool,
}

/// A cache of one kind and the changes to it. Clones share both.
pub struct Feed<K: Resource<DynamicType = ()> + 'static> {
    store: Store<K>,
    subscribers: Arc<Mutex<Subscribers<K>>>,
}

impl<K: Resource<DynamicType = ()> + 'static> Clone for Feed<K> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            subscribers: self.subscribers.clone(),
        }
    }
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Debug for Feed<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("kind", &K::kind(&()))
            .field("cached", &self.store.len())
            .finish_non_exhaustive()
    }
}

/// A registered subscriber; dropping it unsubscribes.
#[must_use = "dropping a subscription ends it"]
pub struct Subscription<K> {
    subscribers: Weak<Mutex<Subscribers<K>>>,
    id: u64,
}

impl<K> Debug for Subscription<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish()
    }
}

impl<K> Drop for Subscription<K> {
    fn drop(&mut self) {
        if let Some(subs) = self.subscribers.upgrade() {
            let mut subs = subs.lock().unwrap_or_else(|e| e.into_inner());
            subs.handlers.retain(|(id, _)| *id != self.id);
        }
    }
}

/// The shared feed of every Pod, trimmed to what the controllers read.
pub type PodFeed = Feed<CachedPod>;

/// The controllers' shared Pod feed and the watch that fills it (to be
/// polled for as long as the feed is used). `lag` delays every change (see
/// [`Feed::new`]).
pub fn pods(client: Client, lag: Duration) -> (PodFeed, impl Future<Output = ControllerError>) {
    Feed::new(Api::all(client), watcher::Config::default(), slim::pod, lag)
}

impl<K> Feed<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    /// A feed of the objects `api` and `cfg` select, each passed through
    /// `trim` first (see [`slim`]), and the watch that fills it: it
    /// re-watches with backoff after errors and returns only if the watch
    /// stream ends. `lag` holds every change back that long before the
    /// cache and the subscribers see it (a testing aid emulating a slow
    /// watch; zero otherwise).
    pub fn new(
        api: Api<K>,
        cfg: watcher::Config,
        trim: fn(&mut K),
        lag: Duration,
    ) -> (Self, impl Future<Output = ControllerError>) {
        let (feed, writer) = Self::empty();
        let events = delayed(watcher(api, cfg).default_backoff().modify(trim), lag);
        let run = feed.clone().fill(writer, events);
        (feed, run)
    }

    /// A feed with nothing cached and no subscriber, and the writer of its
    /// cache for [`Self::fill`].
    fn empty() -> (Self, reflector::store::Writer<K>) {
        let (store, writer) = reflector::store();
        let feed = Self {
            store,
            subscribers: Arc::new(Mutex::new(Subscribers {
                handlers: Vec::new(),
                next_id: 0,
                listed: false,
            })),
        };
        (feed, writer)
    }

    /// A feed of every object `api` reaches, kept whole, without lag.
    pub fn whole(api: Api<K>) -> (Self, impl Future<Output = ControllerError>) {
        Self::new(api, watcher::Config::default(), |_| {}, Duration::ZERO)
    }

    async fn fill(
        self,
        mut writer: reflector::store::Writer<K>,
        mut events: impl Stream<Item = Result<Event<K>, watcher::Error>> + Unpin,
    ) -> ControllerError {
        while let Some(item) = events.next().await {
            let event = match item {
                Ok(event) => event,
                Err(e) => {
                    tracing::warn!(kind = %K::kind(&()), error = %e, "watch failed; retrying");
                    continue;
                }
            };
            let previous = match &event {
                Event::Apply(o) | Event::Delete(o) | Event::InitApply(o) => {
                    self.store.get(&ObjectRef::from_obj(o))
                }
                Event::Init | Event::InitDone => None,
            };
            writer.apply_watcher_event(&event);
            let change = match event {
                // The cache's own copy, so subscribers share it.
                Event::Apply(o) => Change::Applied(
                    self.store
                        .get(&ObjectRef::from_obj(&o))
                        .unwrap_or_else(|| Arc::new(o)),
                ),
                // Not in the cache before the list is complete.
                Event::InitApply(o) => Change::Applied(Arc::new(o)),
                Event::Delete(o) => Change::Deleted(Arc::new(o)),
                Event::InitDone => Change::Listed,
                Event::Init => continue,
            };
            // Subscribers are called here, in turn, before the next event:
            // no queue of changes (or of the versions they refer to) builds
            // up behind a slow one.
            let mut subs = self.lock();
            subs.listed |= matches!(change, Change::Listed);
            for (_, handler) in &mut subs.handlers {
                handler(previous.as_deref(), &change);
            }
        }
        ControllerError::Other(format!("the {} watch ended", K::kind(&())))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Subscribers<K>> {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cache.
    pub fn store(&self) -> &Store<K> {
        &self.store
    }

    /// Waits until the cache holds a full list.
    pub async fn ready(&self) -> Result<(), ControllerError> {
        ready(&self.store).await
    }

    /// Calls `on_change(previous, change)` for every change from now on,
    /// in the feed's task right after the cache took the change in, until
    /// the subscription is dropped. It must be quick and must not wait: it
    /// decides what to do and hands that to its controller's own task. A
    /// subscriber that joins after the first full list is first called
    /// with [`Change::Listed`].
    pub fn subscribe(
        &self,
        mut on_change: impl FnMut(Option<&K>, &Change<K>) + Send + 'static,
    ) -> Subscription<K> {
        let mut subs = self.lock();
        if subs.listed {
            on_change(None, &Change::Listed);
        }
        let id = subs.next_id;
        subs.next_id += 1;
        subs.handlers.push((id, Box::new(on_change)));
        Subscription {
            subscribers: Arc::downgrade(&self.subscribers),
            id,
        }
    }

    /// The objects each change concerns (reconcile requests for kube-rs'
    /// `applier`), as `map` names them, until the stream is dropped.
    pub fn requests<T>(
        &self,
        mut map: impl FnMut(&Change<K>) -> Vec<ObjectRef<T>> + Send + 'static,
    ) -> impl Stream<Item = Result<ObjectRef<T>, std::convert::Infallible>> + Send + 'static
    where
        T: Resource<DynamicType = ()> + Send + Sync + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        let subscription = self.subscribe(move |_, change| {
            for r in map(change) {
                // The receiver goes only with the subscription.
                let _ = tx.send(r);
            }
        });
        UnboundedReceiverStream::new(rx).map(move |r| {
            let _ = &subscription;
            Ok(r)
        })
    }
}

/// Waits until `store` holds a full list. A controller must not reconcile
/// before every cache it reads is ready: a ReplicaSet seen without its pods
/// would look empty and be filled again.
pub async fn ready<K>(store: &Store<K>) -> Result<(), ControllerError>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store
        .wait_until_ready()
        .await
        .map_err(|e| ControllerError::Other(format!("the {} cache: {e}", K::kind(&()))))
}

/// The watch lag to emulate, from `ORCH_TEST_WATCH_LAG_MS` (see
/// [`Feed::new`]).
pub(crate) fn test_watch_lag() -> Duration {
    std::env::var("ORCH_TEST_WATCH_LAG_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::ZERO, Duration::from_millis)
}

/// `stream` with every item held back until `lag` after it arrived.
fn delayed<S>(stream: S, lag: Duration) -> futures::stream::BoxStream<'static, S::Item>
where
    S: Stream + Send + 'static,
    S::Item: Send + 'static,
{
    if lag.is_zero() {
        return stream.boxed();
    }
    stream
        .map(move |item| {
            let due = tokio::time::Instant::now() + lag;
            async move {
                tokio::time::sleep_until(due).await;
                item
            }
        })
        .buffered(usize::MAX)
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::json;

    fn cm(name: &str, v: &str) -> ConfigMap {
        serde_json::from_value(
            json!({"metadata": {"name": name, "namespace": "d"}, "data": {"v": v}}),
        )
        .unwrap()
    }

    /// What a subscriber saw, one line per call: `previous -> change`.
    fn recorder(
        seen: &Arc<Mutex<Vec<String>>>,
    ) -> impl FnMut(Option<&ConfigMap>, &Change<ConfigMap>) + Send + 'static {
        let seen = seen.clone();
        move |previous, change| {
            let v = |o: &ConfigMap| o.data.as_ref().unwrap()["v"].clone();
            let line = format!(
                "{} -> {}",
                previous.map_or("none".into(), v),
                match change {
                    Change::Applied(o) => format!("applied {}", v(o)),
                    Change::Deleted(o) => format!("deleted {}", v(o)),
                    Change::Listed => "listed".into(),
                }
            );
            seen.lock().unwrap().push(line);
        }
    }

    /// Yields until `seen` holds `n` lines (the feed task ran).
    async fn until(seen: &Arc<Mutex<Vec<String>>>, n: usize) {
        for _ in 0..1000 {
            if seen.lock().unwrap().len() >= n {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("only {:?}", seen.lock().unwrap());
    }

    #[tokio::test]
    async fn subscribers_see_changes_after_the_cache_and_only_while_subscribed() {
        let (feed, writer) = Feed::<ConfigMap>::empty();
        let (tx, rx) = mpsc::unbounded_channel();
        let run = tokio::spawn(feed.clone().fill(writer, UnboundedReceiverStream::new(rx)));
        let early = Arc::new(Mutex::new(Vec::new()));
        let early_sub = feed.subscribe(recorder(&early));
        for e in [
            Event::Init,
            Event::InitApply(cm("a", "1")),
            Event::InitDone,
            Event::Apply(cm("a", "2")),
        ] {
            tx.send(Ok(e)).unwrap();
        }
        until(&early, 3).await;
        assert_eq!(
            *early.lock().unwrap(),
            ["none -> applied 1", "none -> listed", "1 -> applied 2"]
        );
        // The cache holds the latest version, the very one subscribers got.
        let a = ObjectRef::new("a").within("d");
        assert_eq!(
            feed.store().get(&a).unwrap().data.as_ref().unwrap()["v"],
            "2"
        );

        // A subscriber that joins after the list is told at once.
        let late = Arc::new(Mutex::new(Vec::new()));
        let _late_sub = feed.subscribe(recorder(&late));
        assert_eq!(*late.lock().unwrap(), ["none -> listed"]);

        // A dropped subscription is not called again; the others are.
        drop(early_sub);
        tx.send(Ok(Event::Delete(cm("a", "3")))).unwrap();
        until(&late, 2).await;
        assert_eq!(*late.lock().unwrap(), ["none -> listed", "2 -> deleted 3"]);
        assert_eq!(early.lock().unwrap().len(), 3);
        assert!(feed.store().get(&a).is_none());

        // The feed ends with its watch stream.
        drop(tx);
        let e = run.await.unwrap();
        assert!(e.to_string().contains("watch ended"), "{e}");
    }
}
