//! Smaller Pods for the controllers' cache. The controllers share one
//! cache of every pod of the cluster (see [`super::feed`]), and none reads
//! the containers' images, commands, environment, probes or resources,
//! the volumes or the managed fields, so the cache keeps pods without
//! them. Of the containers only the named ports stay (the EndpointSlice
//! controller resolves named target ports with them), and only of the
//! containers that name some. Status is kept whole: status writes send it
//! back, and the API server takes only the status from them.
use k8s_openapi::api::core::v1::{Container, Pod};

/// Drops what no controller reads.
pub fn pod(p: &mut Pod) {
    p.metadata.managed_fields = None;
    if let Some(a) = p.metadata.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    let Some(spec) = p.spec.as_mut() else {
        return;
    };
    spec.init_containers = None;
    spec.ephemeral_containers = None;
    spec.volumes = None;
    spec.containers = std::mem::take(&mut spec.containers)
        .into_iter()
        .filter_map(|c| {
            let named: Vec<_> = c
                .ports?
                .into_iter()
                .filter(|port| port.name.is_some())
                .collect();
            (!named.is_empty()).then(|| Container {
                name: c.name,
                ports: Some(named),
                ..Default::default()
            })
        })
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Pod {
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
        assert!(spec.volumes.is_none());
        assert_eq!(spec.node_name.as_deref(), Some("n1"));
        assert_eq!(spec.tolerations, full.spec.as_ref().unwrap().tolerations);
        assert_eq!(p.status, full.status, "status is kept whole");
        assert_eq!(p.metadata.labels, full.metadata.labels);
        let a = p.metadata.annotations.unwrap();
        assert!(a.contains_key("controller.kubernetes.io/pod-deletion-cost"));
        assert!(!a.contains_key("kubectl.kubernetes.io/last-applied-configuration"));

        let c = &p.spec.as_ref().unwrap().containers[0];
        assert_eq!(c.name, "main");
        assert_eq!(c.ports.as_ref().unwrap()[0].name.as_deref(), Some("http"));
        assert!(c.image.is_none() && c.command.is_none());

        // Containers that name no port are not kept.
        let mut p = full;
        let spec = p.spec.as_mut().unwrap();
        spec.containers[0].ports.as_mut().unwrap()[0].name = None;
        pod(&mut p);
        assert!(p.spec.unwrap().containers.is_empty());
    }
}
