//! ConfigMap and Secret validation: data keys and base64 values.

use serde::Deserialize;
use serde_json::Value;

use super::cause::Cause;
use super::json::{self, key, push_invalid};
use super::names;

/// Validates a ConfigMap's `data` and `binaryData`.
pub(super) fn validate_config_map(obj: &Value, errs: &mut Vec<Cause>) {
    let obj = obj.as_object();
    let data = json::string_map(json::get(obj, "data"), "data", errs);
    for (k, _) in &data {
        check_key(k, "data", errs);
    }
    let binary = json::object(json::get(obj, "binaryData"), "binaryData", errs);
    for (k, v) in binary.into_iter().flatten() {
        check_key(k, "binaryData", errs);
        check_base64(v, &key("binaryData", k), errs);
        if data.iter().any(|(d, _)| d == k) {
            errs.push(Cause::invalid(
                key("data", k),
                "duplicate of key present in binaryData",
            ));
        }
    }
}

/// Validates a Secret's `data` (base64 values) and `stringData`.
pub(super) fn validate_secret(obj: &Value, errs: &mut Vec<Cause>) {
    let obj = obj.as_object();
    let data = json::object(json::get(obj, "data"), "data", errs);
    for (k, v) in data.into_iter().flatten() {
        check_key(k, "data", errs);
        check_base64(v, &key("data", k), errs);
    }
    for (k, _) in json::string_map(json::get(obj, "stringData"), "stringData", errs) {
        check_key(k, "stringData", errs);
    }
}

fn check_key(k: &str, base: &str, errs: &mut Vec<Cause>) {
    push_invalid(errs, &key(base, k), names::config_key(k));
}

/// A base64-encoded string (standard alphabet, padded), decoded exactly as
/// the typed `ByteString` does.
fn check_base64(v: &Value, path: &str, errs: &mut Vec<Cause>) {
    match v {
        Value::String(_) => {
            if let Err(e) = k8s_openapi::ByteString::deserialize(v) {
                errs.push(Cause::invalid(path, format!("illegal base64 data: {e}")));
            }
        }
        Value::Null => {}
        other => errs.push(json::type_error(path, other, "a base64-encoded string")),
    }
}
