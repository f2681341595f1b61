//! Subresources with their own shapes: `pods/binding`, `*/scale`,
//! `namespaces/finalize`, and the node-credentials exchange.
use serde_json::{json, Value};

use super::{
    meta,
    objects::{self, ObjectRef, WriteTarget},
    patch::{apply_patch, PatchType},
    state::ApiState,
    status::ApiError,
};

/// `POST pods/NAME/binding`: assigns the pod to a node, once.
pub async fn bind(state: &ApiState, oref: ObjectRef<'_>, body: &Value) -> Result<Value, ApiError> {
    let node = body
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("binding.target.name is required"))?
        .to_string();
    let key = oref.key();
    let kv = state
        .store
        .get(&key)
        .await
        .map_err(|e| oref.store_err(e))?
        .ok_or_else(|| oref.not_found())?;
    let mut pod = objects::decode_pub(&kv)?;
    if let Some(existing) = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        return Err(ApiError::conflict(
            "pods/binding",
            oref.name,
            &format!(
                "pod {} is already assigned to node \"{existing}\"",
                oref.name
            ),
        ));
    }
    if meta::is_terminating(&pod) {
        return Err(ApiError::conflict(
            "pods/binding",
            oref.name,
            "pod is being deleted, cannot be assigned to a host",
        ));
    }
    pod["spec"]["nodeName"] = json!(node);
    let conds = pod["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut conds: Vec<Value> = conds
        .into_iter()
        .filter(|c| c["type"] != "PodScheduled")
        .collect();
    conds
        .push(json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": meta::now()}));
    pod["status"]["conditions"] = json!(conds);
    state
        .store
        .update(&key, meta::encode(&pod), kv.mod_revision)
        .await
        .map_err(|e| oref.store_err(e))?;
    Ok(
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}

/// The autoscaling/v1 Scale view of a Deployment or ReplicaSet.
pub fn scale_of(obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": obj.pointer("/metadata/name"),
            "namespace": obj.pointer("/metadata/namespace"),
            "uid": obj.pointer("/metadata/uid"),
            "resourceVersion": obj.pointer("/metadata/resourceVersion"),
            "creationTimestamp": obj.pointer("/metadata/creationTimestamp"),
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {"replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector},
    })
}

/// How a scale write arrives.
#[derive(Debug)]
pub enum ScaleWrite<'a> {
    /// PUT of a whole Scale.
    Replace(&'a Value),
    /// PATCH of the Scale.
    Patch(PatchType, &'a [u8]),
}

/// Updates `spec.replicas` through the Scale subresource.
pub async fn write_scale(
    state: &ApiState,
    oref: ObjectRef<'_>,
    w: ScaleWrite<'_>,
) -> Result<Value, ApiError> {
    let precondition = match &w {
        ScaleWrite::Replace(v) => meta::resource_version(v).map(str::to_string),
        ScaleWrite::Patch(..) => None,
    };
    let updated = objects::modify(
        state,
        oref,
        WriteTarget::Main,
        precondition.as_deref(),
        |current| {
            let scale = scale_of(current);
            let wanted = match &w {
                ScaleWrite::Replace(v) => (*v).clone(),
                ScaleWrite::Patch(t, body) => apply_patch("Scale", &scale, *t, body)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?,
            };
            let replicas = wanted
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .filter(|r| *r >= 0 && *r <= i64::from(i32::MAX))
                .ok_or_else(|| ApiError::bad_request("spec.replicas must be an integer >= 0"))?;
            let mut next = current.clone();
            next["spec"]["replicas"] = json!(replicas);
            Ok(next)
        },
    )
    .await?;
    Ok(scale_of(&updated))
}

/// `PUT namespaces/NAME/finalize`: replaces `spec.finalizers`.
pub async fn finalize_namespace(
    state: &ApiState,
    oref: ObjectRef<'_>,
    body: &Value,
) -> Result<Value, ApiError> {
    let fins = body
        .pointer("/spec/finalizers")
        .cloned()
        .unwrap_or(json!([]));
    objects::modify(state, oref, WriteTarget::Main, None, |current| {
        let mut next = current.clone();
        next["spec"]["finalizers"] = fins.clone();
        Ok(next)
    })
    .await
}
