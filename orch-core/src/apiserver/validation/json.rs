//! Typed access to `serde_json::Value` trees that never panics: a field of
//! the wrong JSON type becomes a `FieldValueInvalid` cause, and `null` counts
//! as absent. Also builds Kubernetes-style field paths.

use serde::de::Unexpected;
use serde_json::{Map, Value};

use super::cause::Cause;

/// A JSON object.
pub(super) type Object = Map<String, Value>;

/// `base.key` (or `key` at the root).
pub(super) fn child(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

/// `base[i]`.
pub(super) fn index(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

/// `base[key]`, the Kubernetes rendering of a map entry.
pub(super) fn key(base: &str, key: &str) -> String {
    format!("{base}[{key}]")
}

/// `obj[key]`, with `null` treated as absent.
pub(super) fn get<'a>(obj: Option<&'a Object>, key: &str) -> Option<&'a Value> {
    obj.and_then(|o| o.get(key)).filter(|v| !v.is_null())
}

/// Whether an optional value is absent, or an empty array, object or
/// string (values of other types are not empty).
pub(super) fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    }
}

/// The cause for a value of the wrong JSON type.
pub(super) fn type_error(path: &str, value: &Value, expected: &str) -> Cause {
    let unexpected = match value {
        Value::Null => Unexpected::Other("null"),
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Unexpected::Signed(i),
            (None, Some(u), _) => Unexpected::Unsigned(u),
            (None, None, Some(f)) => Unexpected::Float(f),
            _ => Unexpected::Other("number"),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    };
    Cause::invalid(
        path,
        format!("invalid type: {unexpected}, expected {expected}"),
    )
}

/// The value as an object; records a cause if it has another type.
pub(super) fn object<'a>(
    v: Option<&'a Value>,
    path: &str,
    errs: &mut Vec<Cause>,
) -> Option<&'a Object> {
    match v? {
        Value::Object(o) => Some(o),
        other => {
            errs.push(type_error(path, other, "an object"));
            None
        }
    }
}

/// Like [`object`], but `Err(())` when the value is present with another
/// type, so that callers can skip checking its (meaningless) children.
pub(super) fn optional_object<'a>(
    v: Option<&'a Value>,
    path: &str,
    errs: &mut Vec<Cause>,
) -> Result<Option<&'a Object>, ()> {
    match (v, object(v, path, errs)) {
        (Some(_), None) => Err(()),
        (_, o) => Ok(o),
    }
}

/// The value as an array; records a cause if it has another type.
pub(super) fn array<'a>(
    v: Option<&'a Value>,
    path: &str,
    errs: &mut Vec<Cause>,
) -> Option<&'a [Value]> {
    match v? {
        Value::Array(a) => Some(a),
        other => {
            errs.push(type_error(path, other, "an array"));
            None
        }
    }
}

/// The value as a string; records a cause if it has another type.
pub(super) fn string<'a>(
    v: Option<&'a Value>,
    path: &str,
    errs: &mut Vec<Cause>,
) -> Option<&'a str> {
    match v? {
        Value::String(s) => Some(s),
        other => {
            errs.push(type_error(path, other, "a string"));
            None
        }
    }
}

/// The value as an integer (large unsigned values saturate to `i64::MAX`);
/// records a cause if it has another type.
pub(super) fn int(v: Option<&Value>, path: &str, errs: &mut Vec<Cause>) -> Option<i64> {
    let v = v?;
    match v {
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.as_i64().unwrap_or(i64::MAX)),
        other => {
            errs.push(type_error(path, other, "an integer"));
            None
        }
    }
}

/// The object elements of an optional array, each paired with its path
/// `base[i]`; records a cause for each element that is not an object.
pub(super) fn objects<'a>(
    v: Option<&'a Value>,
    base: &str,
    errs: &mut Vec<Cause>,
) -> Vec<(String, &'a Object)> {
    let mut out = Vec::new();
    for (i, item) in array(v, base, errs).unwrap_or_default().iter().enumerate() {
        let path = index(base, i);
        if let Some(o) = object(Some(item), &path, errs) {
            out.push((path, o));
        }
    }
    out
}

/// The entries of a `map[string]string` field whose values are strings;
/// records a cause at `base[key]` for each non-string value.
pub(super) fn string_map<'a>(
    v: Option<&'a Value>,
    base: &str,
    errs: &mut Vec<Cause>,
) -> Vec<(&'a str, &'a str)> {
    let Some(map) = object(v, base, errs) else {
        return Vec::new();
    };
    map.iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k.as_str(), s.as_str())),
            other => {
                errs.push(type_error(&key(base, k), other, "a string"));
                None
            }
        })
        .collect()
}

/// Records `cause(path)` for every message in `msgs` (the result of one of
/// the syntax checks in `names`).
pub(super) fn push_invalid(errs: &mut Vec<Cause>, path: &str, msgs: Vec<String>) {
    errs.extend(msgs.into_iter().map(|m| Cause::invalid(path, m)));
}
