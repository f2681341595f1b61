//! Filters: whether a pod may run on a node at all. The checks run in the
//! order of Kubernetes' default plugins (NodeUnschedulable, NodeName,
//! TaintToleration, then node readiness, NodeAffinity, NodeResourcesFit)
//! and, as there, a node reports the reasons of the first check it fails
//! (resource fit can report several).
use std::fmt;

use super::{
    affinity::any_matches,
    nodeinfo::NodeInfo,
    podinfo::PodInfo,
    taints::{tolerated, Taint, NOT_READY_KEY, UNSCHEDULABLE_KEY},
};

/// Why a node was filtered out, printed as Kubernetes prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason<'a> {
    /// `spec.unschedulable` and the pod does not tolerate it.
    Unschedulable,
    /// The pod names another node.
    NodeName,
    /// A NoSchedule/NoExecute taint the pod does not tolerate.
    Taint(&'a Taint),
    /// The node's Ready condition is not True.
    NotReady,
    /// nodeSelector or required node affinity does not match.
    Affinity,
    /// Not enough CPU left.
    InsufficientCpu,
    /// Not enough memory left.
    InsufficientMemory,
    /// The node holds its maximum number of pods.
    TooManyPods,
}

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Unschedulable => f.write_str("node(s) were unschedulable"),
            Reason::NodeName => f.write_str("node(s) didn't match the requested node name"),
            Reason::Taint(t) => write!(
                f,
                "node(s) had untolerated taint {{{}: {}}}",
                t.key, t.value
            ),
            Reason::NotReady => f.write_str("node(s) were not ready"),
            Reason::Affinity => f.write_str("node(s) didn't match Pod's node affinity/selector"),
            Reason::InsufficientCpu => f.write_str("Insufficient cpu"),
            Reason::InsufficientMemory => f.write_str("Insufficient memory"),
            Reason::TooManyPods => f.write_str("Too many pods"),
        }
    }
}

/// NodeUnschedulable: an unschedulable node takes only pods that tolerate
/// `node.kubernetes.io/unschedulable:NoSchedule`.
pub fn unschedulable<'a>(pod: &PodInfo, node: &'a NodeInfo) -> Option<Reason<'a>> {
    let tolerates = || {
        pod.tolerations
            .iter()
            .any(|t| t.tolerates_key(UNSCHEDULABLE_KEY))
    };
    (node.props.unschedulable && !tolerates()).then_some(Reason::Unschedulable)
}

/// NodeName: a pod that names a node runs only there.
pub fn node_name<'a>(pod: &PodInfo, node: &'a NodeInfo) -> Option<Reason<'a>> {
    match &pod.node_name {
        Some(n) if *n != node.name => Some(Reason::NodeName),
        _ => None,
    }
}

/// TaintToleration: the first NoSchedule or NoExecute taint the pod does
/// not tolerate.
pub fn taints<'a>(pod: &PodInfo, node: &'a NodeInfo) -> Option<Reason<'a>> {
    node.props
        .hard_taints
        .iter()
        .find(|t| !tolerated(&pod.tolerations, t))
        .map(Reason::Taint)
}

/// Readiness: a node whose Ready condition is not True takes only pods
/// that tolerate `node.kubernetes.io/not-ready:NoSchedule`.
pub fn ready<'a>(pod: &PodInfo, node: &'a NodeInfo) -> Option<Reason<'a>> {
    let tolerates = || {
        pod.tolerations
            .iter()
            .any(|t| t.tolerates_key(NOT_READY_KEY))
    };
    (!node.props.ready && !tolerates()).then_some(Reason::NotReady)
}

/// NodeAffinity: every nodeSelector pair, and one of the required terms.
pub fn affinity<'a>(pod: &PodInfo, node: &'a NodeInfo) -> Option<Reason<'a>> {
    let labels = &node.props.labels;
    let selector_ok = pod
        .node_selector
        .iter()
        .all(|(k, v)| labels.get(k).is_some_and(|x| x == v));
    let required_ok = || {
        pod.required
            .as_ref()
            .is_none_or(|terms| any_matches(terms, labels, &node.name))
    };
    (!(selector_ok && required_ok())).then_some(Reason::Affinity)
}

/// NodeResourcesFit: the pod's requests fit in allocatable minus what the
/// node's pods request; pushes every resource that does not fit.
pub fn resources<'a>(pod: &PodInfo, node: &'a NodeInfo, out: &mut Vec<Reason<'a>>) {
    let (alloc, used, req) = (&node.props.allocatable, &node.requested, &pod.requests);
    if used.pods + 1 > alloc.pods {
        out.push(Reason::TooManyPods);
    }
    if req.milli_cpu > 0 && req.milli_cpu > alloc.milli_cpu - used.milli_cpu {
        out.push(Reason::InsufficientCpu);
    }
    if req.memory > 0 && req.memory > alloc.memory - used.memory {
        out.push(Reason::InsufficientMemory);
    }
}

/// Whether the node passes every filter, without saying why not: the
/// cheap checks first, nothing allocated. [`fits`] gives the reasons.
pub fn feasible(pod: &PodInfo, node: &NodeInfo) -> bool {
    let (alloc, used, req) = (&node.props.allocatable, &node.requested, &pod.requests);
    let resources_ok = used.pods < alloc.pods
        && (req.milli_cpu <= 0 || req.milli_cpu <= alloc.milli_cpu - used.milli_cpu)
        && (req.memory <= 0 || req.memory <= alloc.memory - used.memory);
    resources_ok
        && (node.props.ready || ready(pod, node).is_none())
        && (!node.props.unschedulable || unschedulable(pod, node).is_none())
        && (node.props.hard_taints.is_empty() || taints(pod, node).is_none())
        && (pod.node_name.is_none() || node_name(pod, node).is_none())
        && ((pod.node_selector.is_empty() && pod.required.is_none())
            || affinity(pod, node).is_none())
}

/// Runs every filter; returns true when the node fits, otherwise leaves
/// the reasons in `out` (which it clears first).
pub fn fits<'a>(pod: &PodInfo, node: &'a NodeInfo, out: &mut Vec<Reason<'a>>) -> bool {
    out.clear();
    let first = unschedulable(pod, node)
        .or_else(|| node_name(pod, node))
        .or_else(|| taints(pod, node))
        .or_else(|| ready(pod, node))
        .or_else(|| affinity(pod, node));
    match first {
        Some(r) => out.push(r),
        None => resources(pod, node, out),
    }
    out.is_empty()
}
