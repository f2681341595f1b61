//! Ownership of dependents, as Kubernetes' ControllerRefManager does it: a
//! controller keeps the dependents it controls that its selector matches,
//! adopts matching orphans (a controller ownerReference with
//! `blockOwnerDeletion`), releases the dependents it controls that no
//! longer match, and ignores whatever someone else controls. ReplicaSets
//! claim pods this way and Deployments claim ReplicaSets.
use std::{fmt::Debug, sync::Arc};

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
    NamespaceResourceScope,
};
use kube::{
    api::{Api, Patch, PatchParams},
    Client, Resource,
};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::informer::is_not_found;
use crate::{apiserver::selector::LabelSelector, controllers::ControllerError};

/// The controller ownerReference of an object, if any.
pub(crate) fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

/// A controller ownerReference pointing at `owner`.
pub(crate) fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.meta().name.clone().unwrap_or_default(),
        uid: owner.meta().uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether `meta` is controlled by an object of kind `K` with `uid`.
pub(crate) fn controlled_by<K: Resource<DynamicType = ()>>(meta: &ObjectMeta, uid: &str) -> bool {
    controller_of(meta).is_some_and(|r| r.uid == uid && r.kind == K::kind(&()))
}

/// The label selector of a workload's `spec.selector`.
pub(crate) fn selector_of<S: serde::Serialize>(
    selector: &S,
) -> Result<LabelSelector, ControllerError> {
    let v = serde_json::to_value(selector).map_err(|e| ControllerError::Other(e.to_string()))?;
    let sel = LabelSelector::from_k8s(&v)
        .map_err(|e| ControllerError::Other(format!("invalid selector: {e}")))?;
    if sel.is_empty() {
        // An empty selector would select every object: never act on it.
        return Ok(LabelSelector::nothing());
    }
    Ok(sel)
}

/// What to do with one candidate dependent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Ours, and the selector matches.
    Keep,
    /// An orphan the selector matches.
    Adopt,
    /// Ours, but the selector no longer matches.
    Release,
    /// Someone else's, or nothing to do with us.
    Ignore,
}

/// Kubernetes' `ClaimObject` decision for `child` and `owner`.
pub(crate) fn decide(owner: &ObjectMeta, selector: &LabelSelector, child: &ObjectMeta) -> Decision {
    let owner_deleting = owner.deletion_timestamp.is_some();
    let matches = selector.matches(&child.labels.clone().unwrap_or_default());
    match controller_of(child) {
        Some(r) if Some(&r.uid) != owner.uid.as_ref() => Decision::Ignore,
        Some(_) if matches => Decision::Keep,
        Some(_) if owner_deleting => Decision::Ignore,
        Some(_) => Decision::Release,
        None if owner_deleting
            || !matches
            || child.deletion_timestamp.is_some()
            || child.namespace != owner.namespace =>
        {
            Decision::Ignore
        }
        None => Decision::Adopt,
    }
}

/// Claims `candidates` for `owner`: returns the dependents it controls
/// afterwards (adopted ones included), having written the adoptions and
/// releases. Adoption first re-reads the owner from the API, as Kubernetes
/// does, so a deleted-and-recreated owner never adopts with a stale uid.
pub(crate) async fn claim<O, C>(
    client: &Client,
    owner: &O,
    selector: &LabelSelector,
    candidates: Vec<Arc<C>>,
) -> Result<Vec<Arc<C>>, ControllerError>
where
    O: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
    C: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let ns = owner.meta().namespace.clone().unwrap_or_default();
    let api: Api<C> = Api::namespaced(client.clone(), &ns);
    let mut claimed = Vec::new();
    let mut may_adopt = None;
    let mut first_error = None;
    for child in candidates {
        let outcome = match decide(owner.meta(), selector, child.meta()) {
            Decision::Keep => {
                claimed.push(child);
                continue;
            }
            Decision::Ignore => continue,
            Decision::Release => release(
                &api,
                &child,
                owner.meta().uid.as_deref().unwrap_or_default(),
            )
            .await
            .map(|_| ()),
            Decision::Adopt => {
                if may_adopt.is_none() {
                    may_adopt = Some(owner_is_current(client, owner).await?);
                }
                if may_adopt != Some(true) {
                    continue;
                }
                adopt(&api, &child, controller_ref(owner))
                    .await
                    .map(|adopted| claimed.extend(adopted.map(Arc::new)))
            }
        };
        if let Err(e) = outcome {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(claimed), Err)
}

/// Whether `owner` still exists with the same uid and is not being deleted.
async fn owner_is_current<O>(client: &Client, owner: &O) -> Result<bool, ControllerError>
where
    O: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let meta = owner.meta();
    let api: Api<O> = Api::namespaced(
        client.clone(),
        meta.namespace.as_deref().unwrap_or_default(),
    );
    let fresh = api
        .get_opt(meta.name.as_deref().unwrap_or_default())
        .await?;
    Ok(fresh.is_some_and(|f| f.meta().uid == meta.uid && f.meta().deletion_timestamp.is_none()))
}

/// Writes `refs` as the child's ownerReferences, on the condition that the
/// child is unchanged since we read it. `None` if the child is gone.
async fn set_owner_refs<C>(
    api: &Api<C>,
    child: &C,
    refs: Vec<OwnerReference>,
) -> Result<Option<C>, ControllerError>
where
    C: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let meta = child.meta();
    let refs = if refs.is_empty() {
        Value::Null
    } else {
        json!(refs)
    };
    let patch =
        json!({"metadata": {"resourceVersion": meta.resource_version, "ownerReferences": refs}});
    match api
        .patch(
            meta.name.as_deref().unwrap_or_default(),
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await
    {
        Ok(updated) => Ok(Some(updated)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Adds `owner_ref` to an orphan's ownerReferences.
async fn adopt<C>(
    api: &Api<C>,
    child: &C,
    owner_ref: OwnerReference,
) -> Result<Option<C>, ControllerError>
where
    C: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
{
    tracing::info!(kind = %C::kind(&()), name = child.meta().name.as_deref().unwrap_or_default(), "adopting");
    let mut refs = child.meta().owner_references.clone().unwrap_or_default();
    refs.push(owner_ref);
    set_owner_refs(api, child, refs).await
}

/// Removes the ownerReference to `owner_uid` from a dependent.
async fn release<C>(api: &Api<C>, child: &C, owner_uid: &str) -> Result<Option<C>, ControllerError>
where
    C: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
{
    tracing::info!(kind = %C::kind(&()), name = child.meta().name.as_deref().unwrap_or_default(), "releasing");
    let refs = child
        .meta()
        .owner_references
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.uid != owner_uid)
        .collect();
    set_owner_refs(api, child, refs).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(v: Value) -> ObjectMeta {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn decisions_follow_controller_ref_manager() {
        let owner = meta(json!({"name": "rs", "namespace": "d", "uid": "u1"}));
        let sel = LabelSelector::parse("app=web").unwrap();
        let ours = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u1", "controller": true}]);
        let theirs = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x", "uid": "u2", "controller": true}]);
        let child = |labels: Value, refs: Value| {
            meta(json!({"name": "p", "namespace": "d", "labels": labels, "ownerReferences": refs}))
        };
        assert_eq!(
            decide(&owner, &sel, &child(json!({"app": "web"}), ours.clone())),
            Decision::Keep
        );
        assert_eq!(
            decide(&owner, &sel, &child(json!({"app": "db"}), ours)),
            Decision::Release
        );
        assert_eq!(
            decide(&owner, &sel, &child(json!({"app": "web"}), theirs)),
            Decision::Ignore
        );
        assert_eq!(
            decide(&owner, &sel, &child(json!({"app": "web"}), json!([]))),
            Decision::Adopt
        );
        assert_eq!(
            decide(&owner, &sel, &child(json!({"app": "db"}), json!([]))),
            Decision::Ignore
        );
        let deleting = meta(
            json!({"name": "rs", "namespace": "d", "uid": "u1", "deletionTimestamp": "2024-01-01T00:00:00Z"}),
        );
        assert_eq!(
            decide(&deleting, &sel, &child(json!({"app": "web"}), json!([]))),
            Decision::Ignore
        );
        let other_ns = meta(json!({"name": "p", "namespace": "e", "labels": {"app": "web"}}));
        assert_eq!(decide(&owner, &sel, &other_ns), Decision::Ignore);
    }
}
