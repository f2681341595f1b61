//! Deployment and ReplicaSet validation: replicas, selector, pod template
//! and (for Deployments) the rollout strategy.

use serde_json::Value;

use super::cause::Cause;
use super::common::{check_enum, check_non_negative};
use super::json::{self, Object};
use super::meta;
use super::pod::validate_pod_spec;
use super::selector::{validate_label_selector, Selector};

const STRATEGY_TYPES: &[&str] = &["RollingUpdate", "Recreate"];
const RU_PATH: &str = "spec.strategy.rollingUpdate";
const PERCENT_MSG: &str = "a valid percent string must be a numeric string followed by an \
ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";

/// Validates a ReplicaSet's spec.
pub(super) fn validate_replica_set(obj: &Value, errs: &mut Vec<Cause>) {
    validate_workload(obj, errs);
}

/// Validates a Deployment's spec.
pub(super) fn validate_deployment(obj: &Value, errs: &mut Vec<Cause>) {
    let spec = validate_workload(obj, errs);
    check_non_negative(
        json::get(spec, "revisionHistoryLimit"),
        "spec.revisionHistoryLimit",
        errs,
    );
    check_non_negative(
        json::get(spec, "progressDeadlineSeconds"),
        "spec.progressDeadlineSeconds",
        errs,
    );
    validate_strategy(json::get(spec, "strategy"), errs);
}

/// Checks shared by Deployments and ReplicaSets; returns the spec.
fn validate_workload<'a>(obj: &'a Value, errs: &mut Vec<Cause>) -> Option<&'a Object> {
    let Ok(spec) = json::optional_object(json::get(obj.as_object(), "spec"), "spec", errs) else {
        return None;
    };
    check_non_negative(json::get(spec, "replicas"), "spec.replicas", errs);
    check_non_negative(
        json::get(spec, "minReadySeconds"),
        "spec.minReadySeconds",
        errs,
    );

    let selector = match json::get(spec, "selector") {
        None => {
            errs.push(Cause::required("spec.selector"));
            None
        }
        Some(v) => validate_label_selector(v, "spec.selector", errs),
    };
    if selector.as_ref().is_some_and(Selector::is_empty) {
        errs.push(Cause::invalid("spec.selector", "empty selector is invalid"));
    }
    let selector = selector.filter(|s| !s.is_empty());

    let Ok(template) = json::optional_object(json::get(spec, "template"), "spec.template", errs)
    else {
        return spec;
    };
    let labels = meta::validate_template_meta(
        json::get(template, "metadata"),
        "spec.template.metadata",
        errs,
    );
    if selector.is_some_and(|s| !s.matches(&labels)) {
        errs.push(Cause::invalid(
            "spec.template.metadata.labels",
            "`selector` does not match template `labels`",
        ));
    }
    validate_pod_spec(
        json::get(template, "spec"),
        "spec.template.spec",
        true,
        errs,
    );
    spec
}

fn validate_strategy(strategy: Option<&Value>, errs: &mut Vec<Cause>) {
    let strategy = json::object(strategy, "spec.strategy", errs);
    let ty = check_enum(
        json::get(strategy, "type"),
        "spec.strategy.type",
        STRATEGY_TYPES,
        errs,
    );
    let rolling = json::get(strategy, "rollingUpdate");
    if ty == Some("Recreate") && rolling.is_some() {
        errs.push(Cause::forbidden(
            RU_PATH,
            "may not be specified when strategy `type` is 'Recreate'",
        ));
        return;
    }
    let rolling = json::object(rolling, RU_PATH, errs);
    let surge_path = json::child(RU_PATH, "maxSurge");
    let surge = int_or_percent(json::get(rolling, "maxSurge"), &surge_path, errs);
    let unavailable_path = json::child(RU_PATH, "maxUnavailable");
    let unavailable = int_or_percent(
        json::get(rolling, "maxUnavailable"),
        &unavailable_path,
        errs,
    );
    if let Some((n, true)) = unavailable {
        if n > 100 {
            errs.push(Cause::invalid(
                &unavailable_path,
                "must not be greater than 100%",
            ));
        }
    }
    if surge.is_some_and(|(n, _)| n == 0) && unavailable.is_some_and(|(n, _)| n == 0) {
        errs.push(Cause::invalid(
            &unavailable_path,
            "may not be 0 when `maxSurge` is 0",
        ));
    }
}

/// A non-negative integer or a percentage string `N%`; returns the number
/// and whether it was a percentage.
fn int_or_percent(v: Option<&Value>, path: &str, errs: &mut Vec<Cause>) -> Option<(u64, bool)> {
    match v? {
        Value::String(s) => {
            let digits = s
                .strip_suffix('%')
                .filter(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()));
            match digits {
                Some(d) => Some((d.parse().unwrap_or(u64::MAX), true)),
                None => {
                    errs.push(Cause::invalid(path, PERCENT_MSG));
                    None
                }
            }
        }
        v => {
            let n = check_non_negative(Some(v), path, errs)?;
            u64::try_from(n).ok().map(|n| (n, false))
        }
    }
}
