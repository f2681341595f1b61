//! The EndpointSlice controller: for every Service with a selector, keeps
//! `discovery.k8s.io/v1` EndpointSlices listing the selected pods that have
//! an IP, with their readiness, serving and terminating conditions, node,
//! hostname and resolved ports, at most 100 endpoints per slice. Slices are
//! labelled `kubernetes.io/service-name` and managed-by
//! `endpointslice-controller.k8s.io`, owned by their Service, and written
//! only when their content changes. Slices managed by anyone else (the API
//! server's own `kubernetes` slice) are never touched.
//!
//! Feeds of Services and of our slices and the shared Pod feed keep the
//! caches; every change queues the Services it concerns, and one reconcile (one tracing span) at a
//! time per Service computes the wanted slices and writes the difference.
pub mod desired;
#[cfg(test)]
mod desired_tests;
pub mod plan;
#[cfg(test)]
mod plan_tests;
pub mod pod;
mod sweep;
mod sync;

use std::{sync::Arc, time::Duration};

use futures::{stream, StreamExt};
use k8s_openapi::api::{core::v1::Service, discovery::v1::EndpointSlice};
use kube::{
    api::Api,
    runtime::{
        applier,
        controller::Action,
        reflector::{ObjectRef, Store},
        watcher, Config,
    },
    Client, ResourceExt,
};
use tokio::sync::mpsc;

use super::{
    feed::{ready, Change, Feed, PodFeed},
    ControllerError, ControllerOptions,
};
use crate::controllers::slim::CachedPod;
use plan::{MANAGED_BY, MANAGED_BY_LABEL, SERVICE_NAME_LABEL};

/// Services reconciled at once (kube-controller-manager's
/// `--concurrent-service-endpoint-syncs` default).
const WORKERS: u16 = 5;

/// What the reconciles share: the client and the three caches.
struct Ctx {
    client: Client,
    services: Store<Service>,
    pods: Store<CachedPod>,
    slices: Store<EndpointSlice>,
}

impl Ctx {
    /// Waits until every cache holds a full list.
    async fn ready(&self) -> Result<(), ControllerError> {
        ready(&self.services).await?;
        ready(&self.pods).await?;
        ready(&self.slices).await
    }

    /// Our slices of the Service `ns/name`.
    fn slices_of(&self, ns: &str, name: &str) -> Vec<EndpointSlice> {
        self.slices
            .state()
            .iter()
            .filter(|s| {
                s.namespace().as_deref() == Some(ns)
                    && s.labels().get(SERVICE_NAME_LABEL).map(String::as_str) == Some(name)
            })
            .map(|s| (**s).clone())
            .collect()
    }
}

/// Runs the EndpointSlice controller, reading pods from the shared `pods`
/// feed.
pub async fn run(
    client: Client,
    _opts: ControllerOptions,
    pods: PodFeed,
) -> Result<(), ControllerError> {
    let managed = watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
    let (services, svc_watch) = Feed::whole(Api::<Service>::all(client.clone()));
    let (slices, slice_watch) = Feed::new(
        Api::<EndpointSlice>::all(client.clone()),
        managed,
        |_| {},
        Duration::ZERO,
    );
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        services: services.store().clone(),
        pods: pods.store().clone(),
        slices: slices.store().clone(),
    });
    let (gone_tx, gone_rx) = mpsc::unbounded_channel::<(String, String)>();

    let tx = gone_tx.clone();
    let from_services = services.requests(move |change| match change {
        Change::Applied(s) => vec![ObjectRef::from_obj(&**s)],
        Change::Deleted(s) => {
            let _ = tx.send((s.namespace().unwrap_or_default(), s.name_any()));
            Vec::new()
        }
        Change::Listed => Vec::new(),
    });
    let c = ctx.clone();
    let from_pods = pods.requests(move |change| match change {
        Change::Applied(p) | Change::Deleted(p) => services_for_pod(&c, p),
        Change::Listed => Vec::new(),
    });
    let c = ctx.clone();
    let from_slices = slices.requests(move |change| match change {
        Change::Applied(s) | Change::Deleted(s) => {
            let (ns, name) = (
                s.namespace().unwrap_or_default(),
                s.labels()
                    .get(SERVICE_NAME_LABEL)
                    .cloned()
                    .unwrap_or_default(),
            );
            let svc = ObjectRef::new(&name).within(&ns);
            if c.services.get(&svc).is_none() {
                let _ = gone_tx.send((ns, name));
            }
            vec![svc]
        }
        Change::Listed => Vec::new(),
    });
    let queue = stream::select_all([
        from_services.boxed(),
        from_pods.boxed(),
        from_slices.boxed(),
    ]);
    let controller = applier(
        |svc, ctx| Box::pin(sync::reconcile(svc, ctx)),
        error_policy,
        ctx.clone(),
        ctx.services.clone(),
        queue,
        Config::default().concurrency(WORKERS),
    )
    .for_each(|r| {
        if let Err(e) = r {
            tracing::debug!(error = %e, "endpointslice queue");
        }
        futures::future::ready(())
    });
    tokio::select! {
        e = svc_watch => Err(e),
        e = slice_watch => Err(e),
        _ = futures::future::join(controller, sweep::run(ctx.clone(), gone_rx)) => Ok(()),
    }
}

/// The Services that select the pod, or whose slices list it (it may have
/// stopped matching).
fn services_for_pod(ctx: &Ctx, p: &CachedPod) -> Vec<ObjectRef<Service>> {
    let ns = p.namespace().unwrap_or_default();
    let name = p.name_any();
    let selecting = ctx
        .services
        .state()
        .into_iter()
        .filter(|s| desired::selects(s, p))
        .map(|s| ObjectRef::from_obj(&*s));
    let listing = ctx
        .slices
        .state()
        .into_iter()
        .filter(|s| s.namespace().as_deref() == Some(ns.as_str()))
        .filter(|s| {
            s.endpoints.iter().any(|e| {
                e.target_ref.as_ref().and_then(|r| r.name.as_deref()) == Some(name.as_str())
            })
        })
        .filter_map(|s| {
            s.labels()
                .get(SERVICE_NAME_LABEL)
                .map(|svc| ObjectRef::new(svc).within(&ns))
        });
    let mut out: Vec<_> = selecting.chain(listing).collect();
    out.dedup();
    out
}

fn error_policy(svc: Arc<Service>, err: &ControllerError, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(service = %svc.name_any(), namespace = ?svc.namespace(), error = %err, "syncing endpoint slices failed; retrying");
    Action::requeue(Duration::from_secs(1))
}
