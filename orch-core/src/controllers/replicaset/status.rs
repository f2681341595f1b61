//! ReplicaSet status: replicas, fullyLabeledReplicas, readyReplicas,
//! availableReplicas, observedGeneration and the ReplicaFailure condition,
//! computed from the pods the ReplicaSet controls and written through
//! `/status` only when it changed.
use std::{sync::Arc, time::Duration};

use k8s_openapi::{
    api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus},
    apimachinery::pkg::apis::meta::v1::Time,
    jiff::Timestamp,
};
use kube::{
    api::{Api, Patch, PatchParams},
    Client,
};
use serde_json::json;

use super::pods;
use crate::controllers::slim::CachedPod;
use crate::controllers::ControllerError;

/// Why creating or deleting pods failed, for the ReplicaFailure condition.
#[derive(Debug)]
pub(super) struct ManageError {
    /// `FailedCreate` or `FailedDelete`.
    pub reason: &'static str,
    /// The API error.
    pub error: ControllerError,
}

fn min_ready_seconds(rs: &ReplicaSet) -> i32 {
    rs.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

/// The status `rs` should have, given the pods it controls.
pub(super) fn calculate(
    rs: &ReplicaSet,
    owned: &[Arc<CachedPod>],
    failure: Option<&ManageError>,
    now: Timestamp,
) -> ReplicaSetStatus {
    let template_labels = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let count = |f: &dyn Fn(&CachedPod) -> bool| {
        i32::try_from(owned.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
    };
    let fully_labeled = count(&|p| {
        let labels = p.metadata.labels.as_ref();
        template_labels
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
    });
    let old = rs
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let mut conditions: Vec<ReplicaSetCondition> = old
        .iter()
        .filter(|c| c.type_ != "ReplicaFailure")
        .cloned()
        .collect();
    if let Some(f) = failure {
        let existing = old.iter().find(|c| c.type_ == "ReplicaFailure");
        conditions.push(existing.cloned().unwrap_or_else(|| ReplicaSetCondition {
            type_: "ReplicaFailure".into(),
            status: "True".into(),
            reason: Some(f.reason.into()),
            message: Some(f.error.to_string()),
            last_transition_time: Some(Time(now)),
        }));
    }
    ReplicaSetStatus {
        replicas: count(&|_| true),
        fully_labeled_replicas: Some(fully_labeled),
        ready_replicas: Some(count(&pods::is_ready)),
        available_replicas: Some(count(&|p| {
            pods::is_available(p, min_ready_seconds(rs), now)
        })),
        observed_generation: rs.metadata.generation,
        conditions: (!conditions.is_empty()).then_some(conditions),
        terminating_replicas: None,
    }
}

/// When a ready pod becomes available (after minReadySeconds), so the
/// status is recomputed then.
pub(super) fn next_availability_check(
    rs: &ReplicaSet,
    owned: &[Arc<CachedPod>],
    now: Timestamp,
) -> Option<Duration> {
    owned
        .iter()
        .filter_map(|p| pods::available_in(p, min_ready_seconds(rs), now))
        .filter(|d| !d.is_zero())
        .min()
        .map(|d| d + Duration::from_millis(100))
}

fn same(a: &ReplicaSetStatus, b: &ReplicaSetStatus) -> bool {
    let n = |v: Option<i32>| v.unwrap_or(0);
    a.replicas == b.replicas
        && n(a.fully_labeled_replicas) == n(b.fully_labeled_replicas)
        && n(a.ready_replicas) == n(b.ready_replicas)
        && n(a.available_replicas) == n(b.available_replicas)
        && a.observed_generation == b.observed_generation
        && a.conditions.clone().unwrap_or_default() == b.conditions.clone().unwrap_or_default()
}

/// Writes `status` unless `rs` already has it.
pub(super) async fn write_if_changed(
    client: &Client,
    rs: &ReplicaSet,
    status: ReplicaSetStatus,
) -> Result<(), ControllerError> {
    if rs.status.as_ref().is_some_and(|s| same(s, &status)) {
        return Ok(());
    }
    let api: Api<ReplicaSet> = Api::namespaced(
        client.clone(),
        rs.metadata.namespace.as_deref().unwrap_or_default(),
    );
    let patch = json!({"status": {
        "replicas": status.replicas,
        "fullyLabeledReplicas": status.fully_labeled_replicas,
        "readyReplicas": status.ready_replicas,
        "availableReplicas": status.available_replicas,
        "observedGeneration": status.observed_generation,
        "conditions": status.conditions,
    }});
    api.patch_status(
        rs.metadata.name.as_deref().unwrap_or_default(),
        &PatchParams::default(),
        &Patch::Merge(patch),
    )
    .await?;
    Ok(())
}
