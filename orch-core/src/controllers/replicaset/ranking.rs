//! Which pods a ReplicaSet deletes first when it scales down, in the order
//! of Kubernetes' `ActivePodsWithRanks`: unscheduled before scheduled;
//! Pending before Unknown before Running; not ready before ready; lower
//! `controller.kubernetes.io/pod-deletion-cost` first; pods doubled up on a
//! node with related pods first; ready for less time first; more container
//! restarts first; newer first.
use std::{cmp::Ordering, collections::HashMap, sync::Arc};

use k8s_openapi::jiff::Timestamp;

use super::pods;
use crate::controllers::slim::CachedPod;

const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

fn node(pod: &CachedPod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

fn phase_rank(pod: &CachedPod) -> u8 {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 0,
    }
}

fn deletion_cost(pod: &CachedPod) -> i64 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DELETION_COST))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn max_restarts(pod: &CachedPod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |cs| {
            cs.iter().map(|c| c.restart_count).max().unwrap_or(0)
        })
}

/// Kubernetes' `afterOrZero` as an ordering: unknown first, then later first.
fn later_first(a: Option<Timestamp>, b: Option<Timestamp>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => b.cmp(&a),
    }
}

/// `Less` when `a` should be deleted before `b`. `rank_*` is the number of
/// related pods on the pod's node.
fn delete_order(a: &CachedPod, rank_a: usize, b: &CachedPod, rank_b: usize) -> Ordering {
    let (na, nb) = (node(a), node(b));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return if na.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    phase_rank(a)
        .cmp(&phase_rank(b))
        .then_with(|| pods::is_ready(a).cmp(&pods::is_ready(b)))
        .then_with(|| deletion_cost(a).cmp(&deletion_cost(b)))
        .then_with(|| rank_b.cmp(&rank_a))
        .then_with(|| {
            if pods::is_ready(a) && pods::is_ready(b) {
                later_first(pods::ready_since(a), pods::ready_since(b))
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| max_restarts(b).cmp(&max_restarts(a)))
        .then_with(|| {
            later_first(
                a.metadata.creation_timestamp.as_ref().map(|t| t.0),
                b.metadata.creation_timestamp.as_ref().map(|t| t.0),
            )
        })
}

/// The `n` pods of `candidates` to delete first. `related` are the active
/// pods of this ReplicaSet and its siblings (same controller), used to
/// prefer nodes that run several of them.
pub(super) fn pods_to_delete(
    candidates: &[Arc<CachedPod>],
    related: &[Arc<CachedPod>],
    n: usize,
) -> Vec<Arc<CachedPod>> {
    if n >= candidates.len() {
        return candidates.to_vec();
    }
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for p in related.iter().filter(|p| pods::is_active(p)) {
        *on_node.entry(node(p)).or_default() += 1;
    }
    let mut ranked: Vec<(usize, &Arc<CachedPod>)> = candidates
        .iter()
        .map(|p| (on_node.get(node(p)).copied().unwrap_or(0), p))
        .collect();
    ranked.sort_by(|(ra, a), (rb, b)| delete_order(a, *ra, b, *rb));
    ranked.into_iter().take(n).map(|(_, p)| p.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn pod(
        name: &str,
        node: &str,
        phase: &str,
        ready_at: Option<&str>,
        created: &str,
        extra: Value,
    ) -> Arc<CachedPod> {
        let mut v = json!({"metadata": {"name": name, "creationTimestamp": created}, "spec": {"containers": [], "nodeName": node},
            "status": {"phase": phase}});
        if let Some(t) = ready_at {
            v["status"]["conditions"] =
                json!([{"type": "Ready", "status": "True", "lastTransitionTime": t}]);
        }
        if let Some(m) = extra.as_object() {
            for (k, x) in m {
                v["metadata"][k] = x.clone();
            }
        }
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn names(v: &[Arc<CachedPod>]) -> Vec<&str> {
        v.iter()
            .map(|p| p.metadata.name.as_deref().unwrap())
            .collect()
    }

    #[test]
    fn unscheduled_then_pending_then_unready_then_ready() {
        let t0 = "2024-01-01T00:00:00Z";
        let ready_old = pod(
            "ready-old",
            "n1",
            "Running",
            Some("2024-01-01T00:00:10Z"),
            t0,
            json!({}),
        );
        let ready_new = pod(
            "ready-new",
            "n2",
            "Running",
            Some("2024-01-01T00:00:20Z"),
            t0,
            json!({}),
        );
        let unready = pod("unready", "n3", "Running", None, t0, json!({}));
        let pending = pod("pending", "n4", "Pending", None, t0, json!({}));
        let unscheduled = pod("unscheduled", "", "Pending", None, t0, json!({}));
        let all = vec![ready_old, ready_new, unready, pending, unscheduled];
        assert_eq!(
            names(&pods_to_delete(&all, &all, 4)),
            ["unscheduled", "pending", "unready", "ready-new"]
        );
    }

    #[test]
    fn cost_then_doubled_up_then_newer() {
        let ready = Some("2024-01-01T00:00:10Z");
        let cheap = pod(
            "cheap",
            "n1",
            "Running",
            ready,
            "2024-01-01T00:00:00Z",
            json!({"annotations": {DELETION_COST: "-5"}}),
        );
        let alone = pod(
            "alone",
            "n2",
            "Running",
            ready,
            "2024-01-01T00:00:09Z",
            json!({}),
        );
        let crowded = pod(
            "crowded",
            "n3",
            "Running",
            ready,
            "2024-01-01T00:00:00Z",
            json!({}),
        );
        let sibling = pod(
            "sibling",
            "n3",
            "Running",
            ready,
            "2024-01-01T00:00:00Z",
            json!({}),
        );
        let older = pod(
            "older",
            "n4",
            "Running",
            ready,
            "2024-01-01T00:00:01Z",
            json!({}),
        );
        let candidates = vec![alone.clone(), crowded.clone(), cheap.clone(), older.clone()];
        let related = vec![alone, crowded, cheap, older, sibling];
        assert_eq!(
            names(&pods_to_delete(&candidates, &related, 3)),
            ["cheap", "crowded", "alone"]
        );
    }
}
