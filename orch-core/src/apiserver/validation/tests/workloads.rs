//! Deployment and ReplicaSet rules: selector, template, replicas, strategy.

use serde_json::{json, Value};

use super::*;
use CauseReason::*;

const MISMATCH: &str = "`selector` does not match template `labels`";

fn with_selector(kind: &str, selector: Value) -> Value {
    with(&workload(kind), "/spec/selector", selector)
}

#[test]
fn selector_is_required_and_non_empty() {
    for kind in ["Deployment", "ReplicaSet"] {
        assert_valid(kind, &workload(kind));
        assert_cause(
            kind,
            &without(&workload(kind), "/spec/selector"),
            "spec.selector",
            FieldValueRequired,
        );
        assert_cause(
            kind,
            &with_selector(kind, json!({})),
            "spec.selector",
            FieldValueInvalid,
        );
        let empty = json!({"matchLabels": {}, "matchExpressions": []});
        assert_cause(
            kind,
            &with_selector(kind, empty),
            "spec.selector",
            FieldValueInvalid,
        );
    }
}

#[test]
fn selector_must_match_template_labels() {
    for kind in ["Deployment", "ReplicaSet"] {
        let other = with_selector(kind, json!({"matchLabels": {"app": "db"}}));
        let cause = assert_cause(
            kind,
            &other,
            "spec.template.metadata.labels",
            FieldValueInvalid,
        );
        assert_eq!(cause.message, MISMATCH);
        let no_labels = without(&workload(kind), "/spec/template/metadata/labels");
        assert_cause(
            kind,
            &no_labels,
            "spec.template.metadata.labels",
            FieldValueInvalid,
        );
    }
}

#[test]
fn match_expressions_are_evaluated() {
    let expr = |e: Value| with_selector("Deployment", json!({"matchExpressions": [e]}));
    for good in [
        json!({"key": "app", "operator": "In", "values": ["web", "api"]}),
        json!({"key": "app", "operator": "NotIn", "values": ["db"]}),
        json!({"key": "tier", "operator": "Exists"}),
        json!({"key": "canary", "operator": "DoesNotExist"}),
    ] {
        assert_valid("Deployment", &expr(good));
    }
    for bad in [
        json!({"key": "app", "operator": "In", "values": ["db"]}),
        json!({"key": "app", "operator": "NotIn", "values": ["web"]}),
        json!({"key": "canary", "operator": "Exists"}),
        json!({"key": "app", "operator": "DoesNotExist"}),
    ] {
        assert_cause(
            "Deployment",
            &expr(bad),
            "spec.template.metadata.labels",
            FieldValueInvalid,
        );
    }
    let both = json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["back"]}]});
    assert_cause(
        "Deployment",
        &with_selector("Deployment", both),
        "spec.template.metadata.labels",
        FieldValueInvalid,
    );
}

#[test]
fn match_expressions_are_validated() {
    let expr = |e: Value| with_selector("ReplicaSet", json!({"matchExpressions": [e]}));
    let path = "spec.selector.matchExpressions[0]";
    let op = expr(json!({"key": "app", "operator": "Like", "values": ["web"]}));
    assert_cause(
        "ReplicaSet",
        &op,
        &format!("{path}.operator"),
        FieldValueNotSupported,
    );
    let no_op = expr(json!({"key": "app", "values": ["web"]}));
    assert_cause(
        "ReplicaSet",
        &no_op,
        &format!("{path}.operator"),
        FieldValueRequired,
    );
    let no_values = expr(json!({"key": "app", "operator": "In"}));
    assert_cause(
        "ReplicaSet",
        &no_values,
        &format!("{path}.values"),
        FieldValueRequired,
    );
    let values = expr(json!({"key": "app", "operator": "Exists", "values": ["web"]}));
    assert_cause(
        "ReplicaSet",
        &values,
        &format!("{path}.values"),
        FieldValueForbidden,
    );
    let key = expr(json!({"key": "bad key", "operator": "Exists"}));
    assert_cause(
        "ReplicaSet",
        &key,
        &format!("{path}.key"),
        FieldValueInvalid,
    );
    let value = expr(json!({"key": "app", "operator": "In", "values": ["-web"]}));
    assert_cause(
        "ReplicaSet",
        &value,
        &format!("{path}.values[0]"),
        FieldValueInvalid,
    );
    let labels = with_selector("ReplicaSet", json!({"matchLabels": {"app": "-web"}}));
    assert_cause(
        "ReplicaSet",
        &labels,
        "spec.selector.matchLabels",
        FieldValueInvalid,
    );
}

#[test]
fn replicas_are_non_negative() {
    for kind in ["Deployment", "ReplicaSet"] {
        assert_valid(kind, &with(&workload(kind), "/spec/replicas", json!(0)));
        assert_cause(
            kind,
            &with(&workload(kind), "/spec/replicas", json!(-1)),
            "spec.replicas",
            FieldValueInvalid,
        );
        let three = with(&workload(kind), "/spec/replicas", json!("three"));
        assert_cause(kind, &three, "spec.replicas", FieldValueInvalid);
    }
}

#[test]
fn template_pod_spec_is_validated_with_prefixed_paths() {
    for kind in ["Deployment", "ReplicaSet"] {
        let nameless = without(&workload(kind), "/spec/template/spec/containers/0/name");
        assert_cause(
            kind,
            &nameless,
            "spec.template.spec.containers[0].name",
            FieldValueRequired,
        );
        let port = with(
            &workload(kind),
            "/spec/template/spec/containers/0/ports/0/containerPort",
            json!(0),
        );
        assert_cause(
            kind,
            &port,
            "spec.template.spec.containers[0].ports[0].containerPort",
            FieldValueInvalid,
        );
        let no_template = without(&workload(kind), "/spec/template");
        assert_cause(
            kind,
            &no_template,
            "spec.template.spec.containers",
            FieldValueRequired,
        );
        let label = with(
            &workload(kind),
            "/spec/template/metadata/labels/bad key",
            json!("x"),
        );
        assert_cause(
            kind,
            &label,
            "spec.template.metadata.labels",
            FieldValueInvalid,
        );
    }
}

#[test]
fn template_restart_policy_must_be_always() {
    let always = with(
        &deployment(),
        "/spec/template/spec/restartPolicy",
        json!("Always"),
    );
    assert_valid("Deployment", &always);
    let never = with(
        &deployment(),
        "/spec/template/spec/restartPolicy",
        json!("Never"),
    );
    assert_cause(
        "Deployment",
        &never,
        "spec.template.spec.restartPolicy",
        FieldValueNotSupported,
    );
}

fn with_strategy(strategy: Value) -> Value {
    with(&deployment(), "/spec/strategy", strategy)
}

#[test]
fn strategy_type_is_supported() {
    assert_valid("Deployment", &with_strategy(json!({"type": "Recreate"})));
    assert_valid(
        "Deployment",
        &with_strategy(json!({"type": "RollingUpdate"})),
    );
    assert_cause(
        "Deployment",
        &with_strategy(json!({"type": "BlueGreen"})),
        "spec.strategy.type",
        FieldValueNotSupported,
    );
    let recreate = with_strategy(json!({"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}));
    assert_cause(
        "Deployment",
        &recreate,
        "spec.strategy.rollingUpdate",
        FieldValueForbidden,
    );
}

#[test]
fn rolling_update_values_are_ints_or_percentages() {
    let ru = |surge: Value, unavailable: Value| {
        with_strategy(
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}),
        )
    };
    for (s, u) in [
        (json!("25%"), json!("25%")),
        (json!(1), json!(0)),
        (json!(0), json!("100%")),
        (json!("0%"), json!(2)),
    ] {
        assert_valid("Deployment", &ru(s, u));
    }
    let path = "spec.strategy.rollingUpdate";
    for bad in [
        json!("25"),
        json!("%"),
        json!("1.5%"),
        json!(-1),
        json!(true),
    ] {
        assert_cause(
            "Deployment",
            &ru(bad.clone(), json!(1)),
            &format!("{path}.maxSurge"),
            FieldValueInvalid,
        );
        assert_cause(
            "Deployment",
            &ru(json!(1), bad),
            &format!("{path}.maxUnavailable"),
            FieldValueInvalid,
        );
    }
    assert_cause(
        "Deployment",
        &ru(json!(1), json!("101%")),
        &format!("{path}.maxUnavailable"),
        FieldValueInvalid,
    );
    for (s, u) in [
        (json!(0), json!(0)),
        (json!("0%"), json!(0)),
        (json!(0), json!("0%")),
    ] {
        assert_cause(
            "Deployment",
            &ru(s, u),
            &format!("{path}.maxUnavailable"),
            FieldValueInvalid,
        );
    }
}

#[test]
fn deployment_counters_are_non_negative() {
    for field in [
        "revisionHistoryLimit",
        "progressDeadlineSeconds",
        "minReadySeconds",
    ] {
        let obj = with(&deployment(), &format!("/spec/{field}"), json!(-1));
        assert_cause(
            "Deployment",
            &obj,
            &format!("spec.{field}"),
            FieldValueInvalid,
        );
        assert_valid(
            "Deployment",
            &with(&deployment(), &format!("/spec/{field}"), json!(5)),
        );
    }
}
