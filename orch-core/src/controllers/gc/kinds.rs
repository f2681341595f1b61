//! The kinds the API server serves, found through discovery, for the
//! controllers that handle every kind alike (garbage collector, namespace).
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{
    api::{Api, ApiResource, DynamicObject},
    discovery::{Discovery, Scope},
    Client,
};

use crate::controllers::ControllerError;

/// One served kind.
#[derive(Debug, Clone)]
pub struct Kind {
    /// Group, version, kind and plural.
    pub resource: ApiResource,
    /// Whether its objects live in namespaces.
    pub namespaced: bool,
}

impl Kind {
    /// An API handle for objects of this kind in `namespace` (ignored for
    /// cluster-scoped kinds), or across all namespaces.
    pub fn api(&self, client: &Client, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) if self.namespaced => Api::namespaced_with(client.clone(), ns, &self.resource),
            _ => Api::all_with(client.clone(), &self.resource),
        }
    }

    /// Whether an owner reference names this kind.
    pub fn is(&self, r: &OwnerReference) -> bool {
        self.resource.api_version == r.api_version && self.resource.kind == r.kind
    }
}

/// Every served kind that can be listed, watched, patched and deleted.
pub async fn discover(client: &Client) -> Result<Vec<Kind>, ControllerError> {
    let discovery = Discovery::new(client.clone()).run().await?;
    let mut out = Vec::new();
    for group in discovery.groups() {
        for (resource, caps) in group.recommended_resources() {
            if ["list", "watch", "patch", "delete"]
                .iter()
                .all(|v| caps.supports_operation(v))
            {
                out.push(Kind {
                    resource,
                    namespaced: caps.scope == Scope::Namespaced,
                });
            }
        }
    }
    if out.is_empty() {
        return Err(ControllerError::Other(
            "discovery found no kinds to handle".into(),
        ));
    }
    Ok(out)
}

/// The kind an owner reference names, if served.
pub fn find<'a>(kinds: &'a [Kind], r: &OwnerReference) -> Option<&'a Kind> {
    kinds.iter().find(|k| k.is(r))
}
