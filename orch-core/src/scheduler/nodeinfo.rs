//! What the scheduler keeps per node: the scheduling-relevant part of the
//! Node object, compiled once per change, and the running totals of the
//! pods bound (or assumed) to it, updated incrementally.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;

use super::{
    resources::{node_allocatable, Resources},
    taints::{Taint, NO_EXECUTE, NO_SCHEDULE, PREFER_NO_SCHEDULE},
};

/// The part of a Node that filters and scores read. Two values compare
/// equal when the node's update cannot change a scheduling decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeProps {
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// `spec.unschedulable`.
    pub unschedulable: bool,
    /// The Ready condition is True.
    pub ready: bool,
    /// Taints with effect NoSchedule or NoExecute, in the node's order.
    pub hard_taints: Vec<Taint>,
    /// Taints with effect PreferNoSchedule.
    pub soft_taints: Vec<Taint>,
    /// Allocatable (or capacity) CPU, memory and pods.
    pub allocatable: Resources,
}

impl NodeProps {
    /// Compiles a Node.
    pub fn from_node(node: &Node) -> Self {
        let spec = node.spec.as_ref();
        let taints: Vec<Taint> = spec
            .and_then(|s| s.taints.as_ref())
            .map(|t| t.iter().map(Taint::from).collect())
            .unwrap_or_default();
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True");
        Self {
            labels: node.metadata.labels.clone().unwrap_or_default(),
            unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
            ready,
            hard_taints: taints
                .iter()
                .filter(|t| t.effect == NO_SCHEDULE || t.effect == NO_EXECUTE)
                .cloned()
                .collect(),
            soft_taints: taints
                .into_iter()
                .filter(|t| t.effect == PREFER_NO_SCHEDULE)
                .collect(),
            allocatable: node_allocatable(node),
        }
    }
}

/// One node (or a placeholder for pods bound to a node not seen yet).
#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    /// Node name.
    pub name: String,
    /// A Node object exists (placeholders only hold pods).
    pub exists: bool,
    /// The compiled Node.
    pub props: NodeProps,
    /// Sum of the requests of the pods on it (`pods` = their number).
    pub requested: Resources,
    /// The same with missing CPU/memory requests counted as the defaults,
    /// for scoring.
    pub nonzero_requested: Resources,
    /// Pods per owner on this node, as (owner id, count), sorted by id.
    pub owners: Vec<(u32, u32)>,
}

impl NodeInfo {
    /// Pods of owner `id` on this node.
    pub fn owner_count(&self, id: u32) -> u32 {
        match self.owners.binary_search_by_key(&id, |e| e.0) {
            Ok(i) => self.owners[i].1,
            Err(_) => 0,
        }
    }

    pub(super) fn add_owner(&mut self, id: u32) {
        match self.owners.binary_search_by_key(&id, |e| e.0) {
            Ok(i) => self.owners[i].1 += 1,
            Err(i) => self.owners.insert(i, (id, 1)),
        }
    }

    pub(super) fn remove_owner(&mut self, id: u32) {
        if let Ok(i) = self.owners.binary_search_by_key(&id, |e| e.0) {
            self.owners[i].1 -= 1;
            if self.owners[i].1 == 0 {
                self.owners.remove(i);
            }
        }
    }
}
