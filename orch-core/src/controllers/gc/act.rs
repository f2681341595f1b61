//! Carrying out the garbage collector's decisions against the API server.
//! Each write is checked against the live object (the cache may lag): an
//! owner missing from the cache is only gone if the API server says so, and
//! metadata patches carry the resourceVersion they were computed from.
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{
    api::{DeleteParams, DynamicObject, Patch, PatchParams},
    Client, ResourceExt,
};
use serde_json::{json, Value};

use super::{
    delete::delete_exact,
    graph::{Action, Graph, Obj},
    kinds::{self, Kind},
};

/// Attempts at a read-modify-write that races other writers.
const ATTEMPTS: usize = 3;

/// Carries out one action; errors are logged, the next pass retries.
pub async fn run(client: &Client, kinds: &[Kind], graph: &Graph, action: &Action) {
    let result = match action {
        Action::Delete {
            obj,
            policy,
            verify,
        } => {
            let o = &graph.objs[*obj];
            if !all_gone(client, kinds, o, verify).await {
                return;
            }
            delete(client, kinds, o, policy.clone()).await
        }
        Action::RemoveOwners { obj, uids, verify } => {
            let o = &graph.objs[*obj];
            if !all_gone(client, kinds, o, verify).await {
                return;
            }
            let uids = uids.clone();
            modify(client, kinds, o, "ownerReferences", move |live| {
                let refs = live.owner_references().to_vec();
                let kept: Vec<OwnerReference> = refs
                    .iter()
                    .filter(|r| !uids.contains(&r.uid))
                    .cloned()
                    .collect();
                (kept.len() != refs.len()).then(|| {
                    if kept.is_empty() {
                        Value::Null
                    } else {
                        json!(kept)
                    }
                })
            })
            .await
        }
        Action::RemoveFinalizer { obj, finalizer } => {
            let o = &graph.objs[*obj];
            modify(client, kinds, o, "finalizers", move |live| {
                let fins = live.finalizers().to_vec();
                let kept: Vec<&String> = fins.iter().filter(|f| f != finalizer).collect();
                (kept.len() != fins.len()).then(|| {
                    if kept.is_empty() {
                        Value::Null
                    } else {
                        json!(kept)
                    }
                })
            })
            .await
        }
    };
    if let Err(e) = result {
        tracing::warn!(?action, error = %e, "garbage collection step failed; will retry");
    }
}

/// The API handle of `o`.
fn api_of(client: &Client, kinds: &[Kind], o: &Obj) -> Option<kube::Api<DynamicObject>> {
    let k = kinds
        .iter()
        .find(|k| k.resource.kind == o.kind && k.resource.api_version == o.api_version)?;
    Some(k.api(client, o.namespace.as_deref()))
}

/// Whether every owner in `refs` is really gone: absent, or replaced by an
/// object with another uid. Owners of kinds not served, and owners that
/// could not be checked, count as present.
async fn all_gone(client: &Client, kinds: &[Kind], dep: &Obj, refs: &[OwnerReference]) -> bool {
    for r in refs {
        let Some(kind) = kinds::find(kinds, r) else {
            tracing::debug!(owner = %r.name, kind = %r.kind, "owner kind not served; leaving the dependent alone");
            return false;
        };
        match kind
            .api(client, dep.namespace.as_deref())
            .get_opt(&r.name)
            .await
        {
            Ok(Some(live)) if live.uid().as_deref() == Some(r.uid.as_str()) => return false,
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(owner = %r.name, error = %e, "could not check an owner");
                return false;
            }
        }
    }
    true
}

#[tracing::instrument(name = "gc-delete", skip_all, fields(kind = %o.kind, namespace = ?o.namespace, name = %o.name, ?policy))]
async fn delete(
    client: &Client,
    kinds: &[Kind],
    o: &Obj,
    policy: kube::api::PropagationPolicy,
) -> Result<(), kube::Error> {
    let Some(api) = api_of(client, kinds, o) else {
        return Ok(());
    };
    let dp = DeleteParams {
        propagation_policy: Some(policy),
        ..DeleteParams::default()
    };
    if delete_exact(&api, &o.name, Some(o.uid.clone()), dp).await? {
        tracing::info!("deleted a dependent whose owners are gone");
    }
    Ok(())
}

/// Sets `metadata.<field>` to what `change` computes from the live object
/// (`None`: nothing to change), with the live resourceVersion as a
/// precondition, retrying on conflicts.
#[tracing::instrument(name = "gc-update", skip_all, fields(kind = %o.kind, namespace = ?o.namespace, name = %o.name, field))]
async fn modify(
    client: &Client,
    kinds: &[Kind],
    o: &Obj,
    field: &str,
    change: impl Fn(&DynamicObject) -> Option<Value>,
) -> Result<(), kube::Error> {
    let Some(api) = api_of(client, kinds, o) else {
        return Ok(());
    };
    for _ in 0..ATTEMPTS {
        let Some(live) = api.get_opt(&o.name).await? else {
            return Ok(());
        };
        if live.uid().as_deref() != Some(o.uid.as_str()) {
            return Ok(());
        }
        let Some(value) = change(&live) else {
            return Ok(());
        };
        let patch = json!({"metadata": {field: value, "resourceVersion": live.resource_version()}});
        match api
            .patch(&o.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                tracing::info!("updated");
                return Ok(());
            }
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
