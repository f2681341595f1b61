//! Pod states as the workload controllers see them: active (counted toward
//! replicas), ready, and available (ready for `minReadySeconds`), as
//! Kubernetes' `controller` and `podutil` packages define them.
use std::{sync::Arc, time::Duration};

use k8s_openapi::{
    api::core::v1::PodCondition,
    jiff::{SignedDuration, Timestamp},
};
use kube::runtime::reflector::Store;

use crate::controllers::slim::CachedPod;

/// Now, to the second (API times carry whole seconds).
pub(crate) fn now() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second()).unwrap_or_else(|_| Timestamp::now())
}

fn phase(pod: &CachedPod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// Not being deleted and not finished: a pod that counts toward replicas.
/// Pods with a deletionTimestamp are not active, so replacements are made
/// while they terminate.
pub(crate) fn is_active(pod: &CachedPod) -> bool {
    pod.metadata.deletion_timestamp.is_none() && !matches!(phase(pod), "Succeeded" | "Failed")
}

/// Finished (Succeeded or Failed).
pub(crate) fn is_finished(pod: &CachedPod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// The pod's `Ready` condition.
pub(crate) fn ready_condition(pod: &CachedPod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// `Ready=True`.
pub(crate) fn is_ready(pod: &CachedPod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// When the pod last became ready, if it is ready.
pub(crate) fn ready_since(pod: &CachedPod) -> Option<Timestamp> {
    ready_condition(pod)
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0)
}

/// How long until a ready pod counts as available: zero if it already does,
/// `None` if it is not ready (or never will be, lacking a transition time).
pub(crate) fn available_in(
    pod: &CachedPod,
    min_ready_seconds: i32,
    now: Timestamp,
) -> Option<Duration> {
    if !is_ready(pod) {
        return None;
    }
    if min_ready_seconds <= 0 {
        return Some(Duration::ZERO);
    }
    let since = ready_since(pod)?;
    let due = since
        .checked_add(SignedDuration::from_secs(i64::from(min_ready_seconds)))
        .ok()?;
    Some(Duration::try_from(due.duration_since(now)).unwrap_or(Duration::ZERO))
}

/// Ready for at least `min_ready_seconds`.
pub(crate) fn is_available(pod: &CachedPod, min_ready_seconds: i32, now: Timestamp) -> bool {
    available_in(pod, min_ready_seconds, now) == Some(Duration::ZERO)
}

/// Every cached pod of `namespace`.
pub(crate) fn in_namespace(store: &Store<CachedPod>, namespace: &str) -> Vec<Arc<CachedPod>> {
    store
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> CachedPod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn activity_readiness_and_availability() {
        let now: Timestamp = "2024-01-01T00:00:10Z".parse().unwrap();
        let ready = pod(
            json!({"metadata": {"name": "a"}, "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:05Z"}]}}),
        );
        assert!(is_active(&ready) && is_ready(&ready));
        assert!(is_available(&ready, 0, now));
        assert!(is_available(&ready, 5, now));
        assert_eq!(available_in(&ready, 8, now), Some(Duration::from_secs(3)));
        assert!(!is_available(&ready, 8, now));

        let pending = pod(json!({"metadata": {"name": "b"}, "status": {"phase": "Pending"}}));
        assert!(is_active(&pending) && !is_ready(&pending));
        assert_eq!(available_in(&pending, 0, now), None);

        let deleting =
            pod(json!({"metadata": {"name": "c", "deletionTimestamp": "2024-01-01T00:00:00Z"}}));
        assert!(!is_active(&deleting));
        let done = pod(json!({"metadata": {"name": "d"}, "status": {"phase": "Succeeded"}}));
        assert!(!is_active(&done) && is_finished(&done));
    }
}
