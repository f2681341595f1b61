//! Deletion: preconditions, finalizers (foreground/orphan), graceful pod
//! termination, and namespace termination.
use serde::Deserialize;
use serde_json::{json, Value};

use super::{decode, hooks, ObjectRef};
use crate::apiserver::{meta, state::ApiState, status::ApiError};
use crate::store::StoreError;

/// `DeleteOptions`, from the body or the query.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOptions {
    /// Background (default), Foreground or Orphan.
    pub propagation_policy: Option<String>,
    /// Grace period for pods; 0 deletes at once.
    pub grace_period_seconds: Option<i64>,
    /// Only delete if these still hold.
    pub preconditions: Option<Preconditions>,
    /// Deprecated form of `propagationPolicy: Orphan`.
    pub orphan_dependents: Option<bool>,
}

/// Delete preconditions.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preconditions {
    /// Expected uid.
    pub uid: Option<String>,
    /// Expected resourceVersion.
    pub resource_version: Option<String>,
}

/// Deletes an object, or starts its graceful deletion. Returns the object as
/// it is after the call.
pub async fn delete(
    state: &ApiState,
    oref: ObjectRef<'_>,
    opts: &DeleteOptions,
) -> Result<Value, ApiError> {
    let policy = match (opts.propagation_policy.as_deref(), opts.orphan_dependents) {
        (Some(p @ ("Background" | "Foreground" | "Orphan")), _) => p,
        (Some(other), _) => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy {other:?} is not supported: expected Background, Foreground or Orphan"
            )))
        }
        (None, Some(true)) => "Orphan",
        (None, _) => "Background",
    };
    let key = oref.key();
    for _ in 0..8 {
        let kv = state
            .store
            .get(&key)
            .await
            .map_err(|e| oref.store_err(e))?
            .ok_or_else(|| oref.not_found())?;
        let current = decode(&kv)?;
        if let Some(pre) = &opts.preconditions {
            let uid = current.pointer("/metadata/uid").and_then(Value::as_str);
            if pre.uid.as_deref().is_some_and(|u| Some(u) != uid) {
                return Err(ApiError::conflict(
                    &oref.res.qualified(),
                    oref.name,
                    "Precondition failed: UID in precondition does not match",
                ));
            }
            if pre
                .resource_version
                .as_deref()
                .is_some_and(|rv| rv != kv.mod_revision.to_string())
            {
                return Err(ApiError::conflict(
                    &oref.res.qualified(),
                    oref.name,
                    "Precondition failed: ResourceVersion in precondition does not match",
                ));
            }
        }
        let mut next = current.clone();
        let mut finalizers = meta::finalizers(&current);
        match policy {
            "Orphan" if !finalizers.iter().any(|f| f == "orphan") => {
                finalizers.push("orphan".into())
            }
            "Foreground" if !finalizers.iter().any(|f| f == "foregroundDeletion") => {
                finalizers.push("foregroundDeletion".into())
            }
            _ => {}
        }
        let grace = graceful_seconds(oref.res.kind, &current, opts);
        let terminating = meta::is_terminating(&current);
        let keep = !finalizers.is_empty() || grace.is_some();
        if keep {
            let m = meta::metadata_mut(&mut next);
            if !finalizers.is_empty() {
                m.insert("finalizers".into(), json!(finalizers));
            }
            if !terminating {
                m.insert(
                    "deletionTimestamp".into(),
                    meta::now_plus(grace.unwrap_or(0)).into(),
                );
                m.insert(
                    "deletionGracePeriodSeconds".into(),
                    json!(grace.unwrap_or(0)),
                );
            } else if let Some(g) = grace.or(opts.grace_period_seconds.filter(|g| *g == 0)) {
                // A shorter grace period may replace a longer one.
                let old = current
                    .pointer("/metadata/deletionGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(i64::MAX);
                if g < old {
                    m.insert("deletionTimestamp".into(), meta::now_plus(g).into());
                    m.insert("deletionGracePeriodSeconds".into(), json!(g));
                }
            }
            if oref.res.kind == "Namespace" {
                next["status"] = json!({"phase": "Terminating"});
            }
            if next == current {
                return Ok(current);
            }
            match state
                .store
                .update(&key, meta::encode(&next), kv.mod_revision)
                .await
            {
                Ok(kv) => return decode(&kv),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(oref.store_err(e)),
            }
        }
        match state.store.delete(&key, Some(kv.mod_revision)).await {
            Ok(gone) => {
                hooks::after_delete(state, oref.res, &current).await;
                let mut v = current;
                meta::metadata_mut(&mut v).insert(
                    "resourceVersion".into(),
                    gone.mod_revision.to_string().into(),
                );
                return Ok(v);
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(oref.store_err(e)),
        }
    }
    Err(ApiError::conflict(
        &oref.res.qualified(),
        oref.name,
        "too many concurrent writers; try again",
    ))
}

/// The grace period if this delete is graceful: pods bound to a node (the
/// node agent finishes the deletion), and namespaces (the namespace
/// controller empties them first).
fn graceful_seconds(kind: &str, obj: &Value, opts: &DeleteOptions) -> Option<i64> {
    match kind {
        "Pod" => {
            let bound = obj
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty());
            let finished = matches!(
                obj.pointer("/status/phase").and_then(Value::as_str),
                Some("Succeeded" | "Failed")
            );
            let grace = opts
                .grace_period_seconds
                .or_else(|| {
                    obj.pointer("/spec/terminationGracePeriodSeconds")
                        .and_then(Value::as_i64)
                })
                .unwrap_or(30)
                .max(0);
            (bound && !finished && grace > 0).then_some(grace)
        }
        "Namespace" => obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
            .then_some(0),
        _ => None,
    }
}
