//! Builders of Node and Pod objects for the unit tests.
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Value};

use crate::scheduler::{podinfo::PodInfo, Cache};

/// A Ready node with allocatable CPU and memory and 110 pods.
pub fn node(name: &str, cpu: &str, mem: &str) -> NodeB {
    NodeB(json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {},
        "status": {
            "allocatable": {"cpu": cpu, "memory": mem, "pods": "110"},
            "capacity": {"cpu": cpu, "memory": mem, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }))
}

pub struct NodeB(pub Value);

impl NodeB {
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.0["metadata"]["labels"][k] = json!(v);
        self
    }
    pub fn taint(mut self, k: &str, v: &str, effect: &str) -> Self {
        let t = self.0["spec"]["taints"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut t = t;
        t.push(json!({"key": k, "value": v, "effect": effect}));
        self.0["spec"]["taints"] = json!(t);
        self
    }
    pub fn unschedulable(mut self) -> Self {
        self.0["spec"]["unschedulable"] = json!(true);
        self
    }
    pub fn ready(mut self, status: &str) -> Self {
        self.0["status"]["conditions"] = json!([{"type": "Ready", "status": status}]);
        self
    }
    pub fn pods(mut self, n: &str) -> Self {
        self.0["status"]["allocatable"]["pods"] = json!(n);
        self
    }
    pub fn build(self) -> Node {
        serde_json::from_value(self.0).unwrap()
    }
}

/// A pending pod in `default` with one container and no requests.
pub fn pod(name: &str) -> PodB {
    PodB(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "generation": 1},
        "spec": {"containers": [{"name": "c", "image": "x"}], "schedulerName": "default-scheduler"},
        "status": {"phase": "Pending"},
    }))
}

pub struct PodB(pub Value);

impl PodB {
    pub fn req(mut self, cpu: &str, mem: &str) -> Self {
        let mut r = serde_json::Map::new();
        if !cpu.is_empty() {
            r.insert("cpu".into(), json!(cpu));
        }
        if !mem.is_empty() {
            r.insert("memory".into(), json!(mem));
        }
        self.0["spec"]["containers"][0]["resources"] = json!({"requests": r});
        self
    }
    pub fn tolerate(mut self, key: &str, op: &str, value: &str, effect: &str) -> Self {
        let mut t = self.0["spec"]["tolerations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut tol = json!({"key": key, "operator": op, "effect": effect});
        if !value.is_empty() {
            tol["value"] = json!(value);
        }
        t.push(tol);
        self.0["spec"]["tolerations"] = json!(t);
        self
    }
    pub fn selector(mut self, k: &str, v: &str) -> Self {
        self.0["spec"]["nodeSelector"][k] = json!(v);
        self
    }
    /// Required node affinity with one term of `(key, op, values)`.
    pub fn required(mut self, exprs: &[(&str, &str, &[&str])]) -> Self {
        let e: Vec<Value> = exprs
            .iter()
            .map(|(k, op, v)| json!({"key": k, "operator": op, "values": v}))
            .collect();
        self.0["spec"]["affinity"]["nodeAffinity"]
            ["requiredDuringSchedulingIgnoredDuringExecution"] =
            json!({"nodeSelectorTerms": [{"matchExpressions": e}]});
        self
    }
    pub fn preferred(mut self, weight: i32, key: &str, op: &str, values: &[&str]) -> Self {
        let na = &mut self.0["spec"]["affinity"]["nodeAffinity"];
        let mut p = na["preferredDuringSchedulingIgnoredDuringExecution"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        p.push(json!({"weight": weight, "preference": {"matchExpressions": [{"key": key, "operator": op, "values": values}]}}));
        na["preferredDuringSchedulingIgnoredDuringExecution"] = json!(p);
        self
    }
    pub fn owner(mut self, uid: &str) -> Self {
        self.0["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": uid, "controller": true}]);
        self
    }
    pub fn on(mut self, node: &str) -> Self {
        self.0["spec"]["nodeName"] = json!(node);
        self
    }
    /// Sets the value at a JSON pointer, creating missing objects.
    pub fn set(mut self, pointer: &str, v: Value) -> Self {
        let mut at = &mut self.0;
        for token in pointer.trim_start_matches('/').split('/') {
            at = match token.parse::<usize>() {
                Ok(i) if at.is_array() => &mut at[i],
                _ => &mut at[token],
            };
        }
        *at = v;
        self
    }
    pub fn build(self) -> Pod {
        serde_json::from_value(self.0).unwrap()
    }
    pub fn info(self) -> PodInfo {
        PodInfo::from_pod(&self.build())
    }
}

/// A cache holding these nodes.
pub fn cache_of(nodes: Vec<Node>) -> Cache {
    let mut c = Cache::default();
    for n in &nodes {
        c.upsert_node(n);
    }
    c
}
