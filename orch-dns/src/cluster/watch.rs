//! kube-rs watches on Services and EndpointSlices (cluster-wide), applied
//! to a [`ClusterState`] as they come. Re-lists are handled as a reflector
//! does: whatever a complete list no longer holds is deleted. Readiness
//! turns on once both watches have delivered their first complete list.
use std::{
    collections::BTreeSet,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use futures::{stream, StreamExt};
use k8s_openapi::api::{core::v1::Service, discovery::v1::EndpointSlice};
use kube::{
    runtime::{
        watcher::{self, watcher, Event},
        WatchStreamExt,
    },
    Api, Client,
};

use super::state::{ClusterState, ObjKey};

/// Whether the first complete lists have been applied.
#[derive(Debug, Default)]
pub struct Readiness {
    services: AtomicBool,
    slices: AtomicBool,
}

impl Readiness {
    /// Not ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Both lists applied.
    pub fn is_ready(&self) -> bool {
        self.services.load(Ordering::Acquire) && self.slices.load(Ordering::Acquire)
    }

    /// What is still missing, for `/readyz`.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if !self.services.load(Ordering::Acquire) {
            m.push("services");
        }
        if !self.slices.load(Ordering::Acquire) {
            m.push("endpointslices");
        }
        m
    }

    /// Marks both lists applied (for a state fed by other means).
    pub fn mark_ready(&self) {
        self.services.store(true, Ordering::Release);
        self.slices.store(true, Ordering::Release);
    }
}

enum Change {
    Service(Box<Result<Event<Service>, watcher::Error>>),
    Slice(Box<Result<Event<EndpointSlice>, watcher::Error>>),
}

fn obj_key<K: kube::Resource>(o: &K) -> ObjKey {
    let m = o.meta();
    (
        m.namespace.clone().unwrap_or_else(|| "default".into()),
        m.name.clone().unwrap_or_default(),
    )
}

/// Follows the cluster until the task is dropped.
pub async fn follow(client: Client, mut state: ClusterState, ready: Arc<Readiness>) {
    let services = watcher(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .map(|c| Change::Service(Box::new(c)));
    let slices = watcher(
        Api::<EndpointSlice>::all(client),
        watcher::Config::default(),
    )
    .default_backoff()
    .map(|c| Change::Slice(Box::new(c)));
    let mut changes = std::pin::pin!(stream::select(services, slices));
    let mut svc_list: Option<BTreeSet<ObjKey>> = None;
    let mut slice_list: Option<BTreeSet<ObjKey>> = None;
    while let Some(change) = changes.next().await {
        match change {
            Change::Service(c) => match *c {
                Err(e) => tracing::warn!(error = %e, "watching Services"),
                Ok(ev) => match ev {
                    Event::Init => svc_list = Some(BTreeSet::new()),
                    Event::InitApply(s) => {
                        if let Some(seen) = &mut svc_list {
                            seen.insert(obj_key(&s));
                        }
                        state.apply_service(&s);
                    }
                    Event::InitDone => {
                        let seen = svc_list.take().unwrap_or_default();
                        for (ns, name) in state.service_keys().difference(&seen) {
                            state.delete_service(ns, name);
                        }
                        if !ready.services.swap(true, Ordering::AcqRel) {
                            tracing::info!(services = state.services(), "services listed");
                        }
                    }
                    Event::Apply(s) => state.apply_service(&s),
                    Event::Delete(s) => {
                        let (ns, name) = obj_key(&s);
                        state.delete_service(&ns, &name);
                    }
                },
            },
            Change::Slice(c) => match *c {
                Err(e) => tracing::warn!(error = %e, "watching EndpointSlices"),
                Ok(ev) => match ev {
                    Event::Init => slice_list = Some(BTreeSet::new()),
                    Event::InitApply(s) => {
                        if let Some(seen) = &mut slice_list {
                            seen.insert(obj_key(&s));
                        }
                        state.apply_slice(&s);
                    }
                    Event::InitDone => {
                        let seen = slice_list.take().unwrap_or_default();
                        for (ns, name) in state.slice_keys().difference(&seen) {
                            state.delete_slice(ns, name);
                        }
                        if !ready.slices.swap(true, Ordering::AcqRel) {
                            tracing::info!("endpointslices listed");
                        }
                    }
                    Event::Apply(s) => state.apply_slice(&s),
                    Event::Delete(s) => {
                        let (ns, name) = obj_key(&s);
                        state.delete_slice(&ns, &name);
                    }
                },
            },
        }
    }
}
