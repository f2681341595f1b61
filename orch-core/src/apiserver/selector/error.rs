//! The error type shared by label and field selector parsing.

/// Why a selector could not be parsed or converted. Every variant names the
/// offending term (`term`) so the message can be shown to the client as is
/// (Kubernetes answers such errors with HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// The term does not follow the selector grammar.
    #[error("invalid term {term:?}: found '{found}', expected: {expected}")]
    Syntax {
        /// The offending term (text between top-level commas).
        term: String,
        /// The token that was found (or `end of string`).
        found: String,
        /// What the grammar expected at that point.
        expected: String,
    },
    /// A label key is not a valid qualified name.
    #[error("invalid label key {key:?} in {term:?}: {reason}")]
    InvalidKey {
        /// The offending term.
        term: String,
        /// The rejected key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A label value is not valid.
    #[error("invalid label value {value:?} in {term:?}: {reason}")]
    InvalidValue {
        /// The offending term.
        term: String,
        /// The rejected value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The operator and the values of a requirement do not fit together
    /// (e.g. `in` with an empty set, `Exists` with values, unknown operator).
    #[error("invalid requirement {term:?}: {reason}")]
    InvalidRequirement {
        /// The offending term.
        term: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A field selector term could not be parsed.
    #[error("invalid field selector term {term:?}: {reason}")]
    InvalidFieldTerm {
        /// The offending term.
        term: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A field selector uses a field the resource does not support.
    #[error("field label not supported: {field}")]
    UnsupportedField {
        /// The unsupported field path, e.g. `spec.foo`.
        field: String,
    },
}
