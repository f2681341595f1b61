//! Property tests: no entry point panics, whatever JSON it is given, and
//! defaulting is idempotent.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Value};

use super::super::{apply_defaults, decode_check, validate_update};
use super::*;

const KINDS: &[&str] = &[
    "Namespace",
    "Node",
    "Pod",
    "Service",
    "EndpointSlice",
    "Deployment",
    "ReplicaSet",
    "Lease",
    "Event",
    "ConfigMap",
    "Secret",
    "Widget",
];

/// Field names the validators look at, so that random objects reach deep.
const KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "spec",
    "containers",
    "initContainers",
    "ports",
    "port",
    "containerPort",
    "hostPort",
    "protocol",
    "targetPort",
    "env",
    "resources",
    "limits",
    "requests",
    "cpu",
    "selector",
    "matchLabels",
    "matchExpressions",
    "key",
    "operator",
    "values",
    "template",
    "replicas",
    "strategy",
    "type",
    "rollingUpdate",
    "maxSurge",
    "maxUnavailable",
    "clusterIP",
    "clusterIPs",
    "externalName",
    "addressType",
    "endpoints",
    "addresses",
    "data",
    "binaryData",
    "stringData",
    "immutable",
    "involvedObject",
    "leaseDurationSeconds",
    "restartPolicy",
    "app",
];

const STRINGS: &[&str] = &[
    "TCP",
    "None",
    "In",
    "Exists",
    "RollingUpdate",
    "Recreate",
    "IPv4",
    "IPv6",
    "FQDN",
    "ExternalName",
    "25%",
    "0%",
    "-1",
    "10.0.0.1",
    "aGVsbG8=",
    "web",
    "",
    "apps/v1",
    "v1",
    "Always",
    "1.5Gi",
];

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-70_000i64..70_000).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        select(STRINGS).prop_map(Value::from),
        "[a-zA-Z0-9.%/_ -]{0,12}".prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 96, 6, |inner| {
        let key = prop_oneof![4 => select(KEYS).prop_map(str::to_owned), 1 => any::<String>()];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn fixtures() -> Vec<(&'static str, Value)> {
    vec![
        ("Pod", pod()),
        ("Service", service()),
        ("Deployment", deployment()),
        ("ReplicaSet", workload("ReplicaSet")),
        (
            "EndpointSlice",
            json!({"metadata": meta("s"), "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]}),
        ),
        (
            "Lease",
            json!({"metadata": meta("l"), "spec": {"leaseDurationSeconds": 10}}),
        ),
        (
            "ConfigMap",
            json!({"metadata": meta("c"), "data": {"a": "b"}, "binaryData": {"c": "aGVsbG8="}, "immutable": true}),
        ),
        (
            "Secret",
            json!({"metadata": meta("s"), "data": {"a": "aGVsbG8="}, "stringData": {"b": "c"}}),
        ),
        (
            "Event",
            json!({"metadata": meta("e.1"), "involvedObject": {"kind": "Pod"}}),
        ),
        ("Node", json!({"metadata": {"name": "n"}})),
        ("Namespace", json!({"metadata": {"name": "n"}})),
    ]
}

/// Replaces the node reached by following `choices` (child index modulo
/// the number of children, until a leaf) with `value`.
fn mutate(v: &mut Value, choices: &[usize], value: Value) {
    let Some((c, rest)) = choices.split_first() else {
        *v = value;
        return;
    };
    let child = match v {
        Value::Object(m) => {
            let len = m.len().max(1);
            m.values_mut().nth(c % len)
        }
        Value::Array(a) => {
            let len = a.len().max(1);
            a.get_mut(c % len)
        }
        _ => None,
    };
    match child {
        Some(child) => mutate(child, rest, value),
        None => *v = value,
    }
}

/// Runs every entry point; the test fails if any of them panics.
fn exercise(kind: &str, obj: &Value, old: &Value, namespaced: bool) {
    let _ = decode_check(kind, obj);
    let _ = validate(kind, obj, namespaced);
    let _ = validate_update(kind, obj, old, namespaced);
    let _ = validate_update(kind, old, obj, namespaced);
    let mut defaulted = obj.clone();
    apply_defaults(kind, &mut defaulted);
    let _ = validate_update(kind, &defaulted, obj, namespaced);
    let _ = decode_check(kind, &defaulted);
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_values(
        kind in select(KINDS),
        obj in arb_value(),
        old in arb_value(),
        namespaced in any::<bool>(),
    ) {
        exercise(kind, &obj, &old, namespaced);
    }

    #[test]
    fn never_panics_on_mutated_fixtures(
        which in any::<prop::sample::Index>(),
        choices in prop::collection::vec(any::<usize>(), 0..8),
        value in arb_value(),
        namespaced in any::<bool>(),
    ) {
        let all = fixtures();
        let (kind, old) = which.get(&all);
        let mut obj = old.clone();
        mutate(&mut obj, &choices, value);
        exercise(kind, &obj, old, namespaced);
    }

    #[test]
    fn defaulting_is_idempotent(kind in select(KINDS), obj in arb_value()) {
        let mut once = obj;
        apply_defaults(kind, &mut once);
        let mut twice = once.clone();
        apply_defaults(kind, &mut twice);
        prop_assert_eq!(once, twice);
    }
}

#[test]
fn fixtures_are_valid_before_and_after_defaulting() {
    for (kind, obj) in fixtures() {
        assert_valid(kind, &obj);
        assert_eq!(decode_check(kind, &obj), Ok(()), "{kind}");
        let mut defaulted = obj.clone();
        apply_defaults(kind, &mut defaulted);
        assert_valid(kind, &defaulted);
    }
}
