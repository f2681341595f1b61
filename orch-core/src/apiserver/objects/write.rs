//! Create, update (PUT) and patch, for the main resource and `/status`.
use serde_json::Value;

use super::{check, check_namespace, decode, hooks, ObjectRef};
use crate::apiserver::{
    meta,
    patch::{apply_patch, PatchType},
    resources::Resource,
    state::ApiState,
    status::ApiError,
};
use crate::store::StoreError;

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteTarget {
    /// Everything but `.status` (for kinds with a status subresource).
    Main,
    /// Only `.status`.
    Status,
}

/// How many times a write without a resourceVersion precondition is retried
/// when it races another writer.
const RETRIES: usize = 8;

/// Creates an object in `namespace`.
pub async fn create(
    state: &ApiState,
    res: &'static Resource,
    namespace: Option<&str>,
    mut obj: Value,
) -> Result<Value, ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    stamp_type(res, &mut obj)?;
    if res.namespaced {
        let ns = namespace.ok_or_else(|| ApiError::bad_request("a namespace is required"))?;
        match meta::namespace(&obj) {
            Some(n) if n != ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ))
            }
            _ => {}
        }
        meta::metadata_mut(&mut obj).insert("namespace".into(), ns.into());
        check_namespace(state, ns, true).await?;
    } else {
        meta::metadata_mut(&mut obj).remove("namespace");
    }
    if meta::name(&obj).is_empty() {
        if let Some(prefix) = obj
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
        {
            if !prefix.is_empty() {
                let name = format!("{prefix}{}", meta::random_suffix());
                meta::metadata_mut(&mut obj).insert("name".into(), name.into());
            }
        }
    }
    {
        let m = meta::metadata_mut(&mut obj);
        m.insert("uid".into(), uuid::Uuid::new_v4().to_string().into());
        m.insert("creationTimestamp".into(), meta::now().into());
        m.insert("generation".into(), 1.into());
        for k in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            m.remove(k);
        }
    }
    hooks::prepare_create(res, &mut obj);
    check(res, &mut obj, None)?;
    let name = meta::name(&obj).to_string();
    let oref = ObjectRef {
        res,
        namespace,
        name: &name,
    };
    let allocated = hooks::allocate(state, res, &mut obj).await?;
    match state.store.create(&oref.key(), meta::encode(&obj)).await {
        Ok(kv) => decode(&kv),
        Err(e) => {
            hooks::release(state, allocated).await;
            Err(oref.store_err(e))
        }
    }
}

/// Replaces an object (PUT), or its status.
pub async fn update(
    state: &ApiState,
    oref: ObjectRef<'_>,
    target: WriteTarget,
    body: Value,
) -> Result<Value, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    if meta::name(&body) != oref.name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({})",
            meta::name(&body),
            oref.name
        )));
    }
    let precondition = meta::resource_version(&body).map(str::to_string);
    modify(state, oref, target, precondition.as_deref(), |_| {
        Ok(body.clone())
    })
    .await
}

/// Applies a patch to an object, or to its status.
pub async fn patch(
    state: &ApiState,
    oref: ObjectRef<'_>,
    target: WriteTarget,
    patch_type: PatchType,
    body: &[u8],
) -> Result<Value, ApiError> {
    modify(state, oref, target, None, |current| {
        let patched = apply_patch(oref.res.kind, current, patch_type, body).map_err(|e| {
            if e.is_bad_request() {
                ApiError::bad_request(e.to_string())
            } else {
                ApiError::invalid(
                    oref.res.kind,
                    oref.res.group,
                    oref.name,
                    &[crate::apiserver::validation::Cause {
                        field: String::new(),
                        reason: crate::apiserver::validation::CauseReason::FieldValueInvalid,
                        message: e.to_string(),
                    }],
                )
            }
        })?;
        Ok(patched)
    })
    .await
}

/// Read-modify-write with compare-and-swap, retried on races unless the
/// caller pinned a resourceVersion. `mutate` gets the current object and
/// returns the wanted one; the usual checks then apply.
pub async fn modify(
    state: &ApiState,
    oref: ObjectRef<'_>,
    target: WriteTarget,
    precondition: Option<&str>,
    mutate: impl Fn(&Value) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    let key = oref.key();
    for _ in 0..RETRIES {
        let kv = state
            .store
            .get(&key)
            .await
            .map_err(|e| oref.store_err(e))?
            .ok_or_else(|| oref.not_found())?;
        let current = decode(&kv)?;
        let mut new = mutate(&current)?;
        if !new.is_object() {
            return Err(ApiError::bad_request("the result must be a JSON object"));
        }
        let pinned = precondition.or_else(|| {
            // A patch may carry a resourceVersion of its own.
            let rv = meta::resource_version(&new)?;
            (Some(rv) != meta::resource_version(&current)).then_some(rv)
        });
        if let Some(rv) = pinned {
            if rv != kv.mod_revision.to_string() {
                return Err(ApiError::conflict(
                    &oref.res.qualified(),
                    oref.name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                ));
            }
        }
        let pinned = pinned.is_some();
        merge_for_target(oref.res, target, &current, &mut new)?;
        hooks::prepare_update(oref.res, &current, &mut new);
        check(oref.res, &mut new, Some(&current))?;
        if strip_rv(&new) == strip_rv(&current) {
            return Ok(current);
        }
        if hooks::update_completes_deletion(&current, &new) {
            return match state.store.delete(&key, Some(kv.mod_revision)).await {
                Ok(gone) => {
                    hooks::after_delete(state, oref.res, &current).await;
                    let mut v = new;
                    meta::metadata_mut(&mut v).insert(
                        "resourceVersion".into(),
                        gone.mod_revision.to_string().into(),
                    );
                    Ok(v)
                }
                Err(StoreError::Conflict { .. }) if !pinned => continue,
                Err(e) => Err(oref.store_err(e)),
            };
        }
        match state
            .store
            .update(&key, meta::encode(&new), kv.mod_revision)
            .await
        {
            Ok(kv) => return decode(&kv),
            Err(StoreError::Conflict { .. }) if !pinned => continue,
            Err(e) => return Err(oref.store_err(e)),
        }
    }
    Err(ApiError::conflict(
        &oref.res.qualified(),
        oref.name,
        "too many concurrent writers; try again",
    ))
}

fn strip_rv(v: &Value) -> Value {
    let mut v = v.clone();
    meta::metadata_mut(&mut v).remove("resourceVersion");
    v
}

/// Sets apiVersion and kind if missing, and rejects a mismatch.
fn stamp_type(res: &Resource, obj: &mut Value) -> Result<(), ApiError> {
    let want_av = res.api_version();
    let map = obj
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("the request body must be a JSON object"))?;
    match map.get("kind").and_then(Value::as_str) {
        Some(k) if k != res.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind of the object ({k}) does not match the resource {} (kind {})",
                res.qualified(),
                res.kind
            )))
        }
        _ => {}
    }
    match map.get("apiVersion").and_then(Value::as_str) {
        Some(av) if av != want_av => {
            return Err(ApiError::bad_request(format!(
                "the apiVersion of the object ({av}) does not match the resource {} ({want_av})",
                res.qualified()
            )))
        }
        _ => {}
    }
    map.insert("kind".into(), res.kind.into());
    map.insert("apiVersion".into(), want_av.into());
    Ok(())
}

/// Applies the status/spec split and keeps server-owned metadata.
fn merge_for_target(
    res: &'static Resource,
    target: WriteTarget,
    old: &Value,
    new: &mut Value,
) -> Result<(), ApiError> {
    match target {
        WriteTarget::Status => {
            let status = new.get("status").cloned();
            let mut merged = old.clone();
            match status {
                Some(s) => {
                    merged["status"] = s;
                }
                None => {
                    if let Some(m) = merged.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            *new = merged;
        }
        WriteTarget::Main => {
            stamp_type(res, new)?;
            if res.has_status() {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            let old_meta = old.get("metadata").cloned().unwrap_or_default();
            let m = meta::metadata_mut(new);
            for k in [
                "uid",
                "creationTimestamp",
                "name",
                "namespace",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                match old_meta.get(k) {
                    Some(v) => {
                        m.insert(k.into(), v.clone());
                    }
                    None => {
                        m.remove(k);
                    }
                }
            }
            crate::apiserver::validation::apply_defaults(res.kind, new);
            let gen = old_meta
                .get("generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let changed = meta::spec_part(old) != meta::spec_part(new);
            meta::metadata_mut(new).insert(
                "generation".into(),
                (if changed { gen + 1 } else { gen }).into(),
            );
        }
    }
    Ok(())
}
