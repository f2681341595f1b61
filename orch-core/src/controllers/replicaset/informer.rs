//! The reconcile plumbing the workload controllers share: their feeds'
//! change handlers (see [`crate::controllers::feed`]) name the objects to
//! reconcile through [`Triggers`], and [`reconcile_loop`] runs kube-rs'
//! `applier` on those triggers (one tracing span per reconcile, never two
//! reconciles of one object at once) with per-object exponential backoff
//! after errors.
use std::{
    collections::HashMap,
    convert::Infallible,
    fmt::Debug,
    future::Future,
    hash::Hash,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{future::BoxFuture, FutureExt, StreamExt};
use kube::{
    runtime::{
        applier,
        controller::{self, Action},
        reflector::{ObjectRef, Store},
        Config,
    },
    Resource,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::controllers::ControllerError;

/// Namespace and name of an object, the unit of work of a controller.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Key {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl Key {
    /// The key of `obj`.
    pub(crate) fn of<K: Resource>(obj: &K) -> Self {
        Self::new(
            obj.meta().namespace.as_deref().unwrap_or_default(),
            obj.meta().name.as_deref().unwrap_or_default(),
        )
    }

    /// The key `namespace/name`.
    pub(crate) fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The reflector reference of this key.
    pub(crate) fn to_ref<K: Resource<DynamicType = ()>>(&self) -> ObjectRef<K> {
        ObjectRef::new(&self.name).within(&self.namespace)
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Where event handlers send the keys to reconcile.
#[derive(Debug)]
pub(crate) struct Triggers<K: Resource<DynamicType = ()>> {
    tx: mpsc::UnboundedSender<ObjectRef<K>>,
}

impl<K: Resource<DynamicType = ()>> Clone for Triggers<K> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<K: Resource<DynamicType = ()>> Triggers<K> {
    /// A trigger channel and the receiving end for [`reconcile_loop`].
    pub(crate) fn channel() -> (Self, mpsc::UnboundedReceiver<ObjectRef<K>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }

    /// Queues a reconcile of `key`.
    pub(crate) fn send(&self, key: &Key) {
        // The receiver only goes away when the controller stops.
        let _ = self.tx.send(key.to_ref());
    }
}

/// Consecutive failures per object, for the retry backoff.
struct Failures<K: Resource<DynamicType = ()>>(Mutex<HashMap<ObjectRef<K>, u32>>);

impl<K: Resource<DynamicType = ()>> Failures<K> {
    fn reset(&self, key: &ObjectRef<K>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }

    /// 50 ms, 100 ms, ... up to 30 s.
    fn next_delay(&self, key: ObjectRef<K>) -> Duration {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(key).or_insert(0);
        *n = n.saturating_add(1);
        (Duration::from_millis(50) * 2u32.saturating_pow(n.saturating_sub(1).min(10)))
            .min(Duration::from_secs(30))
    }
}

/// Reconciles every object of `store` that a trigger names, `concurrency`
/// objects at a time, until the trigger channel closes; call it once every
/// cache the reconciles read is ready. `reconcile` returns
/// how long to wait before reconciling the object again unasked, if at all;
/// errors are retried with per-object backoff.
pub(crate) async fn reconcile_loop<K, C, F, Fut>(
    controller: &'static str,
    store: Store<K>,
    triggers: mpsc::UnboundedReceiver<ObjectRef<K>>,
    ctx: Arc<C>,
    concurrency: u16,
    reconcile: F,
) where
    K: Resource<DynamicType = ()> + Clone + Debug + Send + Sync + 'static,
    C: Send + Sync + 'static,
    F: Fn(Arc<K>, Arc<C>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<Duration>, ControllerError>> + Send + 'static,
{
    let failures = Arc::new(Failures::<K>(Mutex::default()));
    let reconcile = Arc::new(reconcile);
    let run = {
        let failures = failures.clone();
        move |obj: Arc<K>, ctx: Arc<C>| -> BoxFuture<'static, Result<Action, ControllerError>> {
            let (failures, reconcile) = (failures.clone(), reconcile.clone());
            async move {
                let key = ObjectRef::from_obj(&*obj);
                let requeue = reconcile(obj, ctx).await?;
                failures.reset(&key);
                Ok(requeue.map_or_else(Action::await_change, Action::requeue))
            }
            .boxed()
        }
    };
    let error_policy = move |obj: Arc<K>, _: &ControllerError, _: Arc<C>| {
        Action::requeue(failures.next_delay(ObjectRef::from_obj(&*obj)))
    };
    let queue = UnboundedReceiverStream::new(triggers).map(Ok::<_, Infallible>);
    applier(run, error_policy, ctx, store, queue, Config::default().concurrency(concurrency))
        .for_each(|result| async move {
            match result {
                Ok(_) => {}
                Err(controller::Error::ReconcilerFailed(e, obj)) => {
                    if is_conflict(&e) {
                        tracing::debug!(controller, object = %obj, error = %e, "reconcile raced another write; retrying");
                    } else {
                        tracing::warn!(controller, object = %obj, error = %e, "reconcile failed; retrying");
                    }
                }
                Err(controller::Error::ObjectNotFound(obj)) => tracing::debug!(controller, object = %obj, "object gone before its reconcile"),
                Err(e) => tracing::warn!(controller, error = %e, "reconcile loop error"),
            }
        })
        .await;
}

/// Whether `e` is a 409 Conflict (an optimistic-concurrency miss).
pub(crate) fn is_conflict(e: &ControllerError) -> bool {
    matches!(e, ControllerError::Kube(kube::Error::Api(s)) if s.code == 409)
}

/// Whether `e` is a 404 Not Found.
pub(crate) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}
