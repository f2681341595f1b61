//! Pod facts the controllers share: readiness (the Pod's `Ready`
//! condition), termination, and resolving a Service's target port on a pod.
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::controllers::slim::CachedPod;

/// Whether the pod's `Ready` condition is `True`.
pub fn is_ready(pod: &CachedPod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Whether the pod is being deleted (has a deletionTimestamp).
pub fn is_terminating(pod: &CachedPod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// Whether the pod has finished for good (phase Succeeded or Failed).
pub fn is_finished(pod: &CachedPod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// The node the pod is bound to, if any.
pub fn node_name(pod: &CachedPod) -> Option<&str> {
    pod.spec
        .as_ref()?
        .node_name
        .as_deref()
        .filter(|n| !n.is_empty())
}

/// The port number `target` means on this pod: a number as is, a name
/// looked up among the containers' ports with the same protocol.
pub fn find_port(pod: &CachedPod, target: &IntOrString, protocol: &str) -> Option<i32> {
    match target {
        IntOrString::Int(n) => Some(*n),
        IntOrString::String(name) => pod
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| {
                p.name.as_deref() == Some(name.as_str())
                    && p.protocol.as_deref().unwrap_or("TCP") == protocol
            })
            .map(|p| p.container_port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn readiness_and_named_ports() {
        let pod: CachedPod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [
                {"name": "a", "ports": [{"name": "http", "containerPort": 8080}]},
                {"name": "b", "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"}]},
            ]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }))
        .unwrap();
        assert!(is_ready(&pod));
        assert!(!is_terminating(&pod));
        assert_eq!(
            find_port(&pod, &IntOrString::String("http".into()), "TCP"),
            Some(8080)
        );
        assert_eq!(
            find_port(&pod, &IntOrString::String("dns".into()), "UDP"),
            Some(53)
        );
        assert_eq!(
            find_port(&pod, &IntOrString::String("dns".into()), "TCP"),
            None
        );
        assert_eq!(find_port(&pod, &IntOrString::Int(9), "TCP"), Some(9));
    }
}
