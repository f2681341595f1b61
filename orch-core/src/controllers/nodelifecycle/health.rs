//! Node health: when did we last see a node's agent alive (its Lease
//! renewed or its Ready condition's heartbeat moved), measured on our own
//! clock as Kubernetes does, and the conditions to write once it has been
//! silent for the grace period.
use std::{collections::HashMap, time::Duration};

use k8s_openapi::{
    api::core::v1::{Node, NodeCondition},
    apimachinery::pkg::apis::meta::v1::Time,
    jiff::Timestamp,
};
use tokio::time::Instant;

/// Condition types the controller turns Unknown when a node goes silent.
const CONDITION_TYPES: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// What we last saw of one node.
#[derive(Debug)]
struct Probe {
    heartbeat: Option<Timestamp>,
    renew: Option<Timestamp>,
    seen: Instant,
}

/// The last sign of life of every node, by uid.
#[derive(Debug, Default)]
pub struct Health {
    probes: HashMap<String, Probe>,
    ready: HashMap<String, Option<String>>,
}

impl Health {
    /// Records the node's current heartbeat and Lease renewal and returns
    /// how long ago either last changed. A node seen for the first time
    /// (also after a restart or a leader change) starts a fresh grace period.
    pub fn observe(
        &mut self,
        uid: &str,
        heartbeat: Option<Timestamp>,
        renew: Option<Timestamp>,
        now: Instant,
    ) -> Duration {
        let p = self.probes.entry(uid.to_string()).or_insert(Probe {
            heartbeat,
            renew,
            seen: now,
        });
        if p.heartbeat != heartbeat || p.renew != renew {
            *p = Probe {
                heartbeat,
                renew,
                seen: now,
            };
        }
        now.saturating_duration_since(p.seen)
    }

    /// Records the node's Ready status; says whether it just became
    /// `True` (`Some(true)`) or stopped being `True` (`Some(false)`). The
    /// first sighting of a node is no change.
    pub fn ready_changed(&mut self, uid: &str, ready: Option<&str>) -> Option<bool> {
        let now = ready.map(str::to_string);
        let before = self.ready.insert(uid.to_string(), now)?;
        let (was, is) = (before.as_deref() == Some("True"), ready == Some("True"));
        (was != is).then_some(is)
    }

    /// Forgets nodes that no longer exist.
    pub fn retain(&mut self, live: impl Fn(&str) -> bool) {
        self.probes.retain(|uid, _| live(uid));
        self.ready.retain(|uid, _| live(uid));
    }
}

/// The node's condition of type `type_`.
pub fn condition<'a>(node: &'a Node, type_: &str) -> Option<&'a NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// The status of the node's Ready condition (`True`, `False`, `Unknown`).
pub fn ready_status(node: &Node) -> Option<&str> {
    condition(node, "Ready").map(|c| c.status.as_str())
}

/// The heartbeat of the node's Ready condition.
pub fn heartbeat(node: &Node) -> Option<Timestamp> {
    condition(node, "Ready")?
        .last_heartbeat_time
        .as_ref()
        .map(|t| t.0)
}

/// The conditions of a node whose agent went silent: Ready and the pressure
/// conditions Unknown (`NodeStatusUnknown`, or `NodeStatusNeverUpdated` for
/// a condition never posted). `None` when they already are.
pub fn silent_conditions(node: &Node, now: Timestamp) -> Option<Vec<NodeCondition>> {
    let mut conds = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let mut changed = false;
    for type_ in CONDITION_TYPES {
        match conds.iter_mut().find(|c| c.type_ == type_) {
            Some(c) if c.status == "Unknown" => {}
            Some(c) => {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(Time(now));
                changed = true;
            }
            None => {
                conds.push(NodeCondition {
                    type_: type_.into(),
                    status: "Unknown".into(),
                    reason: Some("NodeStatusNeverUpdated".into()),
                    message: Some("Kubelet never posted node status.".into()),
                    last_heartbeat_time: node.metadata.creation_timestamp.clone(),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
        }
    }
    changed.then_some(conds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn silence_is_measured_from_the_last_change() {
        let mut h = Health::default();
        let t0 = Instant::now();
        let hb = Some(Timestamp::UNIX_EPOCH);
        assert_eq!(h.observe("u", hb, None, t0), Duration::ZERO);
        assert_eq!(
            h.observe("u", hb, None, t0 + Duration::from_secs(5)),
            Duration::from_secs(5)
        );
        let renewed = Some(Timestamp::from_second(10).unwrap());
        assert_eq!(
            h.observe("u", hb, renewed, t0 + Duration::from_secs(6)),
            Duration::ZERO
        );
        assert_eq!(
            h.observe("u", hb, renewed, t0 + Duration::from_secs(8)),
            Duration::from_secs(2)
        );
        assert_eq!(h.ready_changed("u", Some("True")), None);
        assert_eq!(h.ready_changed("u", Some("Unknown")), Some(false));
        assert_eq!(h.ready_changed("u", Some("False")), None);
        assert_eq!(h.ready_changed("u", Some("True")), Some(true));
        h.retain(|_| false);
        assert_eq!(
            h.observe("u", hb, renewed, t0 + Duration::from_secs(9)),
            Duration::ZERO
        );
    }

    #[test]
    fn silent_nodes_turn_unknown_once() {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": "n1"},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]},
        }))
        .unwrap();
        let conds = silent_conditions(&node, Timestamp::UNIX_EPOCH).unwrap();
        let ready = conds.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_deref()),
            ("Unknown", Some("NodeStatusUnknown"))
        );
        assert_eq!(
            ready.message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        assert_eq!(conds.len(), 4);
        let mut node = node;
        node.status.as_mut().unwrap().conditions = Some(conds);
        assert_eq!(ready_status(&node), Some("Unknown"));
        assert!(silent_conditions(&node, Timestamp::UNIX_EPOCH).is_none());
    }
}
