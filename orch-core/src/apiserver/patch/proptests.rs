//! Property tests: `apply_patch` never panics, whatever the original
//! object and the patch body (random bytes, arbitrary JSON trees, and trees
//! salted with strategic merge directives and merge-key fields).

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::{apply_patch, PatchType};

const KINDS: &[&str] = &[
    "Pod",
    "Service",
    "Deployment",
    "ReplicaSet",
    "Node",
    "ConfigMap",
    "Widget",
];

/// Keys likely to hit interesting code paths.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "$patch", "$retainKeys", "$setElementOrder/containers", "$setElementOrder/finalizers",
            "$setElementOrder/ports", "$deleteFromPrimitiveList/finalizers", "$setElementOrder/",
            "$deleteFromPrimitiveList/", "metadata", "spec", "status", "template", "containers",
            "name", "ports", "port", "containerPort", "env", "finalizers", "conditions", "type",
            "uid", "ownerReferences", "volumes", "$x",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z]{0,3}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (0u64..4).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec!["replace", "delete", "merge", "a", "b", ""])
            .prop_map(Value::from),
        ".{0,4}".prop_map(Value::String),
    ]
}

fn tree() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn patch_type() -> impl Strategy<Value = PatchType> {
    prop::sample::select(vec![
        PatchType::Json,
        PatchType::Merge,
        PatchType::StrategicMerge,
    ])
}

/// Syntactically valid RFC 6902 operations with plausible paths.
fn json_ops() -> impl Strategy<Value = Vec<u8>> {
    let path = prop::collection::vec(prop_oneof![key(), "[0-3-]".prop_map(String::from)], 0..4)
        .prop_map(|parts| {
            parts
                .iter()
                .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
                .collect::<String>()
        });
    let op = (
        prop::sample::select(vec!["add", "remove", "replace", "move", "copy", "test"]),
        path.clone(),
        path,
        tree(),
    )
        .prop_map(|(op, path, from, value)| serde_json::json!({"op": op, "path": path, "from": from, "value": value}));
    prop::collection::vec(op, 0..6).prop_map(|ops| serde_json::to_vec(&ops).unwrap())
}

/// Drops `$`-keys recursively (plain data, as stored objects are).
fn without_directives(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k, without_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_directives).collect()),
        v => v,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_random_bytes(
        kind in prop::sample::select(KINDS),
        original in tree(),
        t in patch_type(),
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let _ = apply_patch(kind, &original, t, &body);
    }

    #[test]
    fn never_panics_on_json_trees(
        kind in prop::sample::select(KINDS),
        original in tree(),
        t in patch_type(),
        patch in tree(),
    ) {
        let body = serde_json::to_vec(&patch).unwrap();
        if let Ok(out) = apply_patch(kind, &original, t, &body) {
            prop_assert!(out.is_object());
        }
    }

    #[test]
    fn never_panics_on_json_patch_ops(original in tree(), body in json_ops()) {
        if let Ok(out) = apply_patch("Pod", &original, PatchType::Json, &body) {
            prop_assert!(out.is_object());
        }
    }

    #[test]
    fn empty_strategic_patch_is_identity_on_objects(
        kv in prop::collection::vec((key(), tree()), 0..5),
    ) {
        let original = without_directives(Value::Object(kv.into_iter().collect()));
        let out = apply_patch("Pod", &original, PatchType::StrategicMerge, b"{}").unwrap();
        prop_assert_eq!(out, original);
    }
}
