//! PATCH support: RFC 6902 JSON patch, RFC 7386 JSON merge patch and
//! Kubernetes' strategic merge patch (what `kubectl apply`, `kubectl edit`
//! and `kubectl patch` send for built-in kinds). Server-side apply is not
//! supported.

mod error;
mod json;
mod lists;
mod merge_keys;
mod order;
mod strategic;
mod values;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests_basic;
#[cfg(test)]
mod tests_directives;
#[cfg(test)]
mod tests_strategic;

use serde_json::Value;

pub use error::PatchError;
pub(crate) use merge_keys::{list_kind, ListKind};

/// The patch formats the API server accepts, chosen by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatchType {
    /// RFC 6902, `application/json-patch+json`.
    Json,
    /// RFC 7386, `application/merge-patch+json`.
    Merge,
    /// Kubernetes strategic merge patch,
    /// `application/strategic-merge-patch+json`.
    StrategicMerge,
}

impl PatchType {
    /// Maps a `Content-Type` header value (parameters such as
    /// `; charset=utf-8` are ignored, case-insensitively) to a patch type.
    /// Server-side apply (`application/apply-patch+yaml`) and anything else
    /// give `None` (HTTP 415).
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/json-patch+json") {
            Some(PatchType::Json)
        } else if media.eq_ignore_ascii_case("application/merge-patch+json") {
            Some(PatchType::Merge)
        } else if media.eq_ignore_ascii_case("application/strategic-merge-patch+json") {
            Some(PatchType::StrategicMerge)
        } else {
            None
        }
    }

    /// The media type of this patch format.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
        }
    }
}

/// Applies the patch `body` of type `patch_type` to `original`, an object
/// of Kubernetes kind `kind` (which selects the strategic merge keys, e.g.
/// `Pod`, `Deployment`, `Service`, `Node`; unknown kinds merge maps and
/// replace lists). Returns the patched object; `original` is not modified.
pub fn apply_patch(
    kind: &str,
    original: &Value,
    patch_type: PatchType,
    body: &[u8],
) -> Result<Value, PatchError> {
    let patched = match patch_type {
        PatchType::Json => json::apply_json_patch(original, body)?,
        PatchType::Merge => json::apply_merge_patch(original, body)?,
        PatchType::StrategicMerge => strategic::apply(kind, original, body)?,
    };
    if patched.is_object() {
        Ok(patched)
    } else {
        Err(PatchError::NotAnObject(error::type_name(&patched)))
    }
}
