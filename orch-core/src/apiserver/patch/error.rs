//! The error type of patch application and its HTTP classification.

/// Why a patch could not be applied.
///
/// Kubernetes answers [`PatchError::Malformed`], [`PatchError::WrongBodyType`]
/// and [`PatchError::InvalidDirective`] with 400 Bad Request, and
/// [`PatchError::OperationFailed`] / [`PatchError::NotAnObject`] with
/// 422 Unprocessable Entity (reason `Invalid`).
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The body is not valid JSON or not a valid JSON patch document; the
    /// message carries the line and column.
    #[error("invalid patch body: {0}")]
    Malformed(#[from] serde_json::Error),
    /// The body is valid JSON of the wrong shape (e.g. a merge patch that
    /// is not an object).
    #[error("invalid patch body: {0}")]
    WrongBodyType(String),
    /// An RFC 6902 operation failed (a `test` did not match, a path does
    /// not exist, ...).
    #[error("the JSON patch could not be applied: {0}")]
    OperationFailed(#[from] json_patch::PatchError),
    /// A strategic merge patch directive (`$patch`, `$retainKeys`,
    /// `$setElementOrder/..`, `$deleteFromPrimitiveList/..`) or a merge key
    /// is missing or malformed.
    #[error("invalid strategic merge patch: {0}")]
    InvalidDirective(String),
    /// The patch applied, but the result is not a JSON object.
    #[error("the patched document must be a JSON object, got {0}")]
    NotAnObject(&'static str),
}

impl PatchError {
    /// True when Kubernetes would answer 400 Bad Request; otherwise the
    /// error is a 422 Unprocessable Entity (reason `Invalid`).
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            Self::Malformed(_) | Self::WrongBodyType(_) | Self::InvalidDirective(_)
        )
    }

    /// The HTTP status code Kubernetes uses for this error (400 or 422).
    pub fn status_code(&self) -> u16 {
        if self.is_bad_request() {
            400
        } else {
            422
        }
    }
}

/// A short name of the JSON type of `v`, for messages.
pub(crate) fn type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}
