//! Update-only checks: fields that may not change once set.

use serde_json::{Map, Value};

use super::cause::Cause;
use super::Kind;

/// Records causes for immutable fields that differ between `new` and `old`.
pub(super) fn validate_immutable(
    kind: Option<Kind>,
    new: &Value,
    old: &Value,
    errs: &mut Vec<Cause>,
) {
    changed_string(new, old, "/metadata/name", "metadata.name", errs);
    changed_string(new, old, "/metadata/namespace", "metadata.namespace", errs);
    match kind {
        Some(Kind::Service) => changed_string(new, old, "/spec/clusterIP", "spec.clusterIP", errs),
        Some(Kind::Deployment | Kind::ReplicaSet)
            if normalized(new.pointer("/spec/selector"))
                != normalized(old.pointer("/spec/selector")) =>
        {
            errs.push(Cause::immutable("spec.selector"));
        }
        Some(Kind::EndpointSlice) => changed_string(new, old, "/addressType", "addressType", errs),
        Some(Kind::Secret) => {
            changed_string(new, old, "/type", "type", errs);
            locked_data(new, old, &["data"], errs);
        }
        Some(Kind::ConfigMap) => locked_data(new, old, &["data", "binaryData"], errs),
        _ => {}
    }
}

/// A string field that was set (non-empty) may not change to another
/// non-empty value.
fn changed_string(new: &Value, old: &Value, pointer: &str, field: &str, errs: &mut Vec<Cause>) {
    fn get<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
        v.pointer(pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }
    if let (Some(n), Some(o)) = (get(new, pointer), get(old, pointer)) {
        if n != o {
            errs.push(Cause::immutable(field));
        }
    }
}

/// ConfigMaps and Secrets marked `immutable: true` may neither be unmarked
/// nor have their data changed.
fn locked_data(new: &Value, old: &Value, fields: &[&str], errs: &mut Vec<Cause>) {
    const MSG: &str = "field is immutable when `immutable` is set";
    if old.get("immutable") != Some(&Value::Bool(true)) {
        return;
    }
    if new.get("immutable") != Some(&Value::Bool(true)) {
        errs.push(Cause::forbidden("immutable", MSG));
    }
    for field in fields {
        if normalized(new.get(field)) != normalized(old.get(field)) {
            errs.push(Cause::forbidden(*field, MSG));
        }
    }
}

/// The value with `null`s and empty arrays / objects removed from objects,
/// so that `{"matchLabels": {}}` equals `{}` and absent.
fn normalized(v: Option<&Value>) -> Value {
    match v {
        Some(Value::Object(o)) => {
            let map: Map<String, Value> = o
                .iter()
                .map(|(k, v)| (k.clone(), normalized(Some(v))))
                .filter(|(_, v)| !is_blank(v))
                .collect();
            Value::Object(map)
        }
        Some(Value::Array(a)) => Value::Array(a.iter().map(|v| normalized(Some(v))).collect()),
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v) => v.clone(),
    }
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}
