//! Deleting our slices whose Service is gone (also when it went while no
//! controller was running). Kubernetes leaves this to the garbage collector
//! through the owner reference; doing it here too keeps slices from
//! lingering when the garbage collector is slow or off.
use std::{collections::BTreeSet, sync::Arc};

use k8s_openapi::api::core::v1::Service;
use kube::{api::Api, runtime::reflector::ObjectRef, ResourceExt};
use tokio::sync::mpsc::UnboundedReceiver;

use super::{plan::Plan, plan::SERVICE_NAME_LABEL, sync, Ctx};

/// Sweeps once when the caches are ready, then for every Service reported
/// deleted (or named by a slice whose Service is not cached).
pub(super) async fn run(ctx: Arc<Ctx>, mut gone: UnboundedReceiver<(String, String)>) {
    if ctx.ready().await.is_err() {
        return;
    }
    let all: BTreeSet<(String, String)> = ctx
        .slices
        .state()
        .iter()
        .filter_map(|s| Some((s.namespace()?, s.labels().get(SERVICE_NAME_LABEL)?.clone())))
        .collect();
    for (ns, name) in all {
        sweep(&ctx, &ns, &name).await;
    }
    while let Some((ns, name)) = gone.recv().await {
        sweep(&ctx, &ns, &name).await;
    }
}

#[tracing::instrument(name = "endpointslice-sweep", skip(ctx))]
async fn sweep(ctx: &Ctx, ns: &str, name: &str) {
    if ctx
        .services
        .get(&ObjectRef::<Service>::new(name).within(ns))
        .is_some()
    {
        return;
    }
    let slices = ctx.slices_of(ns, name);
    if slices.is_empty() {
        return;
    }
    // The cache may lag: only a Service the API server does not have is gone.
    match Api::<Service>::namespaced(ctx.client.clone(), ns)
        .get_opt(name)
        .await
    {
        Ok(None) => {}
        Ok(Some(_)) => return,
        Err(e) => {
            tracing::warn!(error = %e, "could not check the Service of orphaned slices");
            return;
        }
    }
    tracing::info!(
        slices = slices.len(),
        "deleting the slices of a deleted Service"
    );
    if let Err(e) = sync::write(
        ctx,
        ns,
        Plan {
            delete: slices,
            ..Plan::default()
        },
    )
    .await
    {
        tracing::warn!(error = %e, "could not delete orphaned slices");
    }
}
