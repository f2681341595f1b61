//! The part of the nat and filter tables that orch owns, as data: what
//! [`render`](super::render) produces, what [`dump`](super::dump) parses
//! back from `iptables-save`, and what [`plan`](super::plan) compares.
//!
//! Rules are kept as the rule specification that follows `-A CHAIN ` in
//! `iptables-save` output, written in exactly the form `iptables-save`
//! prints, so a desired rule and a live one compare as plain strings.
use std::collections::BTreeMap;

/// One of the two tables orch writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum TableName {
    /// The filter table (REJECT of Service ports without endpoints).
    Filter,
    /// The nat table (DNAT, masquerade).
    Nat,
}

impl TableName {
    /// The name iptables uses.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Filter => "filter",
            Self::Nat => "nat",
        }
    }
}

/// The rules orch keeps in one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Chain {
    /// An orch chain whose rules are evaluated in order; rewritten whole
    /// when anything in it changes.
    Ordered(Vec<String>),
    /// Rules whose order does not matter, each with how often it occurs:
    /// orch's rules in a built-in chain (the jumps into orch's chains), and
    /// the per-Service-port rules of `ORCH-SERVICES`, whose matches are
    /// disjoint. Changed rule by rule with `-D` and `-A`.
    Unordered(BTreeMap<String, u32>),
}

impl Chain {
    /// How many rules the chain holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Ordered(rules) => rules.len(),
            Self::Unordered(rules) => rules.values().map(|n| *n as usize).sum(),
        }
    }
}

/// Built-in chains of the nat and filter tables. orch never declares,
/// flushes or deletes them; it only adds and removes its own jump rules.
pub(crate) fn is_builtin(chain: &str) -> bool {
    matches!(
        chain,
        "PREROUTING" | "INPUT" | "FORWARD" | "OUTPUT" | "POSTROUTING"
    )
}

/// orch's chains and rules in one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Table {
    /// Chain name → its rules.
    pub(crate) chains: BTreeMap<String, Chain>,
}

impl Table {
    /// Appends `rule` to the ordered chain `chain`, creating it.
    pub(crate) fn push(&mut self, chain: &str, rule: String) {
        match self
            .chains
            .entry(chain.to_string())
            .or_insert_with(|| Chain::Ordered(Vec::new()))
        {
            Chain::Ordered(rules) => rules.push(rule),
            Chain::Unordered(rules) => *rules.entry(rule).or_default() += 1,
        }
    }

    /// Adds `rule` to the unordered chain `chain`, creating it.
    pub(crate) fn insert(&mut self, chain: &str, rule: String) {
        match self.unordered(chain) {
            Chain::Unordered(rules) => *rules.entry(rule).or_default() += 1,
            Chain::Ordered(rules) => rules.push(rule),
        }
    }

    /// Declares the ordered chain `chain` with no rules, unless present.
    pub(crate) fn ordered(&mut self, chain: &str) {
        self.chains
            .entry(chain.to_string())
            .or_insert_with(|| Chain::Ordered(Vec::new()));
    }

    /// The unordered chain `chain`, created empty if missing.
    pub(crate) fn unordered(&mut self, chain: &str) -> &mut Chain {
        self.chains
            .entry(chain.to_string())
            .or_insert_with(|| Chain::Unordered(BTreeMap::new()))
    }

    /// An ordered chain's rules (empty when missing or unordered).
    pub(crate) fn rules(&self, chain: &str) -> &[String] {
        match self.chains.get(chain) {
            Some(Chain::Ordered(rules)) => rules,
            _ => &[],
        }
    }
}

/// orch's part of both tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Ruleset {
    /// The filter table.
    pub(crate) filter: Table,
    /// The nat table.
    pub(crate) nat: Table,
}
