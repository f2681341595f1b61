//! Taints and tolerations, compiled once per node and per pod, and
//! Kubernetes' `ToleratesTaint` rule.
use k8s_openapi::api::core::v1;

/// `NoSchedule`.
pub const NO_SCHEDULE: &str = "NoSchedule";
/// `PreferNoSchedule`.
pub const PREFER_NO_SCHEDULE: &str = "PreferNoSchedule";
/// `NoExecute`.
pub const NO_EXECUTE: &str = "NoExecute";
/// Taint key of nodes with `spec.unschedulable`.
pub const UNSCHEDULABLE_KEY: &str = "node.kubernetes.io/unschedulable";
/// Taint key of nodes that are not Ready.
pub const NOT_READY_KEY: &str = "node.kubernetes.io/not-ready";

/// A node taint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Taint {
    /// Key.
    pub key: String,
    /// Value (empty when absent).
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

impl From<&v1::Taint> for Taint {
    fn from(t: &v1::Taint) -> Self {
        Self {
            key: t.key.clone(),
            value: t.value.clone().unwrap_or_default(),
            effect: t.effect.clone(),
        }
    }
}

/// A pod toleration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toleration {
    /// Key; empty matches every key.
    pub key: String,
    /// Operator `Exists` (otherwise `Equal`).
    pub exists: bool,
    /// Value compared by `Equal`.
    pub value: String,
    /// Effect; empty matches every effect.
    pub effect: String,
    /// An operator other than `Equal` and `Exists` tolerates nothing.
    pub valid: bool,
}

impl From<&v1::Toleration> for Toleration {
    fn from(t: &v1::Toleration) -> Self {
        let op = t.operator.as_deref().unwrap_or("");
        Self {
            key: t.key.clone().unwrap_or_default(),
            exists: op == "Exists",
            value: t.value.clone().unwrap_or_default(),
            effect: t.effect.clone().unwrap_or_default(),
            valid: matches!(op, "" | "Equal" | "Exists"),
        }
    }
}

impl Toleration {
    /// Kubernetes' `Toleration.ToleratesTaint`.
    pub fn tolerates(&self, t: &Taint) -> bool {
        if !self.effect.is_empty() && self.effect != t.effect {
            return false;
        }
        if !self.key.is_empty() && self.key != t.key {
            return false;
        }
        self.valid && (self.exists || self.value == t.value)
    }

    /// Whether this tolerates a taint `key:NoSchedule` with no value.
    pub fn tolerates_key(&self, key: &str) -> bool {
        self.tolerates(&Taint {
            key: key.into(),
            value: String::new(),
            effect: NO_SCHEDULE.into(),
        })
    }
}

/// Whether any of `tols` tolerates `t`.
pub fn tolerated(tols: &[Toleration], t: &Taint) -> bool {
    tols.iter().any(|tol| tol.tolerates(t))
}
