//! Validation causes: one problem with one field, shaped like a Kubernetes
//! `StatusCause` (`reason`, `message`, `field`).

use std::fmt;

use serde::{Serialize, Serializer};

/// The kind of problem a [`Cause`] reports, mirroring Kubernetes' field
/// error types (`k8s.io/apimachinery/pkg/util/validation/field`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::enum_variant_names)] // the Kubernetes names
pub enum CauseReason {
    /// A required field is missing or empty (`FieldValueRequired`).
    FieldValueRequired,
    /// A field has a malformed or out-of-range value, a wrong JSON type, or
    /// was changed although it is immutable (`FieldValueInvalid`).
    FieldValueInvalid,
    /// A field's value is not one of the supported values
    /// (`FieldValueNotSupported`).
    FieldValueNotSupported,
    /// A value that must be unique appears more than once
    /// (`FieldValueDuplicate`).
    FieldValueDuplicate,
    /// A value or list is longer than allowed (`FieldValueTooLong`).
    FieldValueTooLong,
    /// A field may not be set in this context (`FieldValueForbidden`).
    FieldValueForbidden,
}

impl CauseReason {
    /// The Kubernetes cause type string, e.g. `"FieldValueRequired"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FieldValueRequired => "FieldValueRequired",
            Self::FieldValueInvalid => "FieldValueInvalid",
            Self::FieldValueNotSupported => "FieldValueNotSupported",
            Self::FieldValueDuplicate => "FieldValueDuplicate",
            Self::FieldValueTooLong => "FieldValueTooLong",
            Self::FieldValueForbidden => "FieldValueForbidden",
        }
    }
}

impl fmt::Display for CauseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CauseReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One validation problem. Serializes like a Kubernetes `StatusCause`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    /// Kubernetes-style field path, e.g. `spec.containers[0].name`; empty
    /// when the problem concerns the whole object.
    pub field: String,
    /// What kind of problem this is.
    pub reason: CauseReason,
    /// Human-readable detail, e.g. `field is immutable`.
    pub message: String,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl Cause {
    /// A cause with an explicit reason and message.
    pub fn new(field: impl Into<String>, reason: CauseReason, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason,
            message: message.into(),
        }
    }

    /// `FieldValueRequired` with the message `Required value`.
    pub fn required(field: impl Into<String>) -> Self {
        Self::new(field, CauseReason::FieldValueRequired, "Required value")
    }

    /// `FieldValueInvalid` with the given detail.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(field, CauseReason::FieldValueInvalid, message)
    }

    /// `FieldValueInvalid` with the message `field is immutable`.
    pub fn immutable(field: impl Into<String>) -> Self {
        Self::invalid(field, "field is immutable")
    }

    /// `FieldValueNotSupported`, listing the supported values.
    pub fn not_supported(field: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        Self::new(
            field,
            CauseReason::FieldValueNotSupported,
            format!(
                "Unsupported value: {value:?}: supported values: {}",
                list.join(", ")
            ),
        )
    }

    /// `FieldValueDuplicate` for the given (already rendered) value.
    pub fn duplicate(field: impl Into<String>, value: &str) -> Self {
        Self::new(
            field,
            CauseReason::FieldValueDuplicate,
            format!("Duplicate value: {value}"),
        )
    }

    /// `FieldValueTooLong`: the value may hold at most `max` bytes or items.
    pub fn too_long(field: impl Into<String>, max: usize, unit: &str) -> Self {
        Self::new(
            field,
            CauseReason::FieldValueTooLong,
            format!("Too long: may not be more than {max} {unit}"),
        )
    }

    /// `FieldValueForbidden` with the given detail.
    pub fn forbidden(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(field, CauseReason::FieldValueForbidden, message)
    }
}
