//! Turns the Swagger 2.0 document (JSON) into gnostic's protobuf messages,
//! keyword by keyword. Keywords Swagger 2.0 has no field for (`oneOf`,
//! `nullable`, ...) are dropped; `x-` keywords become vendor extensions.
use serde_json::{Map, Value};

use super::gnostic::{
    AdditionalProperties, AdditionalPropertiesItem, Any, Definitions, Document, Info, ItemsItem,
    NamedAny, NamedSchema, Paths, Properties, Schema, TypeItem,
};

/// The protobuf form of a Swagger 2.0 document.
pub fn document(doc: &Value) -> Document {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let info = doc.get("info").map(|i| Info {
        title: text(i, "title"),
        version: text(i, "version"),
    });
    Document {
        swagger: text(doc, "swagger"),
        info,
        paths: Some(Paths::default()),
        definitions: doc
            .get("definitions")
            .and_then(Value::as_object)
            .map(|defs| Definitions {
                additional_properties: named(defs),
            }),
    }
}

fn named(m: &Map<String, Value>) -> Vec<NamedSchema> {
    m.iter()
        .map(|(name, v)| NamedSchema {
            name: name.clone(),
            value: Some(schema(v)),
        })
        .collect()
}

fn any(v: &Value) -> Any {
    Any {
        yaml: v.to_string(),
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// One schema object; anything that is not an object gives an empty schema.
pub fn schema(v: &Value) -> Schema {
    let mut s = Schema::default();
    let Some(m) = v.as_object() else {
        return s;
    };
    let string = |v: &Value| v.as_str().unwrap_or("").to_string();
    let float = |v: &Value| v.as_f64().unwrap_or(0.0);
    let int = |v: &Value| v.as_i64().unwrap_or(0);
    let boolean = |v: &Value| v.as_bool().unwrap_or(false);
    for (k, v) in m {
        match k.as_str() {
            "$ref" => s.xref = string(v),
            "format" => s.format = string(v),
            "title" => s.title = string(v),
            "description" => s.description = string(v),
            "default" => s.default = Some(any(v)),
            "multipleOf" => s.multiple_of = float(v),
            "maximum" => s.maximum = float(v),
            "exclusiveMaximum" => s.exclusive_maximum = boolean(v),
            "minimum" => s.minimum = float(v),
            "exclusiveMinimum" => s.exclusive_minimum = boolean(v),
            "maxLength" => s.max_length = int(v),
            "minLength" => s.min_length = int(v),
            "pattern" => s.pattern = string(v),
            "maxItems" => s.max_items = int(v),
            "minItems" => s.min_items = int(v),
            "uniqueItems" => s.unique_items = boolean(v),
            "maxProperties" => s.max_properties = int(v),
            "minProperties" => s.min_properties = int(v),
            "required" => s.required = strings(v),
            "enum" => {
                s.r#enum = v
                    .as_array()
                    .map_or_else(Vec::new, |a| a.iter().map(any).collect())
            }
            "additionalProperties" => {
                let item = match v {
                    Value::Bool(b) => AdditionalProperties::Boolean(*b),
                    other => AdditionalProperties::Schema(Box::new(schema(other))),
                };
                s.additional_properties =
                    Some(Box::new(AdditionalPropertiesItem { oneof: Some(item) }));
            }
            "type" => s.r#type = Some(TypeItem { value: strings(v) }),
            "items" => {
                let schemas = match v {
                    Value::Array(a) => a.iter().map(schema).collect(),
                    other => vec![schema(other)],
                };
                s.items = Some(ItemsItem { schema: schemas });
            }
            "allOf" => {
                s.all_of = v
                    .as_array()
                    .map_or_else(Vec::new, |a| a.iter().map(schema).collect())
            }
            "properties" => {
                s.properties = v.as_object().map(|p| Properties {
                    additional_properties: named(p),
                })
            }
            "readOnly" => s.read_only = boolean(v),
            "example" => s.example = Some(any(v)),
            ext if ext.starts_with("x-") => s.vendor_extension.push(NamedAny {
                name: ext.to_string(),
                value: Some(any(v)),
            }),
            _ => {}
        }
    }
    s
}
