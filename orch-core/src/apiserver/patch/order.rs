//! `$setElementOrder/<field>`: the order kubectl wants for a merged list.
//! Elements named in the directive follow its order; elements only the
//! server knows keep their place relative to them, as in Kubernetes'
//! `normalizeElementOrder` / `mergeSortedSlice`.

use serde_json::{Map, Value};

use super::merge_keys::{list_kind, ListKind};
use super::strategic::{directive_field, Merger};
use super::values::{bad, element_directive, identity, values_equal, SET_ORDER};
use super::PatchError;

/// Index of `v` in `ids` (by identity), if it is there.
fn index_in(ids: &[&Value], v: &Value, key: Option<&str>) -> Option<usize> {
    let id = identity(v, key)?;
    ids.iter().position(|x| values_equal(x, id))
}

/// Checks that the non-directive patch elements appear in the order list in
/// the same relative order (Kubernetes' `validatePatchWithSetOrderList`).
fn check_consistent(
    patch: &[Value],
    order: &[&Value],
    key: Option<&str>,
) -> Result<(), PatchError> {
    let mut next = 0;
    for item in patch.iter().filter(|v| element_directive(v).is_none()) {
        let Some(id) = identity(item, key) else {
            continue;
        };
        match order[next.min(order.len())..]
            .iter()
            .position(|x| values_equal(x, id))
        {
            Some(i) => next += i + 1,
            None => {
                return Err(bad(format!(
                    "the order of the patch list doesn't match the {SET_ORDER} list at {id}"
                )))
            }
        }
    }
    Ok(())
}

/// Interleaves server-only elements (`left`) with ordered patch elements
/// (`right`): a server-only element goes first only when both are in the
/// original list and it was before.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server: &[&Value],
    key: Option<&str>,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut l, mut r) = (left.into_iter().peekable(), right.into_iter().peekable());
    loop {
        let take_left = match (l.peek(), r.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => matches!(
                (index_in(server, a, key), index_in(server, b, key)),
                (Some(i), Some(j)) if i < j
            ),
        };
        out.extend(if take_left { l.next() } else { r.next() });
    }
    out
}

/// Reorders `merged` by the order list (see the module docs); order entries
/// marked `$patch: delete` remove their element.
fn apply_order(
    merged: Vec<Value>,
    order: &[Value],
    server: &[&Value],
    key: Option<&str>,
) -> Vec<Value> {
    let order_ids: Vec<&Value> = order.iter().filter_map(|v| identity(v, key)).collect();
    let deleted: Vec<&Value> = order
        .iter()
        .filter(|v| element_directive(v).and_then(Value::as_str) == Some("delete"))
        .filter_map(|v| identity(v, key))
        .collect();
    let (mut ordered, mut server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|v| index_in(&order_ids, v, key).is_some());
    ordered.sort_by_key(|v| index_in(&order_ids, v, key));
    ordered.retain(|v| index_in(&deleted, v, key).is_none());
    server_only.sort_by_key(|v| index_in(server, v, key).unwrap_or(usize::MAX));
    merge_sorted(server_only, ordered, server, key)
}

impl Merger<'_> {
    /// Processes every `$setElementOrder/<field>` of `patch`: merges the
    /// field's patch list (removing it from `patch`) and orders the result.
    pub(crate) fn set_element_orders(
        &mut self,
        original: &mut Map<String, Value>,
        patch: &mut Map<String, Value>,
    ) -> Result<(), PatchError> {
        let keys: Vec<String> = patch
            .keys()
            .filter(|k| k.starts_with(SET_ORDER))
            .cloned()
            .collect();
        for key in keys {
            let field = directive_field(&key, SET_ORDER)?.to_owned();
            let order = match patch.remove(&key) {
                Some(Value::Array(order)) => order,
                Some(Value::Null) | None => continue,
                Some(_) => return Err(bad(format!("{key} must be a list"))),
            };
            let merge_key = match self.in_field(&field, |m| list_kind(m.kind, &m.path)) {
                ListKind::Replace => continue,
                ListKind::MergeByKey(k) => Some(k),
                ListKind::MergePrimitives => None,
            };
            if let Some(k) = merge_key {
                if let Some(v) = order.iter().find(|v| identity(v, Some(k)).is_none()) {
                    return Err(bad(format!(
                        "{key}: {v} does not contain declared merge key: {k}"
                    )));
                }
            }
            let patch_list = match patch.remove(&field) {
                None => None,
                Some(Value::Array(list)) => Some(list),
                Some(_) => return Err(bad(format!("{field} must be a list when {key} is given"))),
            };
            let order_ids: Vec<&Value> = order
                .iter()
                .filter_map(|v| identity(v, merge_key))
                .collect();
            if let Some(list) = &patch_list {
                check_consistent(list, &order_ids, merge_key)?;
            }
            let current = match original.get_mut(&field) {
                Some(Value::Array(items)) => Some(std::mem::take(items)),
                _ => None,
            };
            let server_ids: Vec<Value> = current
                .iter()
                .flatten()
                .filter_map(|v| identity(v, merge_key).cloned())
                .collect();
            let merged = match (current, patch_list) {
                (Some(items), None) => items,
                (None, None) => continue,
                (items, Some(list)) => {
                    self.in_field(&field, |m| m.merge_list(items.unwrap_or_default(), list))?
                }
            };
            let server: Vec<&Value> = server_ids.iter().collect();
            let ordered = apply_order(merged, &order, &server, merge_key);
            original.insert(field, Value::Array(ordered));
        }
        Ok(())
    }
}
