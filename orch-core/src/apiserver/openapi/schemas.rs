//! The definitions of the served kinds, generated from the `k8s-openapi`
//! types (their `schemars` schemas) and put in the shape Kubernetes' own
//! OpenAPI v2 document has: `#/definitions/io.k8s...` references, the
//! special string types, and a `x-kubernetes-group-version-kind` extension
//! on each served kind.
use k8s_openapi::api::{
    apps::v1::{Deployment, ReplicaSet},
    coordination::v1::Lease,
    core::v1::{ConfigMap, Event, Namespace, Node, Pod, Secret, Service},
    discovery::v1::EndpointSlice,
};
use k8s_openapi::schemars::{generate::SchemaSettings, JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::apiserver::resources::{Resource, RESOURCES};

/// Definition name of `IntOrString`.
pub const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
/// Definition name of `Quantity`.
pub const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

/// A served kind and the name of its definition.
#[derive(Debug, Clone)]
pub struct Root {
    /// The served resource.
    pub res: &'static Resource,
    /// Its definition, e.g. `io.k8s.api.apps.v1.Deployment`.
    pub definition: String,
}

fn add<T: JsonSchema>(gen: &mut SchemaGenerator) -> String {
    gen.subschema_for::<T>();
    T::schema_name().into_owned()
}

/// Adds the schema of `kind` (and all it references); `None` for a kind
/// this table does not know.
fn add_kind(gen: &mut SchemaGenerator, kind: &str) -> Option<String> {
    Some(match kind {
        "Namespace" => add::<Namespace>(gen),
        "Node" => add::<Node>(gen),
        "Pod" => add::<Pod>(gen),
        "Service" => add::<Service>(gen),
        "ConfigMap" => add::<ConfigMap>(gen),
        "Secret" => add::<Secret>(gen),
        "Event" => add::<Event>(gen),
        "Deployment" => add::<Deployment>(gen),
        "ReplicaSet" => add::<ReplicaSet>(gen),
        "EndpointSlice" => add::<EndpointSlice>(gen),
        "Lease" => add::<Lease>(gen),
        _ => return None,
    })
}

/// The definitions of every served kind and what they reference, with the
/// served kinds themselves.
pub fn definitions() -> (Map<String, Value>, Vec<Root>) {
    let mut settings = SchemaSettings::draft07();
    // Kubernetes' documents keep `description` beside `$ref`; no rewriting.
    settings.transforms.clear();
    settings.meta_schema = None;
    let mut gen = settings.into_generator();
    let roots: Vec<Root> = RESOURCES
        .iter()
        .filter_map(|res| add_kind(&mut gen, res.kind).map(|definition| Root { res, definition }))
        .collect();
    let mut defs = gen.take_definitions(false);
    for def in defs.values_mut() {
        tidy(def);
        // `k8s-openapi` lists `metadata` as required on every kind (its Rust
        // field is not optional); Kubernetes' document does not.
        if let Value::Object(d) = def {
            if let Some(Value::Array(req)) = d.get_mut("required") {
                req.retain(|r| r != "metadata");
                if req.is_empty() {
                    d.remove("required");
                }
            }
        }
    }
    special_types(&mut defs);
    for root in &roots {
        if let Some(Value::Object(def)) = defs.get_mut(&root.definition) {
            def.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{"group": root.res.group, "kind": root.res.kind, "version": root.res.version}]),
            );
        }
    }
    (defs, roots)
}

/// Swagger 2.0 (and kubectl's reading of it) wants a `$ref` alone but for
/// its description, and no empty `properties`.
fn tidy(v: &mut Value) {
    let Value::Object(m) = v else {
        return;
    };
    if m.contains_key("$ref") {
        m.retain(|k, _| k == "$ref" || k == "description");
        return;
    }
    if m.get("properties")
        .and_then(Value::as_object)
        .is_some_and(Map::is_empty)
    {
        m.remove("properties");
    }
    for (k, child) in m.iter_mut() {
        match k.as_str() {
            "properties" => child
                .as_object_mut()
                .into_iter()
                .flat_map(|p| p.values_mut())
                .for_each(tidy),
            "items" | "additionalProperties" => tidy(child),
            "allOf" => child.as_array_mut().into_iter().flatten().for_each(tidy),
            _ => {}
        }
    }
}

/// `IntOrString` and `Quantity` are strings in Kubernetes' document (kubectl
/// accepts any scalar for a string); `Time`/`MicroTime` already are.
fn special_types(defs: &mut Map<String, Value>) {
    let description = |defs: &Map<String, Value>, name: &str| {
        defs.get(name)
            .and_then(|d| d.get("description"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    if defs.contains_key(INT_OR_STRING) {
        let d = description(defs, INT_OR_STRING);
        defs.insert(
            INT_OR_STRING.into(),
            json!({"description": d, "type": "string", "format": "int-or-string"}),
        );
    }
    if defs.contains_key(QUANTITY) {
        let d = description(defs, QUANTITY);
        defs.insert(QUANTITY.into(), json!({"description": d, "type": "string"}));
    }
}
