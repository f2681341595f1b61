//! Node selector terms (required and preferred node affinity), compiled
//! once per pod, matched against a node's labels and name with the
//! operators `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt` and `Lt`.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1;

/// One operator with its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// The label is one of the values.
    In(Vec<String>),
    /// The label is absent or none of the values.
    NotIn(Vec<String>),
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
    /// The label is an integer greater than this.
    Gt(i64),
    /// The label is an integer less than this.
    Lt(i64),
    /// A malformed requirement: matches nothing, as in Kubernetes.
    Invalid,
}

/// A compiled `NodeSelectorRequirement`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// Label key (or field name for `matchFields`).
    pub key: String,
    /// Operator and values.
    pub op: Op,
}

impl Requirement {
    fn compile(r: &v1::NodeSelectorRequirement) -> Self {
        let values = r.values.clone().unwrap_or_default();
        let int = |v: &[String]| match v {
            [one] => one.parse::<i64>().ok(),
            _ => None,
        };
        let op = match r.operator.as_str() {
            "In" if !values.is_empty() => Op::In(values),
            "NotIn" if !values.is_empty() => Op::NotIn(values),
            "Exists" if values.is_empty() => Op::Exists,
            "DoesNotExist" if values.is_empty() => Op::DoesNotExist,
            "Gt" => int(&values).map_or(Op::Invalid, Op::Gt),
            "Lt" => int(&values).map_or(Op::Invalid, Op::Lt),
            _ => Op::Invalid,
        };
        Self {
            key: r.key.clone(),
            op,
        }
    }

    /// Whether a label value (or its absence) satisfies this.
    pub fn matches(&self, value: Option<&str>) -> bool {
        match (&self.op, value) {
            (Op::In(vs), Some(v)) => vs.iter().any(|x| x == v),
            (Op::In(_), None) => false,
            (Op::NotIn(vs), Some(v)) => !vs.iter().any(|x| x == v),
            (Op::NotIn(_), None) => true,
            (Op::Exists, v) => v.is_some(),
            (Op::DoesNotExist, v) => v.is_none(),
            (Op::Gt(n), Some(v)) => v.parse::<i64>().is_ok_and(|x| x > *n),
            (Op::Lt(n), Some(v)) => v.parse::<i64>().is_ok_and(|x| x < *n),
            (Op::Gt(_) | Op::Lt(_) | Op::Invalid, _) => false,
        }
    }
}

/// A compiled `NodeSelectorTerm`: every expression and field must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// `matchExpressions` on labels.
    pub exprs: Vec<Requirement>,
    /// `matchFields` (only `metadata.name` exists on nodes).
    pub fields: Vec<Requirement>,
}

impl Term {
    /// Compiles a `NodeSelectorTerm`.
    pub fn compile(t: &v1::NodeSelectorTerm) -> Self {
        let all = |v: &Option<Vec<v1::NodeSelectorRequirement>>| {
            v.iter().flatten().map(Requirement::compile).collect()
        };
        Self {
            exprs: all(&t.match_expressions),
            fields: all(&t.match_fields),
        }
    }

    /// Whether a node with these labels and this name matches. An empty
    /// term matches nothing.
    pub fn matches(&self, labels: &BTreeMap<String, String>, node_name: &str) -> bool {
        if self.exprs.is_empty() && self.fields.is_empty() {
            return false;
        }
        self.exprs
            .iter()
            .all(|r| r.matches(labels.get(&r.key).map(String::as_str)))
            && self.fields.iter().all(|r| {
                let v = (r.key == "metadata.name").then_some(node_name);
                matches!(r.op, Op::In(_) | Op::NotIn(_)) && r.matches(v)
            })
    }
}

/// Whether any of `terms` matches (the terms of a `NodeSelector` are
/// ORed).
pub fn any_matches(terms: &[Term], labels: &BTreeMap<String, String>, node_name: &str) -> bool {
    terms.iter().any(|t| t.matches(labels, node_name))
}
