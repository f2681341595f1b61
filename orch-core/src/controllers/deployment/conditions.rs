//! Deployment conditions: types, reasons, and Kubernetes' rules for
//! setting them (a condition with the same status and reason is left
//! alone; lastTransitionTime survives a change that keeps the status).
use k8s_openapi::{
    api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus},
    apimachinery::pkg::apis::meta::v1::Time,
};

use crate::controllers::replicaset::pods;

/// Condition type: enough pods are available.
pub(super) const AVAILABLE: &str = "Available";
/// Condition type: the rollout is progressing (or stuck).
pub(super) const PROGRESSING: &str = "Progressing";
/// Condition type: pods could not be created or deleted.
pub(super) const REPLICA_FAILURE: &str = "ReplicaFailure";

/// Available=True reason.
pub(super) const MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
/// Available=False reason.
pub(super) const MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";
/// Progressing reason: we created the new ReplicaSet.
pub(super) const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
/// Progressing reason: the new ReplicaSet already existed.
pub(super) const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
/// Progressing reason: the rollout moved forward.
pub(super) const RS_UPDATED: &str = "ReplicaSetUpdated";
/// Progressing reason: the rollout is complete.
pub(super) const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
/// Progressing=False reason: no progress within progressDeadlineSeconds.
pub(crate) const TIMED_OUT: &str = "ProgressDeadlineExceeded";
/// Progressing=False reason: the new ReplicaSet could not be created.
pub(super) const RS_CREATE_ERROR: &str = "ReplicaSetCreateError";
/// Progressing=Unknown reason: paused.
pub(super) const PAUSED: &str = "DeploymentPaused";
/// Progressing=Unknown reason: resumed.
pub(super) const RESUMED: &str = "DeploymentResumed";

/// A new condition stamped now.
pub(super) fn new(type_: &str, status: &str, reason: &str, message: String) -> DeploymentCondition {
    let now = Some(Time(pods::now()));
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: now.clone(),
        last_transition_time: now,
    }
}

/// The condition of `type_`, if any.
pub(super) fn get<'a>(
    status: &'a DeploymentStatus,
    type_: &str,
) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// The condition of `type_` of a Deployment, if any.
pub(super) fn of<'a>(d: &'a Deployment, type_: &str) -> Option<&'a DeploymentCondition> {
    get(d.status.as_ref()?, type_)
}

/// Removes the condition of `type_`.
pub(super) fn remove(status: &mut DeploymentStatus, type_: &str) {
    if let Some(c) = status.conditions.as_mut() {
        c.retain(|c| c.type_ != type_);
    }
}

/// Kubernetes' `SetDeploymentCondition`.
pub(super) fn set(status: &mut DeploymentStatus, mut cond: DeploymentCondition) {
    if let Some(current) = get(status, &cond.type_) {
        if current.status == cond.status && current.reason == cond.reason {
            return;
        }
        if current.status == cond.status {
            cond.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove(status, &cond.type_);
    status.conditions.get_or_insert_with(Vec::new).push(cond);
}

/// progressDeadlineSeconds, unless unset or "never" (MaxInt32).
pub(super) fn progress_deadline(d: &Deployment) -> Option<i32> {
    d.spec
        .as_ref()?
        .progress_deadline_seconds
        .filter(|s| *s != i32::MAX)
}
