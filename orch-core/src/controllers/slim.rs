//! Smaller Pods for the controllers' cache. The controllers share one
//! cache of every pod of the cluster (see [`super::feed`]), which makes it
//! their largest memory cost. A `k8s_openapi` Pod is 2 KiB before any of
//! its contents (every field of the spec is inline, set or not), and the
//! controllers read a handful of them: so the cache holds [`CachedPod`]s,
//! decoded straight from the watch with only the spec fields some
//! controller reads. Of the containers only the named ports stay (the
//! EndpointSlice controller resolves named target ports with them), and
//! only of the containers that name some. Metadata and status are kept
//! whole, status because status writes send it back (the API server
//! takes only the status from them); managed fields and the last-applied
//! annotation are dropped.
use k8s_openapi::{
    api::core::v1::{ContainerPort, Pod, PodStatus, Toleration},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::{Deserialize, Serialize};

/// A Pod as the controllers cache it: the same JSON, fewer fields.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct CachedPod {
    /// Metadata, whole.
    pub metadata: ObjectMeta,
    /// What the controllers read of the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<CachedPodSpec>,
    /// Status, whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PodStatus>,
}

/// The fields of a pod's spec that some controller reads.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedPodSpec {
    /// `spec.nodeName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// `spec.hostname`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// `spec.subdomain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    /// `spec.tolerations`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
    /// The containers that name ports, with only those ports.
    #[serde(default)]
    pub containers: Vec<CachedContainer>,
}

/// A container's name and ports.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct CachedContainer {
    /// `name`.
    pub name: String,
    /// `ports`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<ContainerPort>>,
}

/// Served and written as a Pod: the same resource, the same paths.
impl k8s_openapi::Resource for CachedPod {
    const API_VERSION: &'static str = Pod::API_VERSION;
    const GROUP: &'static str = Pod::GROUP;
    const KIND: &'static str = Pod::KIND;
    const VERSION: &'static str = Pod::VERSION;
    const URL_PATH_SEGMENT: &'static str = Pod::URL_PATH_SEGMENT;
    type Scope = <Pod as k8s_openapi::Resource>::Scope;
}

impl k8s_openapi::Metadata for CachedPod {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Drops what no controller reads from a decoded pod.
pub fn pod(p: &mut CachedPod) {
    p.metadata.managed_fields = None;
    if let Some(a) = p.metadata.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    if let Some(spec) = p.spec.as_mut() {
        spec.containers.retain_mut(|c| {
            if let Some(ports) = c.ports.as_mut() {
                ports.retain(|port| port.name.is_some());
            }
            c.ports.as_ref().is_some_and(|p| !p.is_empty())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> CachedPod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "labels": {"app": "web"}, "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "controller.kubernetes.io/pod-deletion-cost": "5"}},
            "spec": {"nodeName": "n1", "tolerations": [{"key": "k", "operator": "Exists"}],
                "containers": [{"name": "main", "image": "host", "command": ["sleep", "1"],
                    "ports": [{"name": "http", "containerPort": 8080}]}],
                "volumes": [{"name": "v", "emptyDir": {}}]},
            "status": {"phase": "Running", "podIP": "10.0.0.5",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "main", "image": "host", "imageID": "", "ready": true, "restartCount": 2}]}
        }))
        .unwrap()
    }

    #[test]
    fn controllers_keep_what_they_read() {
        let full = sample();
        let mut p = full.clone();
        pod(&mut p);
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.node_name.as_deref(), Some("n1"));
        assert_eq!(spec.tolerations, full.spec.as_ref().unwrap().tolerations);
        assert_eq!(p.status, full.status, "status is kept whole");
        assert_eq!(p.metadata.labels, full.metadata.labels);
        let a = p.metadata.annotations.as_ref().unwrap();
        assert!(a.contains_key("controller.kubernetes.io/pod-deletion-cost"));
        assert!(!a.contains_key("kubectl.kubernetes.io/last-applied-configuration"));

        // What is not read is not even decoded.
        let json = serde_json::to_value(&p).unwrap();
        assert!(json["spec"].get("volumes").is_none(), "{json}");
        assert!(
            json["spec"]["containers"][0].get("image").is_none(),
            "{json}"
        );
        let c = &p.spec.as_ref().unwrap().containers[0];
        assert_eq!(c.name, "main");
        assert_eq!(c.ports.as_ref().unwrap()[0].name.as_deref(), Some("http"));

        // Containers that name no port are not kept.
        let mut p = full;
        let spec = p.spec.as_mut().unwrap();
        spec.containers[0].ports.as_mut().unwrap()[0].name = None;
        pod(&mut p);
        assert!(p.spec.unwrap().containers.is_empty());
    }
}
