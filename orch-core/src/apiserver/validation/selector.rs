//! Label selectors (`matchLabels` and `matchExpressions`): validation and
//! matching against a label set.

use std::collections::BTreeMap;

use serde_json::Value;

use super::cause::Cause;
use super::common::{check_enum, check_required_syntax};
use super::json::{self, child, push_invalid};
use super::meta;
use super::names;

const OPERATORS: &[&str] = &["In", "NotIn", "Exists", "DoesNotExist"];

/// A valid label selector.
#[derive(Debug, Default)]
pub(super) struct Selector<'a> {
    match_labels: BTreeMap<&'a str, &'a str>,
    requirements: Vec<Requirement<'a>>,
}

#[derive(Debug)]
struct Requirement<'a> {
    key: &'a str,
    operator: &'a str,
    values: Vec<&'a str>,
}

impl Selector<'_> {
    /// A selector without any term (matches everything).
    pub(super) fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.requirements.is_empty()
    }

    /// Whether `labels` satisfy every term of the selector.
    pub(super) fn matches(&self, labels: &BTreeMap<&str, &str>) -> bool {
        let labels_ok = self
            .match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v));
        labels_ok
            && self.requirements.iter().all(|r| {
                let value = labels.get(r.key);
                match r.operator {
                    "In" => value.is_some_and(|v| r.values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !r.values.contains(v)),
                    "Exists" => value.is_some(),
                    _ => value.is_none(),
                }
            })
    }
}

/// Validates a label selector at `path`; returns it only when it is
/// entirely valid (so that matching is well defined).
pub(super) fn validate_label_selector<'a>(
    v: &'a Value,
    path: &str,
    errs: &mut Vec<Cause>,
) -> Option<Selector<'a>> {
    let before = errs.len();
    let obj = Some(json::object(Some(v), path, errs)?);
    let match_labels = meta::validate_labels(
        json::get(obj, "matchLabels"),
        &child(path, "matchLabels"),
        errs,
    );
    let exprs_path = child(path, "matchExpressions");
    let requirements = json::objects(json::get(obj, "matchExpressions"), &exprs_path, errs)
        .into_iter()
        .filter_map(|(epath, e)| validate_requirement(e, &epath, errs))
        .collect();
    (errs.len() == before).then_some(Selector {
        match_labels,
        requirements,
    })
}

fn validate_requirement<'a>(
    e: &'a json::Object,
    path: &str,
    errs: &mut Vec<Cause>,
) -> Option<Requirement<'a>> {
    let e = Some(e);
    let key = check_required_syntax(
        json::get(e, "key"),
        &child(path, "key"),
        names::qualified_name,
        errs,
    );
    let op_path = child(path, "operator");
    let operator = check_enum(json::get(e, "operator"), &op_path, OPERATORS, errs);
    if operator.is_none() && json::get(e, "operator").is_none() {
        errs.push(Cause::required(&op_path));
    }

    let values_path = child(path, "values");
    let mut values = Vec::new();
    for (i, v) in json::array(json::get(e, "values"), &values_path, errs)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let vpath = json::index(&values_path, i);
        if let Some(v) = json::string(Some(v), &vpath, errs) {
            push_invalid(errs, &vpath, names::label_value(v));
            values.push(v);
        }
    }
    match operator {
        Some("In" | "NotIn") if values.is_empty() => errs.push(Cause::new(
            values_path,
            super::CauseReason::FieldValueRequired,
            "must be specified when `operator` is 'In' or 'NotIn'",
        )),
        Some("Exists" | "DoesNotExist") if !values.is_empty() => errs.push(Cause::forbidden(
            values_path,
            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        )),
        _ => {}
    }
    Some(Requirement {
        key: key?,
        operator: operator?,
        values,
    })
}
