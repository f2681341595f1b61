//! Object metadata checks: name / generateName, namespace, labels and
//! annotations (Kubernetes' `ValidateObjectMeta`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::cause::Cause;
use super::json::{self, push_invalid};
use super::names;

/// A name syntax check, e.g. [`names::dns1123_label`].
pub(super) type NameCheck = fn(&str) -> Vec<String>;

/// Total size limit of all annotation keys and values, in bytes.
const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// Validates `metadata` of a top-level object. `name_check` is the syntax
/// names of this kind must follow.
pub(super) fn validate_object_meta(
    obj: &Value,
    name_check: NameCheck,
    namespaced: bool,
    errs: &mut Vec<Cause>,
) {
    let Some(obj) = json::object(Some(obj), "", errs) else {
        return;
    };
    let Ok(meta) = json::optional_object(json::get(Some(obj), "metadata"), "metadata", errs) else {
        return;
    };

    let generate = json::get(meta, "generateName");
    let generate = json::string(generate, "metadata.generateName", errs).unwrap_or("");
    if !generate.is_empty() {
        push_invalid(
            errs,
            "metadata.generateName",
            names::name_prefix(generate, name_check),
        );
    }
    match json::get(meta, "name") {
        Some(name) => match json::string(Some(name), "metadata.name", errs) {
            Some("") if generate.is_empty() => errs.push(name_required()),
            Some("") | None => {}
            Some(name) => push_invalid(errs, "metadata.name", name_check(name)),
        },
        None if generate.is_empty() => errs.push(name_required()),
        None => {}
    }

    let namespace = json::get(meta, "namespace");
    let namespace = json::string(namespace, "metadata.namespace", errs);
    match namespace {
        Some(ns) if !ns.is_empty() && !namespaced => {
            errs.push(Cause::forbidden(
                "metadata.namespace",
                "not allowed on this type",
            ));
        }
        Some(ns) if !ns.is_empty() => {
            push_invalid(errs, "metadata.namespace", names::dns1123_label(ns))
        }
        _ if namespaced && !has_wrong_type(meta, "namespace") => {
            errs.push(Cause::required("metadata.namespace"))
        }
        _ => {}
    }

    validate_labels(json::get(meta, "labels"), "metadata.labels", errs);
    validate_annotations(json::get(meta, "annotations"), "metadata.annotations", errs);
}

fn name_required() -> Cause {
    Cause::new(
        "metadata.name",
        super::CauseReason::FieldValueRequired,
        "name or generateName is required",
    )
}

fn has_wrong_type(meta: Option<&json::Object>, key: &str) -> bool {
    json::get(meta, key).is_some_and(|v| !v.is_string())
}

/// Validates the labels and annotations of a pod template's metadata and
/// returns its labels.
pub(super) fn validate_template_meta<'a>(
    meta: Option<&'a Value>,
    path: &str,
    errs: &mut Vec<Cause>,
) -> BTreeMap<&'a str, &'a str> {
    let Ok(meta) = json::optional_object(meta, path, errs) else {
        return BTreeMap::new();
    };
    validate_annotations(
        json::get(meta, "annotations"),
        &json::child(path, "annotations"),
        errs,
    );
    validate_labels(
        json::get(meta, "labels"),
        &json::child(path, "labels"),
        errs,
    )
}

/// Validates a label map (keys are qualified names, values label values)
/// and returns its string entries.
pub(super) fn validate_labels<'a>(
    v: Option<&'a Value>,
    path: &str,
    errs: &mut Vec<Cause>,
) -> BTreeMap<&'a str, &'a str> {
    let labels = json::string_map(v, path, errs);
    for (k, v) in &labels {
        validate_label_key(k, path, errs);
        let msgs = names::label_value(v).into_iter();
        push_invalid(
            errs,
            path,
            msgs.map(|m| format!("label {k:?} value {v:?}: {m}"))
                .collect(),
        );
    }
    labels.into_iter().collect()
}

/// Validates one label key (a qualified name), reporting at `path`.
pub(super) fn validate_label_key(k: &str, path: &str, errs: &mut Vec<Cause>) {
    let msgs = names::qualified_name(k).into_iter();
    push_invalid(
        errs,
        path,
        msgs.map(|m| format!("key {k:?}: {m}")).collect(),
    );
}

fn validate_annotations(v: Option<&Value>, path: &str, errs: &mut Vec<Cause>) {
    let annotations = json::string_map(v, path, errs);
    let mut total = 0usize;
    for (k, v) in &annotations {
        let msgs = names::qualified_name(&k.to_lowercase()).into_iter();
        push_invalid(
            errs,
            path,
            msgs.map(|m| format!("key {k:?}: {m}")).collect(),
        );
        total = total.saturating_add(k.len()).saturating_add(v.len());
    }
    if total > ANNOTATIONS_MAX_BYTES {
        errs.push(Cause::too_long(path, ANNOTATIONS_MAX_BYTES, "bytes"));
    }
}
