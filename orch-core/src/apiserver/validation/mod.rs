//! Defaulting and validation of API objects, working on the
//! `serde_json::Value` parsed from a request body.
//!
//! The kinds covered are Namespace, Node, Pod, Service, EndpointSlice,
//! Deployment, ReplicaSet, Lease, Event, ConfigMap and Secret, identified by
//! their `kind` string. The entry points are:
//!
//! - [`decode_check`]: the object decodes into the typed k8s-openapi struct
//!   (catches JSON type errors, with the offending field's path);
//! - [`apply_defaults`]: Kubernetes spec defaulting;
//! - [`validate`] / [`validate_update`]: Kubernetes validation rules,
//!   returning every problem found as a [`Cause`].
//!
//! None of them panic, whatever the input.

mod cause;
mod common;
mod config;
mod defaults;
mod discovery;
mod immutable;
mod json;
mod meta;
mod misc;
mod names;
mod pod;
mod quantity;
mod selector;
mod service;
mod typed;
mod workloads;

#[cfg(test)]
mod tests;

pub use cause::{Cause, CauseReason};

use serde_json::Value;

/// The kinds this module knows about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Namespace,
    Node,
    Pod,
    Service,
    EndpointSlice,
    Deployment,
    ReplicaSet,
    Lease,
    Event,
    ConfigMap,
    Secret,
}

impl Kind {
    fn parse(kind: &str) -> Option<Self> {
        Some(match kind {
            "Namespace" => Self::Namespace,
            "Node" => Self::Node,
            "Pod" => Self::Pod,
            "Service" => Self::Service,
            "EndpointSlice" => Self::EndpointSlice,
            "Deployment" => Self::Deployment,
            "ReplicaSet" => Self::ReplicaSet,
            "Lease" => Self::Lease,
            "Event" => Self::Event,
            "ConfigMap" => Self::ConfigMap,
            "Secret" => Self::Secret,
            _ => return None,
        })
    }

    /// The syntax `metadata.name` must follow.
    fn name_check(self) -> meta::NameCheck {
        match self {
            Self::Namespace | Self::Service => names::dns1123_label,
            _ => names::dns1123_subdomain,
        }
    }
}

/// Checks that `obj` deserializes into the typed k8s-openapi struct of
/// `kind` (e.g. `k8s_openapi::api::core::v1::Pod`). A type error such as
/// `"replicas": "three"` yields one `FieldValueInvalid` cause at the field's
/// path (`spec.replicas`) with serde's message (`invalid type: string
/// "three", expected i32`). Unknown fields are ignored; `apiVersion` and
/// `kind`, when present, must match the kind. Unknown kinds always pass.
pub fn decode_check(kind: &str, obj: &Value) -> Result<(), Vec<Cause>> {
    match Kind::parse(kind) {
        Some(kind) => typed::decode_check(kind, obj),
        None => Ok(()),
    }
}

/// The object as its typed k8s-openapi struct sees it: unknown fields are
/// dropped (as the Kubernetes API server drops them); type errors are
/// causes with the field path. Kinds without a typed struct pass unchanged.
pub fn canonicalize(kind: &str, obj: &Value) -> Result<Value, Vec<Cause>> {
    match Kind::parse(kind) {
        Some(kind) => typed::canonical(kind, obj),
        None => Ok(obj.clone()),
    }
}

/// Applies Kubernetes defaulting to the spec of `obj` in place: Service
/// type, session affinity, port protocols and target ports; Pod restart
/// policy, grace period, DNS policy, scheduler name, service links and
/// container port protocols; Deployment / ReplicaSet replicas, strategy,
/// history and progress deadline plus the template's pod defaults;
/// EndpointSlice port protocols. Only absent or `null` fields are set.
pub fn apply_defaults(kind: &str, obj: &mut Value) {
    if let Some(kind) = Kind::parse(kind) {
        defaults::apply_defaults(kind, obj);
    }
}

/// Validates `obj` for creation and returns every problem found (empty when
/// valid). `namespaced` tells whether the kind lives in a namespace.
/// Unknown kinds get the metadata checks only.
pub fn validate(kind: &str, obj: &Value, namespaced: bool) -> Vec<Cause> {
    let kind = Kind::parse(kind);
    let name_check = kind.map_or(
        names::dns1123_subdomain as meta::NameCheck,
        Kind::name_check,
    );
    let mut errs = Vec::new();
    meta::validate_object_meta(obj, name_check, namespaced, &mut errs);
    if !obj.is_object() {
        return errs;
    }
    let errs_ref = &mut errs;
    match kind {
        Some(Kind::Pod) => {
            pod::validate_pod_spec(json::get(obj.as_object(), "spec"), "spec", false, errs_ref);
        }
        Some(Kind::Service) => service::validate_service(obj, errs_ref),
        Some(Kind::Deployment) => workloads::validate_deployment(obj, errs_ref),
        Some(Kind::ReplicaSet) => workloads::validate_replica_set(obj, errs_ref),
        Some(Kind::EndpointSlice) => discovery::validate_endpoint_slice(obj, errs_ref),
        Some(Kind::Lease) => misc::validate_lease(obj, errs_ref),
        Some(Kind::Event) => misc::validate_event(obj, errs_ref),
        Some(Kind::ConfigMap) => config::validate_config_map(obj, errs_ref),
        Some(Kind::Secret) => config::validate_secret(obj, errs_ref),
        Some(Kind::Namespace | Kind::Node) | None => {}
    }
    errs
}

/// Validates `new` as a replacement for `old`: everything [`validate`]
/// checks, plus immutable fields (`metadata.name` / `namespace`, a
/// Service's `spec.clusterIP` once set, the `spec.selector` of Deployments
/// and ReplicaSets, an EndpointSlice's `addressType`, a Secret's `type`, and
/// the data of ConfigMaps / Secrets marked `immutable`). Immutable changes
/// are `FieldValueInvalid` causes with the message `field is immutable`,
/// except for data locked by `immutable: true`, which is
/// `FieldValueForbidden` as in Kubernetes.
pub fn validate_update(kind: &str, new: &Value, old: &Value, namespaced: bool) -> Vec<Cause> {
    let mut errs = validate(kind, new, namespaced);
    immutable::validate_immutable(Kind::parse(kind), new, old, &mut errs);
    errs
}
