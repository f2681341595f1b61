//! The table of served resources: one row per kind, read by the generic
//! handlers, discovery, and the OpenAPI document. Adding a kind means adding
//! a row here (and, if it has rules, defaulting/validation entries).

/// A subresource a kind serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    /// `/status`: writes touch only `.status`.
    Status,
    /// `/binding` (pods): assigns a node.
    Binding,
    /// `/log` (pods): container output.
    Log,
    /// `/scale` (deployments, replicasets): autoscaling/v1 Scale.
    Scale,
}

impl Sub {
    /// Path segment of the subresource.
    pub fn name(self) -> &'static str {
        match self {
            Sub::Status => "status",
            Sub::Binding => "binding",
            Sub::Log => "log",
            Sub::Scale => "scale",
        }
    }
}

/// One served resource.
#[derive(Debug, PartialEq, Eq)]
pub struct Resource {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Kind, for example `Pod`.
    pub kind: &'static str,
    /// Plural resource name, for example `pods`.
    pub plural: &'static str,
    /// Singular name.
    pub singular: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// kubectl short names.
    pub short_names: &'static [&'static str],
    /// Subresources served.
    pub subs: &'static [Sub],
}

impl Resource {
    /// `apiVersion` as objects carry it (`v1`, `apps/v1`).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether the kind has a `/status` subresource.
    pub fn has_status(&self) -> bool {
        self.subs.contains(&Sub::Status)
    }

    /// The store key prefix for this resource (optionally in a namespace).
    pub fn key_prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("/registry/{}/{}/", self.plural, ns),
            _ => format!("/registry/{}/", self.plural),
        }
    }

    /// The store key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        format!("{}{}", self.key_prefix(namespace), name)
    }

    /// Human-readable `plural.group` as Kubernetes errors print it.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

use Sub::{Binding, Log, Scale, Status};

/// Every resource the API server serves.
#[rustfmt::skip]
pub static RESOURCES: &[Resource] = &[
    Resource { group: "", version: "v1", kind: "Namespace", plural: "namespaces", singular: "namespace", namespaced: false, short_names: &["ns"], subs: &[Status] },
    Resource { group: "", version: "v1", kind: "Node", plural: "nodes", singular: "node", namespaced: false, short_names: &["no"], subs: &[Status] },
    Resource { group: "", version: "v1", kind: "Pod", plural: "pods", singular: "pod", namespaced: true, short_names: &["po"], subs: &[Status, Binding, Log] },
    Resource { group: "", version: "v1", kind: "Service", plural: "services", singular: "service", namespaced: true, short_names: &["svc"], subs: &[Status] },
    Resource { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", singular: "configmap", namespaced: true, short_names: &["cm"], subs: &[] },
    Resource { group: "", version: "v1", kind: "Secret", plural: "secrets", singular: "secret", namespaced: true, short_names: &[], subs: &[] },
    Resource { group: "", version: "v1", kind: "Event", plural: "events", singular: "event", namespaced: true, short_names: &["ev"], subs: &[] },
    Resource { group: "apps", version: "v1", kind: "Deployment", plural: "deployments", singular: "deployment", namespaced: true, short_names: &["deploy"], subs: &[Status, Scale] },
    Resource { group: "apps", version: "v1", kind: "ReplicaSet", plural: "replicasets", singular: "replicaset", namespaced: true, short_names: &["rs"], subs: &[Status, Scale] },
    Resource { group: "discovery.k8s.io", version: "v1", kind: "EndpointSlice", plural: "endpointslices", singular: "endpointslice", namespaced: true, short_names: &[], subs: &[] },
    Resource { group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", singular: "lease", namespaced: true, short_names: &[], subs: &[] },
];

/// Finds a resource by group, version and plural.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// Finds a resource by kind.
pub fn by_kind(kind: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.kind == kind)
}

/// The API groups served, in discovery order: (group, version).
pub fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_kubernetes_layout() {
        let pods = find("", "v1", "pods").unwrap();
        assert_eq!(
            pods.key(Some("default"), "web"),
            "/registry/pods/default/web"
        );
        let nodes = by_kind("Node").unwrap();
        assert_eq!(nodes.key(None, "n1"), "/registry/nodes/n1");
        assert_eq!(
            find("apps", "v1", "deployments").unwrap().api_version(),
            "apps/v1"
        );
    }

    #[test]
    fn plurals_and_kinds_are_unique() {
        for (i, a) in RESOURCES.iter().enumerate() {
            for b in &RESOURCES[i + 1..] {
                assert_ne!(a.plural, b.plural);
                assert_ne!(a.kind, b.kind);
            }
        }
    }
}
