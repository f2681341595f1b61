//! What the scheduler asks of the API server ([`Action`]s that `run`
//! carries out), how a binding can end, and the `PodScheduled=False`
//! condition list written for pods that fit nowhere.
use k8s_openapi::api::core::v1::{ObjectReference, PodCondition};
use serde_json::{json, Value};

use crate::{apiserver::meta, controllers::events::EventType};

/// Something the scheduler wants done through the API.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `POST pods/NAME/binding`.
    Bind(Binding),
    /// Merge-patch `pods/NAME/status` with these conditions.
    SetConditions {
        /// Namespace of the pod.
        namespace: String,
        /// Name of the pod.
        name: String,
        /// The whole new `status.conditions` list.
        conditions: Value,
    },
    /// Record an Event.
    Event {
        /// The pod.
        about: ObjectReference,
        /// Normal or Warning.
        kind: EventType,
        /// `Scheduled` or `FailedScheduling`.
        reason: &'static str,
        /// The message.
        message: String,
    },
}

/// A pod and the node chosen for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Namespace of the pod.
    pub namespace: String,
    /// Name of the pod.
    pub name: String,
    /// UID of the pod.
    pub uid: String,
    /// The node chosen.
    pub node: String,
}

/// How a binding call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindResult {
    /// The pod is bound to the node we chose.
    Bound,
    /// 409: the pod was already bound (by us or another scheduler): done.
    AlreadyBound,
    /// 409 for another reason (a concurrent write): try again at once.
    Conflict,
    /// 404, or the pod is being deleted: nothing to do.
    Gone,
    /// Any other failure: retry after a backoff.
    Failed(String),
}

/// The pod's conditions with PodScheduled=False, reason Unschedulable and
/// `message`; `None` when the pod already says exactly that. The
/// transition time is kept when the condition was already False.
pub fn unschedulable_conditions(conds: &[PodCondition], message: &str) -> Option<Value> {
    let old = conds.iter().find(|c| c.type_ == "PodScheduled");
    if old.is_some_and(|c| {
        c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
            && c.message.as_deref() == Some(message)
    }) {
        return None;
    }
    let since = old
        .filter(|c| c.status == "False")
        .and_then(|c| c.last_transition_time.as_ref())
        .map_or_else(meta::now, |t| {
            t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
        });
    let mut out: Vec<Value> = conds
        .iter()
        .filter(|c| c.type_ != "PodScheduled")
        .map(|c| serde_json::to_value(c).unwrap_or(Value::Null))
        .collect();
    out.push(json!({
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": message,
        "lastProbeTime": null,
        "lastTransitionTime": since,
    }));
    Some(Value::Array(out))
}
