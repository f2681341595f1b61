//! One reconcile of one Service: plan the slice writes, make them, and wait
//! until the cache shows them, so that the next reconcile of the same
//! Service never works from a cache that misses its own writes (which would
//! create duplicate slices).
use std::{sync::Arc, time::Duration};

use k8s_openapi::api::{core::v1::Service, discovery::v1::EndpointSlice};
use kube::{
    api::{Api, DeleteParams, PostParams},
    runtime::{controller::Action, reflector::ObjectRef},
    ResourceExt,
};

use super::{
    desired::{desired, selector},
    plan::{plan, Plan},
    Ctx,
};
use crate::controllers::{gc::delete::delete_exact, ControllerError};

/// How long a reconcile waits for the cache to show its writes.
const CACHE_WAIT: Duration = Duration::from_secs(5);

/// Brings the slices of `svc` to the wanted state.
#[tracing::instrument(name = "endpointslice", skip_all, fields(service = %svc.name_any(), namespace = svc.namespace().unwrap_or_default()))]
pub(super) async fn reconcile(svc: Arc<Service>, ctx: Arc<Ctx>) -> Result<Action, ControllerError> {
    ctx.ready().await?;
    let ns = svc.namespace().unwrap_or_default();
    let existing = ctx.slices_of(&ns, &svc.name_any());
    let plan = if selector(&svc).is_none() {
        Plan {
            delete: existing,
            ..Plan::default()
        }
    } else {
        let pods = ctx.pods.state();
        plan(&svc, desired(&svc, pods.iter().map(|p| &**p)), existing)
    };
    if plan.is_empty() {
        return Ok(Action::await_change());
    }
    tracing::debug!(
        create = plan.create.len(),
        update = plan.update.len(),
        delete = plan.delete.len(),
        "writing endpoint slices"
    );
    let all_seen = write(&ctx, &ns, plan).await?;
    Ok(if all_seen {
        Action::await_change()
    } else {
        Action::requeue(Duration::from_secs(1))
    })
}

/// Makes the writes (creates first, deletes last, so consumers never see
/// a gap) and returns whether the cache caught up with all of them.
pub(super) async fn write(ctx: &Ctx, ns: &str, plan: Plan) -> Result<bool, ControllerError> {
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), ns);
    let pp = PostParams::default();
    let mut seen = true;
    for s in plan.create {
        let done = api.create(&pp, &s).await?;
        seen &= wait_for(ctx, &done, true).await;
    }
    for s in plan.update {
        let done = api.replace(&s.name_any(), &pp, &s).await?;
        seen &= wait_for(ctx, &done, true).await;
    }
    for s in plan.delete {
        delete_exact(&api, &s.name_any(), s.uid(), DeleteParams::default()).await?;
        seen &= wait_for(ctx, &s, false).await;
    }
    Ok(seen)
}

/// Waits until the cache shows `s` at least as new as written (`present`)
/// or shows it gone.
async fn wait_for(ctx: &Ctx, s: &EndpointSlice, present: bool) -> bool {
    let key = ObjectRef::from_obj(s);
    let written = s.resource_version().unwrap_or_default();
    let deadline = tokio::time::Instant::now() + CACHE_WAIT;
    loop {
        let cached = ctx.slices.get(&key);
        let done = match cached {
            Some(c) if c.uid() == s.uid() => {
                present && at_least(&c.resource_version().unwrap_or_default(), &written)
            }
            _ => !present,
        };
        if done {
            return true;
        }
        if tokio::time::Instant::now() > deadline {
            tracing::debug!(slice = %s.name_any(), "cache did not show our write in time");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether resourceVersion `have` is at least `want` (they are store
/// revisions; anything unparsable only counts when equal).
fn at_least(have: &str, want: &str) -> bool {
    match (have.parse::<u64>(), want.parse::<u64>()) {
        (Ok(h), Ok(w)) => h >= w,
        _ => have == want,
    }
}
