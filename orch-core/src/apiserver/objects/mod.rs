//! Generic object operations, one implementation for every kind: metadata
//! stamping, defaulting and validation, status/spec split, finalizers and
//! graceful deletion, over compare-and-swap store writes. The HTTP layer
//! only parses requests and calls these.
mod delete;
pub(crate) mod hooks;
mod read;
mod write;

pub use delete::{delete, DeleteOptions};
pub use read::Filter;
pub use read::{get, list, ListQuery};
pub use write::{create, modify, patch, update, WriteTarget};

use serde_json::Value;

use super::{meta, resources::Resource, state::ApiState, status::ApiError, validation};
use crate::store::{KeyValue, StoreError};

/// Where an object lives.
#[derive(Debug, Clone, Copy)]
pub struct ObjectRef<'a> {
    /// Its resource.
    pub res: &'static Resource,
    /// Its namespace (namespaced kinds only).
    pub namespace: Option<&'a str>,
    /// Its name.
    pub name: &'a str,
}

impl ObjectRef<'_> {
    /// Store key.
    pub fn key(&self) -> String {
        self.res.key(self.namespace, self.name)
    }

    /// The 404 for this object.
    pub fn not_found(&self) -> ApiError {
        ApiError::not_found(&self.res.qualified(), self.res.group, self.name)
    }

    /// Maps a store error for this object.
    pub fn store_err(&self, e: StoreError) -> ApiError {
        ApiError::from_store(e, &self.res.qualified(), self.res.group, self.name)
    }
}

/// Decodes a stored value, mapping corruption to a 500.
pub(crate) fn decode(kv: &KeyValue) -> Result<Value, ApiError> {
    meta::decode(kv).map_err(ApiError::internal)
}

/// Decodes a stored value for other API server modules.
pub fn decode_pub(kv: &KeyValue) -> Result<Value, ApiError> {
    decode(kv)
}

/// Runs defaulting, the typed decode check and validation.
pub(crate) fn check(
    res: &'static Resource,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    validation::apply_defaults(res.kind, obj);
    let mut causes = match validation::canonicalize(res.kind, obj) {
        Ok(canonical) => {
            *obj = canonical;
            Vec::new()
        }
        Err(c) => c,
    };
    causes.extend(match old {
        None => validation::validate(res.kind, obj, res.namespaced),
        Some(old) => validation::validate_update(res.kind, obj, old, res.namespaced),
    });
    if causes.is_empty() {
        Ok(())
    } else {
        let name = meta::name(obj).to_string();
        let name = if name.is_empty() {
            obj.pointer("/metadata/generateName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        } else {
            name
        };
        Err(ApiError::invalid(res.kind, res.group, &name, &causes))
    }
}

/// Checks that the namespace of a namespaced write exists and is not being
/// deleted.
pub(crate) async fn check_namespace(
    state: &ApiState,
    ns: &str,
    creating: bool,
) -> Result<(), ApiError> {
    let nsres = super::resources::by_kind("Namespace").expect("namespaces are served");
    let kv = state
        .store
        .get(&nsres.key(None, ns))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(|| ApiError::not_found("namespaces", "", ns))?;
    if creating {
        let obj = decode(&kv)?;
        if meta::is_terminating(&obj) {
            return Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            )));
        }
    }
    Ok(())
}
