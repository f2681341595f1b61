//! What the scheduler needs to know about a pod, computed once from its
//! spec: requests, tolerations, node selector and affinity, owner.
use k8s_openapi::api::core::v1::Pod;

use super::{
    affinity::Term,
    resources::{pod_requests, Resources},
    taints::{Toleration, PREFER_NO_SCHEDULE},
};

/// The scheduler name pods get when they name none.
pub const DEFAULT_SCHEDULER: &str = "default-scheduler";

/// A pod, compiled for filtering and scoring.
#[derive(Debug, Clone, Default)]
pub struct PodInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID (the key of the scheduler cache).
    pub uid: String,
    /// `metadata.generation`: changes when the spec does.
    pub generation: i64,
    /// `spec.schedulerName` (default `default-scheduler`).
    pub scheduler_name: String,
    /// `spec.nodeName`, when set.
    pub node_name: Option<String>,
    /// Effective requests (`pods` = 1), for the fit filter.
    pub requests: Resources,
    /// Requests with missing CPU/memory counted as 100m/200Mi, for scores.
    pub nonzero: Resources,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// The tolerations that count for PreferNoSchedule taints (effect
    /// empty or PreferNoSchedule), for the TaintToleration score.
    pub prefer_tolerations: Vec<Toleration>,
    /// `spec.nodeSelector` pairs.
    pub node_selector: Vec<(String, String)>,
    /// Required node affinity terms (ORed), when given.
    pub required: Option<Vec<Term>>,
    /// Preferred node affinity terms with their weights.
    pub preferred: Vec<(i64, Term)>,
    /// UID of the controlling owner (`ownerReferences[controller=true]`).
    pub owner: Option<String>,
    /// `status.phase` is Succeeded or Failed: it holds no resources.
    pub terminal: bool,
}

impl PodInfo {
    /// Compiles a pod.
    pub fn from_pod(pod: &Pod) -> Self {
        let meta = &pod.metadata;
        let spec = pod.spec.as_ref();
        let node_affinity = spec
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.node_affinity.as_ref());
        let required = node_affinity
            .and_then(|na| {
                na.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(|ns| ns.node_selector_terms.iter().map(Term::compile).collect());
        let preferred = node_affinity
            .and_then(|na| {
                na.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .map(|p| {
                p.iter()
                    .filter(|t| t.weight != 0)
                    .map(|t| (i64::from(t.weight), Term::compile(&t.preference)))
                    .collect()
            })
            .unwrap_or_default();
        let owner = meta
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| o.uid.clone());
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        let tolerations: Vec<Toleration> = spec
            .and_then(|s| s.tolerations.as_ref())
            .map(|t| t.iter().map(Toleration::from).collect())
            .unwrap_or_default();
        let prefer_tolerations = tolerations
            .iter()
            .filter(|t| t.effect.is_empty() || t.effect == PREFER_NO_SCHEDULE)
            .cloned()
            .collect();
        Self {
            namespace: meta.namespace.clone().unwrap_or_else(|| "default".into()),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            generation: meta.generation.unwrap_or(0),
            scheduler_name: spec
                .and_then(|s| s.scheduler_name.clone())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_SCHEDULER.into()),
            node_name: spec
                .and_then(|s| s.node_name.clone())
                .filter(|n| !n.is_empty()),
            requests: spec.map(|s| pod_requests(s, false)).unwrap_or_default(),
            nonzero: spec.map(|s| pod_requests(s, true)).unwrap_or_default(),
            tolerations,
            prefer_tolerations,
            node_selector: spec
                .and_then(|s| s.node_selector.as_ref())
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            required,
            preferred,
            owner,
            terminal: matches!(phase, Some("Succeeded" | "Failed")),
        }
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}
