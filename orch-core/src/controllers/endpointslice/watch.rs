//! Watch plumbing the controllers share: fanning watch events out to the
//! objects they concern, and waiting for a cache to hold a full list.
use std::{fmt::Debug, hash::Hash};

use futures::{stream, Stream, StreamExt};
use kube::{
    api::Api,
    runtime::{
        reflector::{self, ObjectRef, Store},
        watcher::{self, watcher, Event},
        WatchStreamExt,
    },
    Resource,
};
use serde::de::DeserializeOwned;

use crate::controllers::ControllerError;

/// Maps each watch event to the objects it concerns (reconcile requests);
/// watch errors pass through.
pub fn requests<K, T>(
    events: impl Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static,
    mut map: impl FnMut(Event<K>) -> Vec<ObjectRef<T>> + Send + 'static,
) -> impl Stream<Item = Result<ObjectRef<T>, watcher::Error>> + Send
where
    T: kube::Resource + Send + 'static,
    T::DynamicType: Send,
{
    events.flat_map(move |ev| {
        let out: Vec<_> = match ev {
            Ok(ev) => map(ev).into_iter().map(Ok).collect(),
            Err(e) => vec![Err(e)],
        };
        stream::iter(out)
    })
}

/// A cache of the objects `api` and `cfg` select, and the stream of watch
/// events that fills it (re-watching with backoff after errors). The cache
/// only follows while the stream is polled.
pub fn reflect<K>(
    api: Api<K>,
    cfg: watcher::Config,
) -> (
    Store<K>,
    impl Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static,
)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    reflect_trimmed(api, cfg, |_| {})
}

/// [`reflect`], with `trim` applied to every object before the cache and
/// the events see it (see [`crate::controllers::slim`]).
pub fn reflect_trimmed<K>(
    api: Api<K>,
    cfg: watcher::Config,
    trim: fn(&mut K),
) -> (
    Store<K>,
    impl Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static,
)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store();
    let events = watcher(api, cfg).default_backoff().modify(trim);
    (reader, reflector::reflector(writer, events))
}

/// Waits until `store` holds a full list.
pub async fn ready<K>(store: &Store<K>) -> Result<(), ControllerError>
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    store
        .wait_until_ready()
        .await
        .map_err(|e| ControllerError::Other(e.to_string()))
}
