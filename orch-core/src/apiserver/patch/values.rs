//! Small helpers shared by the strategic merge code: directive names,
//! error construction and JSON value comparison.

use serde_json::{Number, Value};

use super::PatchError;

/// `$patch: replace | delete | merge` on maps and list elements.
pub(crate) const PATCH: &str = "$patch";
/// `$retainKeys: [..]`: drop original keys not in the list.
pub(crate) const RETAIN_KEYS: &str = "$retainKeys";
/// `$setElementOrder/<field>: [..]`: the final order of a merged list.
pub(crate) const SET_ORDER: &str = "$setElementOrder/";
/// `$deleteFromPrimitiveList/<field>: [..]`: values to remove from a list.
pub(crate) const DELETE_PRIMITIVES: &str = "$deleteFromPrimitiveList/";

/// An invalid-directive error.
pub(crate) fn bad(msg: impl Into<String>) -> PatchError {
    PatchError::InvalidDirective(msg.into())
}

fn numbers_equal(a: &Number, b: &Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y)
}

/// JSON equality where numbers compare by value (`80` equals `80.0`), as
/// Go's decoding into `float64` makes them in Kubernetes.
pub(crate) fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

/// The identity of a list element: its merge key value for lists of maps,
/// the element itself for lists of scalars.
pub(crate) fn identity<'v>(v: &'v Value, key: Option<&str>) -> Option<&'v Value> {
    match key {
        None => Some(v),
        Some(key) => v.get(key).filter(|k| !k.is_null()),
    }
}

/// The position of the first element of `list` with identity `id`.
pub(crate) fn position(list: &[Value], id: &Value, key: Option<&str>) -> Option<usize> {
    list.iter()
        .position(|v| identity(v, key).is_some_and(|x| values_equal(x, id)))
}

/// The `$patch` directive of a list element, if it has one.
pub(crate) fn element_directive(v: &Value) -> Option<&Value> {
    v.as_object().and_then(|m| m.get(PATCH))
}
