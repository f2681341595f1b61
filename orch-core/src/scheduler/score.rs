//! Scores: how good a feasible node is, 0..=100 per plugin, weighted as
//! Kubernetes' default profile weighs them: TaintToleration 3,
//! NodeAffinity 2, spreading of one owner's pods 2 (in the role of
//! PodTopologySpread), LeastAllocated 1 and BalancedAllocation 1.
use super::{affinity::Term, nodeinfo::NodeInfo, podinfo::PodInfo, taints::Toleration};

/// The highest score of one plugin.
pub const MAX_NODE_SCORE: i64 = 100;
/// Weight of TaintToleration.
pub const TAINT_WEIGHT: i64 = 3;
/// Weight of NodeAffinity.
pub const AFFINITY_WEIGHT: i64 = 2;
/// Weight of spreading an owner's pods.
pub const SPREAD_WEIGHT: i64 = 2;
/// Weight of LeastAllocated.
pub const LEAST_ALLOCATED_WEIGHT: i64 = 1;
/// Weight of BalancedAllocation.
pub const BALANCED_WEIGHT: i64 = 1;

/// LeastAllocated: the free share of CPU and memory after placing the
/// pod (requests with the scoring defaults), averaged.
pub fn least_allocated(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let alloc = &node.props.allocatable;
    let used = &node.nonzero_requested;
    let one = |cap: i64, req: i64| {
        if cap <= 0 || req > cap {
            0
        } else {
            (cap - req) * MAX_NODE_SCORE / cap
        }
    };
    let cpu = one(alloc.milli_cpu, used.milli_cpu + pod.nonzero.milli_cpu);
    let mem = one(alloc.memory, used.memory + pod.nonzero.memory);
    (cpu + mem) / 2
}

/// BalancedAllocation: 100 × (1 − the standard deviation of the CPU and
/// memory fractions requested after placing the pod).
pub fn balanced(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let alloc = &node.props.allocatable;
    let used = &node.requested;
    let frac = |cap: i64, req: i64| {
        if cap <= 0 {
            1.0
        } else {
            (req as f64 / cap as f64).min(1.0)
        }
    };
    let cpu = frac(alloc.milli_cpu, used.milli_cpu + pod.requests.milli_cpu);
    let mem = frac(alloc.memory, used.memory + pod.requests.memory);
    let std = (cpu - mem).abs() / 2.0;
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

/// TaintToleration raw score: the number of PreferNoSchedule taints not
/// tolerated by `tols` (the pod's `prefer_tolerations`; fewer is better,
/// see [`normalize`] with `reverse`).
pub fn untolerated_soft_taints(tols: &[Toleration], node: &NodeInfo) -> i64 {
    node.props
        .soft_taints
        .iter()
        .filter(|t| !tols.iter().any(|tol| tol.tolerates(t)))
        .count() as i64
}

/// NodeAffinity raw score: the sum of the weights of the preferred terms
/// the node matches.
pub fn preferred_affinity(terms: &[(i64, Term)], node: &NodeInfo) -> i64 {
    terms
        .iter()
        .filter(|(_, t)| t.matches(&node.props.labels, &node.name))
        .map(|(w, _)| *w)
        .sum()
}

/// Kubernetes' `DefaultNormalizeScore`: scales raw scores so the highest
/// is 100; with `reverse`, fewer is better. All zero gives 0 (or 100
/// reversed).
pub fn normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.fill(MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        let v = MAX_NODE_SCORE * *s / max;
        *s = if reverse { MAX_NODE_SCORE - v } else { v };
    }
}
