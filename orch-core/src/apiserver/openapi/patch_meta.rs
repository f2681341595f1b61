//! The strategic-merge metadata of list fields as vendor extensions
//! (`x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`): kubectl
//! apply computes its patches from them once the document has definitions.
//! They come from the table the API server merges with, so client and
//! server agree on every list.
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::schemas::Root;
use crate::apiserver::patch::{list_kind, ListKind};

/// Fields whose patch strategy includes `retainKeys` (the client sends
/// `$retainKeys` so a changed union drops its other members).
const RETAIN_KEYS: &[(&str, &str)] = &[
    ("io.k8s.api.apps.v1.DeploymentSpec", "strategy"),
    ("io.k8s.api.core.v1.PodSpec", "volumes"),
];

/// Deepest nesting followed from a kind's root (no served kind nests deeper).
const MAX_DEPTH: usize = 32;

/// A property of a definition: (definition, field).
type Field = (String, String);

/// The extensions one property gets.
#[derive(Debug, Default)]
struct Strategy {
    /// `merge`, `retainKeys`, joined by commas.
    parts: Vec<&'static str>,
    merge_key: Option<&'static str>,
}

/// Adds the patch extensions to every list property the served kinds reach.
pub fn annotate(defs: &mut Map<String, Value>, roots: &[Root]) {
    let mut marks: BTreeMap<Field, ListKind> = BTreeMap::new();
    for root in roots {
        walk(
            defs,
            root.res.kind,
            &root.definition,
            &mut Vec::new(),
            &mut marks,
        );
    }
    let mut strategies: BTreeMap<Field, Strategy> = BTreeMap::new();
    for (at, lk) in marks {
        let entry = strategies.entry(at).or_default();
        entry.parts.push("merge");
        if let ListKind::MergeByKey(key) = lk {
            entry.merge_key = Some(key);
        }
    }
    for (def, field) in RETAIN_KEYS {
        let entry = strategies
            .entry(((*def).to_string(), (*field).to_string()))
            .or_default();
        entry.parts.push("retainKeys");
    }
    for ((def, field), strategy) in strategies {
        let Some(Value::Object(prop)) = defs
            .get_mut(&def)
            .and_then(|d| d.get_mut("properties"))
            .and_then(|p| p.get_mut(&field))
        else {
            continue;
        };
        prop.insert(
            "x-kubernetes-patch-strategy".into(),
            strategy.parts.join(",").into(),
        );
        if let Some(key) = strategy.merge_key {
            prop.insert("x-kubernetes-patch-merge-key".into(), key.into());
        }
    }
}

fn reference(v: &Value) -> Option<&str> {
    v.get("$ref")?.as_str()?.strip_prefix("#/definitions/")
}

/// Follows `def`'s properties from the root of a `kind` object, `path`
/// being the field names so far (list elements add none).
fn walk(
    defs: &Map<String, Value>,
    kind: &str,
    def: &str,
    path: &mut Vec<String>,
    marks: &mut BTreeMap<Field, ListKind>,
) {
    if path.len() > MAX_DEPTH {
        return;
    }
    let Some(props) = defs
        .get(def)
        .and_then(|d| d.get("properties"))
        .and_then(Value::as_object)
    else {
        return;
    };
    for (name, prop) in props {
        path.push(name.clone());
        let next = if prop.get("type").and_then(Value::as_str) == Some("array") {
            let lk = list_kind(kind, path);
            if lk != ListKind::Replace {
                marks.insert((def.to_string(), name.clone()), lk);
            }
            prop.get("items").and_then(reference)
        } else {
            reference(prop)
        };
        if let Some(next) = next {
            walk(defs, kind, next, path, marks);
        }
        path.pop();
    }
}
