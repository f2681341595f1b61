//! The namespace controller: when a Namespace is Terminating, deletes
//! every namespaced object in it (all served kinds, found through
//! discovery), waits until they are gone (pods bound to nodes stay until
//! their agent finishes them, and are only counted, as in Kubernetes), then
//! removes the `kubernetes` finalizer through `PUT .../finalize`, which
//! lets the API server delete the Namespace.
mod content;

use std::{sync::Arc, time::Duration};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec};
use kube::{
    api::{Api, PostParams},
    runtime::{controller::Action, watcher, Controller},
    Client, ResourceExt,
};

pub use content::Remaining;

use super::{
    gc::kinds::{self, Kind},
    ControllerError, ControllerOptions,
};

/// The finalizer this controller owns.
const FINALIZER: &str = "kubernetes";
/// How soon a namespace that is not empty yet is looked at again.
const RECHECK: Duration = Duration::from_secs(1);

struct Ctx {
    client: Client,
    kinds: Vec<Kind>,
}

/// Runs the namespace controller.
pub async fn run(client: Client, _opts: ControllerOptions) -> Result<(), ControllerError> {
    let kinds = kinds::discover(&client).await?;
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        kinds,
    });
    Controller::new(Api::<Namespace>::all(client), watcher::Config::default())
        .run(reconcile, error_policy, ctx)
        .for_each(|r| {
            if let Err(e) = r {
                tracing::debug!(error = %e, "namespace queue");
            }
            futures::future::ready(())
        })
        .await;
    Ok(())
}

fn terminating(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_some()
        || ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating")
}

fn spec_finalizers(ns: &Namespace) -> Vec<String> {
    ns.spec
        .as_ref()
        .and_then(|s| s.finalizers.clone())
        .unwrap_or_default()
}

#[tracing::instrument(name = "namespace", skip_all, fields(namespace = %ns.name_any()))]
async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Ctx>) -> Result<Action, ControllerError> {
    if !terminating(&ns) || !spec_finalizers(&ns).iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let left = content::delete_all(&ctx.client, &ctx.kinds, &name).await?;
    if !left.is_empty() {
        tracing::info!(remaining = left.total(), by_kind = ?left.by_kind, "waiting for the namespace to empty");
        return Ok(Action::requeue(RECHECK));
    }
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    let Some(live) = api.get_opt(&name).await? else {
        return Ok(Action::await_change());
    };
    let kept: Vec<String> = spec_finalizers(&live)
        .into_iter()
        .filter(|f| f != FINALIZER)
        .collect();
    let body = Namespace {
        metadata: live.metadata.clone(),
        spec: Some(NamespaceSpec {
            finalizers: Some(kept),
        }),
        status: None,
    };
    match api
        .replace_subresource("finalize", &name, &PostParams::default(), &body)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => return Err(e.into()),
    }
    tracing::info!("namespace emptied and finalized");
    Ok(Action::await_change())
}

fn error_policy(ns: Arc<Namespace>, err: &ControllerError, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(namespace = %ns.name_any(), error = %err, "namespace cleanup failed; retrying");
    Action::requeue(RECHECK)
}
