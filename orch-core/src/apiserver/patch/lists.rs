//! Strategic merge of lists: wholesale replacement, set-merge of scalar
//! lists, and element-wise merge of lists of maps by their merge key with
//! the `$patch: delete | replace | merge` element directives.

use serde_json::{Map, Value};

use super::merge_keys::{list_kind, ListKind};
use super::strategic::Merger;
use super::values::{bad, element_directive, identity, position, values_equal, PATCH};
use super::PatchError;

/// What the special (`$patch`) elements of a patch list ask for.
struct Special {
    /// A `{"$patch": "replace"}` element: the list becomes the patch list.
    replace: bool,
    /// The regular elements (directive removed), in patch order.
    elements: Vec<Value>,
}

impl Merger<'_> {
    /// Merges patch list `patch` into `original` following the strategy of
    /// the current field. New elements are appended in patch order; the
    /// original order is kept otherwise (see `$setElementOrder`).
    pub(crate) fn merge_list(
        &mut self,
        original: Vec<Value>,
        patch: Vec<Value>,
    ) -> Result<Vec<Value>, PatchError> {
        match list_kind(self.kind, &self.path) {
            ListKind::Replace => self.fresh_elements(patch),
            ListKind::MergePrimitives => self.merge_primitives(original, patch),
            ListKind::MergeByKey(key) => self.merge_by_key(original, patch, key),
        }
    }

    /// Patch elements taken as they are (maps merged into nothing).
    fn fresh_elements(&mut self, patch: Vec<Value>) -> Result<Vec<Value>, PatchError> {
        let mut out = Vec::with_capacity(patch.len());
        for v in patch {
            match v {
                // A null element is kept: it is an element, not a deletion.
                Value::Null => out.push(Value::Null),
                v => out.extend(self.fresh(v)?),
            }
        }
        Ok(out)
    }

    /// Set union, keeping the original order and appending new values.
    fn merge_primitives(
        &mut self,
        original: Vec<Value>,
        patch: Vec<Value>,
    ) -> Result<Vec<Value>, PatchError> {
        let special = split_special(patch, None)?;
        let mut out: Vec<Value> = Vec::new();
        let base = if special.replace {
            Vec::new()
        } else {
            original
        };
        for v in base.into_iter().chain(special.elements) {
            if !out.iter().any(|o| values_equal(o, &v)) {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// Element-wise merge by `key`.
    fn merge_by_key(
        &mut self,
        mut original: Vec<Value>,
        patch: Vec<Value>,
        key: &'static str,
    ) -> Result<Vec<Value>, PatchError> {
        // Deletions first, as Kubernetes does.
        for v in &patch {
            if element_directive(v).and_then(Value::as_str) == Some("delete") {
                let id = identity(v, Some(key)).ok_or_else(|| {
                    bad(format!("{v} does not contain declared merge key: {key}"))
                })?;
                original.retain(|o| !identity(o, Some(key)).is_some_and(|x| values_equal(x, id)));
            }
        }
        let special = split_special(patch, Some(key))?;
        if special.replace {
            return self.fresh_elements(special.elements);
        }
        for v in special.elements {
            let Value::Object(element) = v else {
                if original.is_empty() {
                    original.push(v);
                    continue;
                }
                return Err(bad(format!(
                    "list element {v} must be a map with merge key {key}"
                )));
            };
            let found = match element.get(key).filter(|k| !k.is_null()) {
                Some(id) => position(&original, id, Some(key)),
                None if original.is_empty() => None,
                None => {
                    let v = Value::Object(element);
                    return Err(bad(format!(
                        "{v} does not contain declared merge key: {key}"
                    )));
                }
            };
            match found {
                Some(i) => {
                    let current = match std::mem::take(&mut original[i]) {
                        Value::Object(m) => m,
                        _ => Map::new(),
                    };
                    original[i] =
                        Value::Object(self.merge_map(current, element)?.unwrap_or_default());
                }
                None => original.extend(self.fresh(Value::Object(element))?),
            }
        }
        Ok(original)
    }
}

/// Separates the `$patch` elements of a patch list from the regular ones.
/// `delete` elements (already applied by the caller) are dropped; a
/// `replace` element sets [`Special::replace`] and, if it carries other
/// fields, stays as a regular element; `merge` is the default and is
/// stripped.
fn split_special(patch: Vec<Value>, key: Option<&str>) -> Result<Special, PatchError> {
    let mut special = Special {
        replace: false,
        elements: Vec::with_capacity(patch.len()),
    };
    for v in patch {
        let Value::Object(mut element) = v else {
            special.elements.push(v);
            continue;
        };
        let Some(directive) = element.remove(PATCH) else {
            special.elements.push(Value::Object(element));
            continue;
        };
        match directive.as_str() {
            Some("delete") if key.is_some() => continue,
            Some("replace") => special.replace = true,
            Some("merge") => {}
            _ => {
                return Err(bad(format!(
                    "unknown patch type {directive} in list element"
                )))
            }
        }
        if !element.is_empty() {
            special.elements.push(Value::Object(element));
        }
    }
    Ok(special)
}
