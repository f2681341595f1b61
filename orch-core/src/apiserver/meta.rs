//! Reading and writing `metadata` fields of JSON objects, and the clock and
//! random names the server stamps into them.
use serde_json::{Map, Value};

use crate::store::KeyValue;

/// `metadata.name`, or "".
pub fn name(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.namespace`, if set and non-empty.
pub fn namespace(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `metadata.resourceVersion`, if set and non-empty.
pub fn resource_version(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `metadata` as a mutable map, created if missing or not an object.
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let root = obj.as_object_mut().expect("just made an object");
    let meta = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut().expect("just made an object")
}

/// `metadata.finalizers` as strings.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_terminating(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

/// Current time in RFC 3339 with second precision, as Kubernetes writes it.
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A time `secs` from now, formatted as [`now`].
pub fn now_plus(secs: i64) -> String {
    let t = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(secs))
        .unwrap_or_else(|_| jiff::Timestamp::now());
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Five random characters from Kubernetes' generateName alphabet.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Decodes a stored object and stamps its resourceVersion.
pub fn decode(kv: &KeyValue) -> Result<Value, String> {
    let mut v: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| format!("stored object {} is corrupt: {e}", kv.key))?;
    metadata_mut(&mut v).insert(
        "resourceVersion".into(),
        Value::String(kv.mod_revision.to_string()),
    );
    Ok(v)
}

/// Encodes an object for the store, without its resourceVersion (the store
/// revision is the source of truth for it).
pub fn encode(obj: &Value) -> Vec<u8> {
    let mut v = obj.clone();
    metadata_mut(&mut v).remove("resourceVersion");
    serde_json::to_vec(&v).unwrap_or_default()
}

/// The object without `status` and without volatile metadata, for deciding
/// whether the spec changed (generation bump).
pub fn spec_part(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encode_strips_and_decode_stamps_resource_version() {
        let obj = json!({"metadata": {"name": "a", "resourceVersion": "9"}, "spec": {}});
        let bytes = encode(&obj);
        let kv = KeyValue {
            key: "/k".into(),
            value: bytes,
            create_revision: 3,
            mod_revision: 4,
        };
        let back = decode(&kv).unwrap();
        assert_eq!(resource_version(&back), Some("4"));
        assert_eq!(name(&back), "a");
    }

    #[test]
    fn metadata_mut_repairs_non_objects() {
        let mut v = json!({"metadata": 5});
        metadata_mut(&mut v).insert("name".into(), json!("x"));
        assert_eq!(name(&v), "x");
        let mut w = json!([1]);
        metadata_mut(&mut w);
        assert!(w.is_object());
    }

    #[test]
    fn suffix_uses_safe_alphabet() {
        let s = random_suffix();
        assert_eq!(s.len(), 5);
        assert!(s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }
}
