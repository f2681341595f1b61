//! RFC 6902 JSON patch and RFC 7386 JSON merge patch, delegated to the
//! `json-patch` crate.

use serde_json::Value;

use super::error::{type_name, PatchError};

/// Applies an RFC 6902 operation list. The operations run on a copy, so the
/// original is untouched when one fails (no undo step is needed, which also
/// avoids the crate's undo path).
pub(crate) fn apply_json_patch(original: &Value, body: &[u8]) -> Result<Value, PatchError> {
    // Parse first so syntax errors carry their line and column, then check
    // the structure of the operation list.
    let value: Value = serde_json::from_slice(body)?;
    let ops = <json_patch::Patch as serde::Deserialize>::deserialize(&value)?;
    let mut doc = original.clone();
    json_patch::patch_unsafe(&mut doc, &ops)?;
    Ok(doc)
}

/// Applies an RFC 7386 merge patch: maps merge recursively, `null`
/// deletes, everything else (lists included) replaces. The body must be an
/// object, since the patched document must stay one.
pub(crate) fn apply_merge_patch(original: &Value, body: &[u8]) -> Result<Value, PatchError> {
    let patch: Value = serde_json::from_slice(body)?;
    if !patch.is_object() {
        return Err(PatchError::WrongBodyType(format!(
            "a merge patch must be a JSON object, got {}",
            type_name(&patch)
        )));
    }
    let mut doc = original.clone();
    json_patch::merge(&mut doc, &patch);
    Ok(doc)
}
