//! Decoding into the typed k8s-openapi structs to catch JSON type errors,
//! reported with the path of the offending field.

use k8s_openapi::api::{apps, coordination, core, discovery};
use k8s_openapi::Resource;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::cause::Cause;
use super::Kind;

/// Deserializes `obj` as the typed struct of `kind`.
pub(super) fn decode_check(kind: Kind, obj: &Value) -> Result<(), Vec<Cause>> {
    canonical(kind, obj).map(drop)
}

/// Deserializes `obj` as the typed struct of `kind` and serializes it back:
/// fields the kind does not have are dropped, as Kubernetes drops them.
pub(super) fn canonical(kind: Kind, obj: &Value) -> Result<Value, Vec<Cause>> {
    match kind {
        Kind::Namespace => decode::<core::v1::Namespace>(obj),
        Kind::Node => decode::<core::v1::Node>(obj),
        Kind::Pod => decode::<core::v1::Pod>(obj),
        Kind::Service => decode::<core::v1::Service>(obj),
        Kind::Event => decode::<core::v1::Event>(obj),
        Kind::ConfigMap => decode::<core::v1::ConfigMap>(obj),
        Kind::Secret => decode::<core::v1::Secret>(obj),
        Kind::EndpointSlice => decode::<discovery::v1::EndpointSlice>(obj),
        Kind::Deployment => decode::<apps::v1::Deployment>(obj),
        Kind::ReplicaSet => decode::<apps::v1::ReplicaSet>(obj),
        Kind::Lease => decode::<coordination::v1::Lease>(obj),
    }
}

fn decode<T: DeserializeOwned + serde::Serialize + Resource>(
    obj: &Value,
) -> Result<Value, Vec<Cause>> {
    // The typed deserializers reject a mismatched apiVersion / kind without
    // a field path; report those here with their field.
    for (field, expected) in [("apiVersion", T::API_VERSION), ("kind", T::KIND)] {
        if let Some(Value::String(found)) = obj.get(field) {
            if found != expected {
                let message = format!("invalid value: string {found:?}, expected {expected}");
                return Err(vec![Cause::invalid(field, message)]);
            }
        }
    }
    match serde_path_to_error::deserialize::<_, T>(obj) {
        Ok(typed) => {
            serde_json::to_value(&typed).map_err(|e| vec![Cause::invalid("", e.to_string())])
        }
        Err(e) => {
            let path = e.path().to_string();
            let field = if path == "." { String::new() } else { path };
            Err(vec![Cause::invalid(field, e.into_inner().to_string())])
        }
    }
}
