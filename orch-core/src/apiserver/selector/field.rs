//! Field selectors (`metadata.name=foo,status.phase!=Running`), following
//! `k8s.io/apimachinery/pkg/fields`: comma-separated `=`, `==` or `!=`
//! terms, `\` escapes `\`, `,` and `=` in values, and fields are dotted
//! paths into the object (a missing field reads as the empty string).

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use super::SelectorError;

/// The operator of one field requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldOperator {
    /// `field=value` or `field==value`.
    Equals,
    /// `field!=value`.
    NotEquals,
}

/// One term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    /// The dotted field path, e.g. `metadata.name`.
    pub field: String,
    /// The comparison.
    pub operator: FieldOperator,
    /// The (unescaped) value to compare with.
    pub value: String,
}

/// A field selector: all requirements must hold. The empty selector
/// matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

/// Splits on commas not preceded by a backslash escape.
fn split_terms(input: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in input.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                terms.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&input[start..]);
    terms
}

/// Finds the leftmost operator (`!=`, `==`, then `=` at each position).
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, kind) in [
            ("!=", FieldOperator::NotEquals),
            ("==", FieldOperator::Equals),
            ("=", FieldOperator::Equals),
        ] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], kind, value));
            }
        }
    }
    None
}

/// Undoes `\\`, `\,` and `\=` escapes; unescaped `,`/`=` are errors.
fn unescape(term: &str, value: &str) -> Result<String, SelectorError> {
    let err = |reason: String| SelectorError::InvalidFieldTerm {
        term: term.to_owned(),
        reason,
    };
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => return Err(err(format!("invalid escape sequence: \\{e}"))),
                None => return Err(err("invalid escape sequence: \\".to_owned())),
            },
            ',' | '=' => return Err(err(format!("invalid selector: unescaped rune {c:?}"))),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The value of a dotted path as a string: strings as is, numbers and
/// booleans in JSON form, and anything missing, `null`, a list or a map as
/// the empty string.
fn field_value<'a>(obj: &'a Value, path: &str) -> std::borrow::Cow<'a, str> {
    let mut cur = obj;
    for part in path.split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return "".into(),
        }
    }
    match cur {
        Value::String(s) => s.as_str().into(),
        Value::Bool(b) => b.to_string().into(),
        Value::Number(n) => n.to_string().into(),
        _ => "".into(),
    }
}

impl FieldSelector {
    /// Parses `field=value`, `field==value` and `field!=value` terms
    /// separated by commas (empty terms are skipped, whitespace around field
    /// names and values is trimmed). The empty string matches everything.
    pub fn parse(input: &str) -> Result<FieldSelector, SelectorError> {
        let mut requirements = Vec::new();
        for raw in split_terms(input) {
            let term = raw.trim();
            if term.is_empty() {
                continue;
            }
            let Some((field, operator, value)) = split_term(term) else {
                return Err(SelectorError::InvalidFieldTerm {
                    term: term.to_owned(),
                    reason: "expected field=value, field==value or field!=value".to_owned(),
                });
            };
            let field = field.trim();
            if field.is_empty() {
                return Err(SelectorError::InvalidFieldTerm {
                    term: term.to_owned(),
                    reason: "expected a field name before the operator".to_owned(),
                });
            }
            let value = unescape(term, value.trim())?;
            requirements.push(FieldRequirement {
                field: field.to_owned(),
                operator,
                value,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// The requirements, in input order.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// True when there are no requirements (matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The value `field` must equal, if the selector has such an `=` term
    /// (e.g. `metadata.name` for kubectl's `--field-selector metadata.name=x`),
    /// useful to narrow a lookup before calling [`FieldSelector::matches`].
    pub fn exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == FieldOperator::Equals)
            .map(|r| r.value.as_str())
    }

    /// Rejects fields not in `allowed`, with Kubernetes' message
    /// `field label not supported: <field>`.
    pub fn validate_fields(&self, allowed: &[&str]) -> Result<(), SelectorError> {
        match self
            .requirements
            .iter()
            .find(|r| !allowed.contains(&r.field.as_str()))
        {
            Some(r) => Err(SelectorError::UnsupportedField {
                field: r.field.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Whether `obj` satisfies every requirement; fields are dotted paths
    /// (`metadata.name`, `spec.nodeName`, `status.phase`,
    /// `involvedObject.name`), and a missing field compares as `""`.
    pub fn matches(&self, obj: &Value) -> bool {
        self.requirements.iter().all(|r| {
            let actual = field_value(obj, &r.field);
            match r.operator {
                FieldOperator::Equals => actual == r.value.as_str(),
                FieldOperator::NotEquals => actual != r.value.as_str(),
            }
        })
    }
}

impl FromStr for FieldSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Canonical string form, with values escaped; parses back to an equal
/// selector (for values without surrounding whitespace).
impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = match r.operator {
                FieldOperator::Equals => "=",
                FieldOperator::NotEquals => "!=",
            };
            write!(f, "{}{op}{}", r.field, escape(&r.value))?;
        }
        Ok(())
    }
}
