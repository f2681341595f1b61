//! The fake nodes and pods of the scheduler benchmark.
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Value};

/// Zones the fake nodes are spread over.
pub const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];

/// A Ready fake node with 32 CPU, 128 GiB and 110 pods; 5% carry a
/// NoSchedule taint and 10% a PreferNoSchedule taint when `taints`.
pub fn node(i: usize, taints: bool) -> Node {
    let mut n = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": format!("node-{i:05}"), "labels": {
            "kubernetes.io/hostname": format!("node-{i:05}"),
            "topology.kubernetes.io/zone": ZONES[i % ZONES.len()],
        }},
        "spec": {},
        "status": {
            "capacity": {"cpu": "32", "memory": "128Gi", "pods": "110"},
            "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        },
    });
    if taints && i % 20 == 7 {
        n["spec"]["taints"] =
            json!([{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]);
    } else if taints && i % 10 == 3 {
        n["spec"]["taints"] =
            json!([{"key": "spot", "value": "true", "effect": "PreferNoSchedule"}]);
    }
    serde_json::from_value(n).expect("static node shape")
}

/// A pending pod requesting 100m CPU and 128Mi, owned by one of 100 fake
/// ReplicaSets; every 5th selects a zone, every 10th tolerates the
/// NoSchedule taint.
pub fn pod(i: usize, namespace: &str) -> Pod {
    let owner = i % 100;
    let mut p = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("p-{i:05}"), "namespace": namespace, "uid": format!("pod-uid-{i}"),
            "labels": {"app": format!("app-{owner}")},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("rs-{owner}"),
                "uid": format!("00000000-0000-4000-8000-{owner:012}"), "controller": true}],
        },
        "spec": {"schedulerName": "default-scheduler", "containers": [{
            "name": "app", "image": "registry.example/bench/app:1.0",
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
        }]},
    });
    if i.is_multiple_of(5) {
        p["spec"]["nodeSelector"] =
            json!({"topology.kubernetes.io/zone": ZONES[(i / 5) % ZONES.len()]});
    }
    if i % 10 == 1 {
        p["spec"]["tolerations"] =
            json!([{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]);
    }
    serde_json::from_value(p).expect("static pod shape")
}

/// Drops the fields the API server sets (for creating through the API).
pub fn for_create(mut v: Value) -> Value {
    if let Some(m) = v["metadata"].as_object_mut() {
        m.remove("uid");
    }
    v
}
