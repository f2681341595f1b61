//! The resources the scheduler accounts for (CPU in millicores, memory in
//! bytes, pod count), what a pod requests, and what a node can allocate.
use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{Container, Node, PodSpec},
    apimachinery::pkg::api::resource::Quantity,
};

use super::quantity::{parse_milli, parse_value};

/// CPU a container without a CPU request counts as when scoring (100m).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory a container without a memory request counts as when scoring
/// (200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// An amount of CPU, memory and pods.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU in thousandths of a core.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Number of pods.
    pub pods: i64,
}

impl Resources {
    /// Component-wise sum.
    pub fn add(&mut self, o: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_add(o.milli_cpu);
        self.memory = self.memory.saturating_add(o.memory);
        self.pods = self.pods.saturating_add(o.pods);
    }

    /// Component-wise difference.
    pub fn sub(&mut self, o: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_sub(o.milli_cpu);
        self.memory = self.memory.saturating_sub(o.memory);
        self.pods = self.pods.saturating_sub(o.pods);
    }

    fn max(&mut self, o: &Resources) {
        self.milli_cpu = self.milli_cpu.max(o.milli_cpu);
        self.memory = self.memory.max(o.memory);
        self.pods = self.pods.max(o.pods);
    }
}

/// What a container asks for: its requests, or its limits where a
/// request is missing (the API defaulting Kubernetes applies). With
/// `nonzero`, a missing CPU or memory value counts as the scoring
/// defaults instead of zero.
fn container_requests(c: &Container, nonzero: bool) -> Resources {
    let res = c.resources.as_ref();
    let get = |name: &str| -> Option<&Quantity> {
        res.and_then(|r| r.requests.as_ref().and_then(|m| m.get(name)))
            .or_else(|| res.and_then(|r| r.limits.as_ref().and_then(|m| m.get(name))))
    };
    let cpu = get("cpu").and_then(|q| parse_milli(&q.0));
    let mem = get("memory").and_then(|q| parse_value(&q.0));
    let (cpu, mem) = if nonzero {
        (
            cpu.unwrap_or(DEFAULT_MILLI_CPU_REQUEST),
            mem.unwrap_or(DEFAULT_MEMORY_REQUEST),
        )
    } else {
        (cpu.unwrap_or(0), mem.unwrap_or(0))
    };
    Resources {
        milli_cpu: cpu.max(0),
        memory: mem.max(0),
        pods: 0,
    }
}

/// A pod's effective request, as Kubernetes' `PodRequests` computes it:
/// the sum over containers and sidecars (init containers with
/// `restartPolicy: Always`), at least the largest need of any init
/// container (plus the sidecars started before it), plus the pod
/// overhead. `pods` is 1.
pub fn pod_requests(spec: &PodSpec, nonzero: bool) -> Resources {
    let mut sum = Resources::default();
    for c in &spec.containers {
        sum.add(&container_requests(c, nonzero));
    }
    let mut sidecars = Resources::default();
    let mut init_max = Resources::default();
    for c in spec.init_containers.iter().flatten() {
        let r = container_requests(c, nonzero);
        let need = if c.restart_policy.as_deref() == Some("Always") {
            sum.add(&r);
            sidecars.add(&r);
            sidecars
        } else {
            let mut n = r;
            n.add(&sidecars);
            n
        };
        init_max.max(&need);
    }
    sum.max(&init_max);
    if let Some(overhead) = &spec.overhead {
        sum.add(&from_map(overhead));
    }
    sum.pods = 1;
    sum
}

/// CPU, memory and pods of a resource list; absent names count as zero.
pub fn from_map(m: &BTreeMap<String, Quantity>) -> Resources {
    let milli = |k: &str| m.get(k).and_then(|q| parse_milli(&q.0)).unwrap_or(0);
    let value = |k: &str| m.get(k).and_then(|q| parse_value(&q.0)).unwrap_or(0);
    Resources {
        milli_cpu: milli("cpu").max(0),
        memory: value("memory").max(0),
        pods: value("pods").max(0),
    }
}

/// A node's `status.allocatable`, or its capacity when allocatable is
/// not reported.
pub fn node_allocatable(node: &Node) -> Resources {
    let status = node.status.as_ref();
    match status.and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref())) {
        Some(m) => from_map(m),
        None => Resources::default(),
    }
}
