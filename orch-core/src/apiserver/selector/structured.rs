//! Conversion of structured selectors: the `metav1.LabelSelector` form
//! (`{matchLabels, matchExpressions}`) used by Deployments and ReplicaSets,
//! and the plain `map[string]string` form of a Service's `spec.selector`.

use serde_json::{Map, Value};

use super::label::{LabelSelector, Operator, Requirement};
use super::SelectorError;

fn structure(term: &str, reason: impl Into<String>) -> SelectorError {
    SelectorError::InvalidRequirement {
        term: term.to_owned(),
        reason: reason.into(),
    }
}

fn string_field<'a>(
    term: &str,
    obj: &'a Map<String, Value>,
    name: &str,
) -> Result<&'a str, SelectorError> {
    match obj.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(structure(term, format!("{name} must be a string"))),
        None => Err(structure(term, format!("{name} is required"))),
    }
}

fn expression(index: usize, expr: &Value) -> Result<Requirement, SelectorError> {
    let term = format!("matchExpressions[{index}]");
    let obj = expr
        .as_object()
        .ok_or_else(|| structure(&term, "must be an object"))?;
    let key = string_field(&term, obj, "key")?;
    let operator = match string_field(&term, obj, "operator")? {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        other => {
            return Err(structure(
                &term,
                format!("{other:?} is not a valid label selector operator"),
            ))
        }
    };
    let values = match obj.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| structure(&term, "values must be strings"))?,
        Some(_) => return Err(structure(&term, "values must be a list of strings")),
    };
    Requirement::build(&term, key, operator, values)
}

fn equalities(
    term_prefix: &str,
    map: &Map<String, Value>,
) -> Result<Vec<Requirement>, SelectorError> {
    map.iter()
        .map(|(key, value)| {
            let term = format!("{term_prefix}[{key}]");
            let value = value
                .as_str()
                .ok_or_else(|| structure(&term, "value must be a string"))?;
            Requirement::build(&term, key, Operator::Equals, vec![value.to_owned()])
        })
        .collect()
}

impl LabelSelector {
    /// Converts a structured `metav1.LabelSelector`
    /// (`{"matchLabels": {..}, "matchExpressions": [{key, operator, values}]}`)
    /// with operators `In`, `NotIn`, `Exists`, `DoesNotExist`.
    ///
    /// Like Kubernetes' `LabelSelectorAsSelector`: `null` gives a selector
    /// that matches nothing, and a selector with no labels and no
    /// expressions matches everything.
    pub fn from_k8s(sel: &Value) -> Result<LabelSelector, SelectorError> {
        let obj = match sel {
            Value::Null => return Ok(LabelSelector::nothing()),
            Value::Object(obj) => obj,
            _ => return Err(structure("selector", "must be an object")),
        };
        let mut reqs = match obj.get("matchLabels") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(labels)) => equalities("matchLabels", labels)?,
            Some(_) => return Err(structure("matchLabels", "must be a map of strings")),
        };
        match obj.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(exprs)) => {
                for (i, expr) in exprs.iter().enumerate() {
                    reqs.push(expression(i, expr)?);
                }
            }
            Some(_) => return Err(structure("matchExpressions", "must be a list")),
        }
        Ok(LabelSelector::from_requirements(reqs))
    }

    /// Converts a plain label map (a Service's or ReplicationController's
    /// `spec.selector`): every entry must match exactly. Keys and values are
    /// validated. An empty map gives the selector that matches everything;
    /// callers that treat "no selector" specially (Services without a
    /// selector get no managed endpoints) must check for that themselves.
    pub fn from_map(map: &Map<String, Value>) -> Result<LabelSelector, SelectorError> {
        Ok(LabelSelector::from_requirements(equalities(
            "selector", map,
        )?))
    }
}
