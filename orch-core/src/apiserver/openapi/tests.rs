//! The OpenAPI document: shape kubectl 1.20 can parse, the served kinds
//! with their group-version-kind, the special types, patch metadata, and
//! the two encodings.
use http::{header, HeaderMap, HeaderValue};
use prost::Message;
use serde_json::Value;

use super::gnostic::{self, Document};
use super::*;
use crate::apiserver::resources::RESOURCES;

fn defs(doc: &Value) -> &serde_json::Map<String, Value> {
    doc["definitions"].as_object().unwrap()
}

#[test]
fn protobuf_decodes_back_to_the_json_document() {
    let enc = encoded();
    let decoded = Document::decode(enc.protobuf.as_ref()).unwrap();
    assert_eq!(decoded.swagger, "2.0");
    let json: Value = serde_json::from_slice(&enc.json).unwrap();
    assert_eq!(decoded, encode::document(&json));
    let names: Vec<&str> = decoded
        .definitions
        .as_ref()
        .unwrap()
        .additional_properties
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(names.len(), defs(&json).len());
    assert!(names.contains(&"io.k8s.api.apps.v1.DeploymentSpec"));
}

fn gvk_of(def: &gnostic::Schema) -> Option<Value> {
    let ext = def
        .vendor_extension
        .iter()
        .find(|e| e.name == "x-kubernetes-group-version-kind")?;
    // kubectl reads the value as YAML.
    serde_yaml::from_str(&ext.value.as_ref()?.yaml).ok()
}

#[test]
fn every_served_kind_has_a_definition_with_its_gvk() {
    let doc = Document::decode(encoded().protobuf.as_ref()).unwrap();
    let defs = doc.definitions.unwrap().additional_properties;
    for r in RESOURCES {
        let found: Vec<&str> = defs
            .iter()
            .filter(|d| {
                d.value.as_ref().and_then(gvk_of)
                    == Some(serde_json::json!([{"group": r.group, "kind": r.kind, "version": r.version}]))
            })
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(found.len(), 1, "{}: {found:?}", r.kind);
        let group = if r.group.is_empty() {
            "core"
        } else {
            r.group.split('.').next().unwrap()
        };
        assert_eq!(
            found[0],
            format!("io.k8s.api.{group}.{}.{}", r.version, r.kind)
        );
    }
}

#[test]
fn special_types_are_strings_as_in_kubernetes() {
    let doc = document();
    let d = defs(&doc);
    let ios = &d["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(ios["type"], "string");
    assert_eq!(ios["format"], "int-or-string");
    assert_eq!(
        d["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"],
        "string"
    );
    for t in ["Time", "MicroTime"] {
        let s = &d[&format!("io.k8s.apimachinery.pkg.apis.meta.v1.{t}")];
        assert_eq!(
            (s["type"].as_str(), s["format"].as_str()),
            (Some("string"), Some("date-time"))
        );
    }
    let meta = &d["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"];
    assert!(meta["properties"]["name"].is_object());
    assert!(d["io.k8s.api.apps.v1.Deployment"].get("required").is_none());
    assert_eq!(
        d["io.k8s.api.core.v1.PodSpec"]["required"],
        serde_json::json!(["containers"])
    );
}

/// What kubectl 1.20's parser refuses: a `$ref` with a type or properties
/// (a description and extensions beside it are fine),
/// a reference to a missing definition, an object with empty properties, an
/// array without exactly one item schema, more than one type.
fn check_kubectl_parsable(at: &str, s: &Value, all: &serde_json::Map<String, Value>) {
    let m = s
        .as_object()
        .unwrap_or_else(|| panic!("{at}: not an object"));
    if let Some(r) = m.get("$ref") {
        let name = r.as_str().unwrap().strip_prefix("#/definitions/").unwrap();
        assert!(all.contains_key(name), "{at}: dangling {name}");
        assert!(
            !m.contains_key("type") && !m.contains_key("properties"),
            "{at}: {m:?}"
        );
        return;
    }
    if let Some(p) = m.get("properties") {
        let p = p.as_object().unwrap();
        assert!(!p.is_empty(), "{at}: empty properties");
        for (k, v) in p {
            check_kubectl_parsable(&format!("{at}.{k}"), v, all);
        }
    }
    match m
        .get("type")
        .map(|t| t.as_str().unwrap_or_else(|| panic!("{at}: {t}")))
    {
        Some("array") => check_kubectl_parsable(&format!("{at}[]"), &m["items"], all),
        Some("object" | "string" | "integer" | "number" | "boolean") | None => {}
        Some(t) => panic!("{at}: type {t}"),
    }
    if let Some(a) = m.get("additionalProperties").filter(|a| a.is_object()) {
        check_kubectl_parsable(&format!("{at}{{}}"), a, all);
    }
}

#[test]
fn every_definition_is_parsable_by_kubectl() {
    let doc = document();
    let d = defs(&doc);
    assert!(d.len() > 100, "{}", d.len());
    for (name, s) in d {
        check_kubectl_parsable(name, s, d);
    }
}

#[test]
fn lists_carry_the_servers_patch_metadata() {
    let doc = document();
    let d = defs(&doc);
    let prop = |def: &str, field: &str| d[def]["properties"][field].clone();
    let strategy = |def: &str, field: &str| {
        let p = prop(def, field);
        (
            p["x-kubernetes-patch-strategy"].as_str().map(str::to_owned),
            p["x-kubernetes-patch-merge-key"]
                .as_str()
                .map(str::to_owned),
        )
    };
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        strategy("io.k8s.api.core.v1.PodSpec", "containers"),
        (s("merge"), s("name"))
    );
    assert_eq!(
        strategy("io.k8s.api.core.v1.PodSpec", "volumes"),
        (s("merge,retainKeys"), s("name"))
    );
    assert_eq!(
        strategy("io.k8s.api.core.v1.Container", "env"),
        (s("merge"), s("name"))
    );
    assert_eq!(
        strategy("io.k8s.api.core.v1.Container", "ports"),
        (s("merge"), s("containerPort"))
    );
    assert_eq!(
        strategy("io.k8s.api.core.v1.ServiceSpec", "ports"),
        (s("merge"), s("port"))
    );
    assert_eq!(
        strategy(
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
            "finalizers"
        ),
        (s("merge"), None)
    );
    assert_eq!(
        strategy("io.k8s.api.apps.v1.DeploymentSpec", "strategy"),
        (s("retainKeys"), None)
    );
    assert_eq!(
        strategy("io.k8s.api.core.v1.PodSpec", "tolerations"),
        (None, None)
    );
    assert_eq!(
        strategy("io.k8s.api.core.v1.Container", "args"),
        (None, None)
    );
}

#[test]
fn served_as_protobuf_or_json_by_accept() {
    let mut h = HeaderMap::new();
    h.insert(
        header::ACCEPT,
        HeaderValue::from_static("application/com.github.proto-openapi.spec.v2@v1.0+protobuf"),
    );
    let r = response(&h);
    assert_eq!(r.headers()[header::CONTENT_TYPE], PROTOBUF);
    h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    assert_eq!(
        response(&h).headers()[header::CONTENT_TYPE],
        "application/json"
    );
    assert_eq!(
        response(&HeaderMap::new()).headers()[header::CONTENT_TYPE],
        "application/json"
    );
}

#[test]
fn build_time_and_size() {
    let enc = encoded();
    assert!(enc.protobuf.len() > 10_000 && enc.json.len() > enc.protobuf.len() / 2);
    eprintln!(
        "OpenAPI v2: {} definitions, {} bytes protobuf, {} bytes JSON, built in {:?}",
        defs(&serde_json::from_slice(&enc.json).unwrap()).len(),
        enc.protobuf.len(),
        enc.json.len(),
        enc.built_in
    );
}
