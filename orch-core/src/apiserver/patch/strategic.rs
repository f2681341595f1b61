//! Strategic merge patch for maps: recursive merge, `null` deletion and the
//! map-level directives (`$patch`, `$retainKeys`,
//! `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>`), after
//! `k8s.io/apimachinery/pkg/util/strategicpatch` with the server's options
//! (parallel lists merged, unmatched `null`s ignored).

use serde_json::{Map, Value};

use super::error::type_name;
use super::values::{bad, values_equal, DELETE_PRIMITIVES, PATCH, RETAIN_KEYS, SET_ORDER};
use super::PatchError;

/// Parses `body` and applies it as a strategic merge patch to `original`
/// (a non-object original is treated as `{}`).
pub(crate) fn apply(kind: &str, original: &Value, body: &[u8]) -> Result<Value, PatchError> {
    let patch: Value = serde_json::from_slice(body)?;
    let Value::Object(patch) = patch else {
        return Err(PatchError::WrongBodyType(format!(
            "a strategic merge patch must be a JSON object, got {}",
            type_name(&patch)
        )));
    };
    let original = original.as_object().cloned().unwrap_or_default();
    let mut merger = Merger {
        kind,
        path: Vec::new(),
    };
    Ok(Value::Object(
        merger.merge_map(original, patch)?.unwrap_or_default(),
    ))
}

/// Walks the object, keeping the field path for merge-key lookups.
pub(crate) struct Merger<'k> {
    pub(crate) kind: &'k str,
    /// Field names from the root; list elements add no segment.
    pub(crate) path: Vec<String>,
}

impl Merger<'_> {
    /// Runs `f` with `field` pushed on the path.
    pub(crate) fn in_field<R>(&mut self, field: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(field.to_owned());
        let out = f(self);
        self.path.pop();
        out
    }

    /// Merges `patch` into `original`. `None` means the map is deleted
    /// (`$patch: delete`).
    pub(crate) fn merge_map(
        &mut self,
        mut original: Map<String, Value>,
        mut patch: Map<String, Value>,
    ) -> Result<Option<Map<String, Value>>, PatchError> {
        if let Some(directive) = patch.remove(PATCH) {
            match directive.as_str() {
                Some("replace") => return self.merge_map(Map::new(), patch),
                Some("delete") => return Ok(None),
                Some("merge") => {}
                _ => return Err(bad(format!("unknown patch type {directive} in map"))),
            }
        }
        retain_keys(&mut original, &mut patch)?;
        delete_from_primitive_lists(&mut original, &mut patch)?;
        self.set_element_orders(&mut original, &mut patch)?;
        for (key, value) in patch {
            if key.starts_with('$') {
                // Unknown directives are dropped, as Kubernetes' typed
                // decoding drops them.
                continue;
            }
            if value.is_null() {
                original.remove(&key);
                continue;
            }
            let merged = match original.get_mut(&key) {
                Some(slot) => {
                    let current = std::mem::take(slot);
                    self.in_field(&key, |m| m.merge_value(current, value))?
                }
                None => self.in_field(&key, |m| m.fresh(value))?,
            };
            match merged {
                Some(v) => {
                    original.insert(key, v);
                }
                None => {
                    original.remove(&key);
                }
            }
        }
        Ok(Some(original))
    }

    /// Merges a patch value into an existing value of the current field.
    fn merge_value(&mut self, original: Value, patch: Value) -> Result<Option<Value>, PatchError> {
        match (original, patch) {
            (Value::Object(o), Value::Object(p)) => Ok(self.merge_map(o, p)?.map(Value::Object)),
            (Value::Array(o), Value::Array(p)) => Ok(Some(Value::Array(self.merge_list(o, p)?))),
            (_, p) => self.fresh(p),
        }
    }

    /// A patch value for a field the original lacks (or holds with another
    /// type): merged into nothing, which strips directives and `null`s.
    pub(crate) fn fresh(&mut self, patch: Value) -> Result<Option<Value>, PatchError> {
        match patch {
            Value::Null => Ok(None),
            Value::Object(p) => Ok(self.merge_map(Map::new(), p)?.map(Value::Object)),
            Value::Array(p) => Ok(Some(Value::Array(self.merge_list(Vec::new(), p)?))),
            scalar => Ok(Some(scalar)),
        }
    }
}

/// The field named by a `$prefix/<field>` directive key.
pub(crate) fn directive_field<'a>(key: &'a str, prefix: &str) -> Result<&'a str, PatchError> {
    match key.strip_prefix(prefix) {
        Some(field) if !field.is_empty() => Ok(field),
        _ => Err(bad(format!("directive {key:?} does not name a field"))),
    }
}

/// `$retainKeys`: every non-null patch field must be listed, and original
/// fields that are not listed are dropped.
fn retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(list) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(list) = list else {
        return Err(bad(format!("{RETAIN_KEYS} must be a list of strings")));
    };
    let listed = |k: &str| list.iter().any(|v| v.as_str() == Some(k));
    for (k, v) in patch.iter() {
        let directive = k.starts_with(DELETE_PRIMITIVES) || k.starts_with(SET_ORDER) || k == PATCH;
        if !v.is_null() && !directive && !listed(k) {
            return Err(bad(format!(
                "field {k:?} is in the patch but not in {RETAIN_KEYS}"
            )));
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// `$deleteFromPrimitiveList/<field>: [..]` removes those values from the
/// original list (whatever the field's strategy).
fn delete_from_primitive_lists(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(DELETE_PRIMITIVES))
        .cloned()
        .collect();
    for key in keys {
        let field = directive_field(&key, DELETE_PRIMITIVES)?.to_owned();
        let doomed = match patch.remove(&key) {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None => continue,
            Some(_) => return Err(bad(format!("{key} must be a list"))),
        };
        if let Some(Value::Array(items)) = original.get_mut(&field) {
            items.retain(|v| !doomed.iter().any(|d| values_equal(d, v)));
        }
    }
    Ok(())
}
