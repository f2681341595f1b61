//! The scheduling algorithm as a pure, in-process unit: filter the nodes
//! of the cache for one pod, score the feasible ones, pick the best. No
//! I/O, so it can be tested and benchmarked alone.
//!
//! As in Kubernetes, with 100 nodes or more only the first
//! `max(50 − N/125, 5)`% of feasible nodes found (never fewer than 100)
//! are scored, and each search starts where the previous one stopped, so
//! the whole cluster is covered round-robin.
use std::{collections::HashMap, fmt};

use super::{
    cache::Cache,
    filter::{feasible, fits, Reason},
    podinfo::PodInfo,
    score::{self, normalize},
};

/// Where a pod goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The chosen node.
    pub node: String,
    /// Its weighted total score.
    pub score: i64,
    /// Feasible nodes found (and scored).
    pub feasible: usize,
    /// Nodes filtered to find them.
    pub evaluated: usize,
}

/// Why a pod fits nowhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FitError {
    /// The cluster has no nodes.
    NoNodes,
    /// Every node was filtered out, for these reasons.
    Unfit {
        /// Number of nodes considered.
        nodes: usize,
        /// `(count, reason)` as Kubernetes sorts them.
        reasons: Vec<(usize, String)>,
    },
}

impl fmt::Display for FitError {
    /// `0/3 nodes are available: 1 node(s) had untolerated taint {k: v},
    /// 2 Insufficient cpu.` (Kubernetes' `FitError.Error()`: the
    /// `"<count> <reason>"` strings sorted as strings.)
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FitError::NoNodes => f.write_str("no nodes available to schedule pods"),
            FitError::Unfit { nodes, reasons } => {
                let mut parts: Vec<String> =
                    reasons.iter().map(|(n, r)| format!("{n} {r}")).collect();
                parts.sort();
                write!(f, "0/{nodes} nodes are available: {}.", parts.join(", "))
            }
        }
    }
}

/// How many feasible nodes to look for among `n` nodes.
/// `percentage` 0 means adaptive (`max(50 − n/125, 5)`).
pub fn num_feasible_nodes_to_find(n: usize, percentage: u32) -> usize {
    const MIN_FEASIBLE: usize = 100;
    if n < MIN_FEASIBLE || percentage >= 100 {
        return n;
    }
    let pct = if percentage == 0 {
        (50 - (n / 125) as i64).max(5) as usize
    } else {
        percentage as usize
    };
    (n * pct / 100).max(MIN_FEASIBLE)
}

/// The algorithm's state between pods: the rotating start index, the tie
/// breaker, and reusable buffers.
#[derive(Debug)]
pub struct Algorithm {
    /// Share of nodes to score, in percent; 0 = adaptive (Kubernetes'
    /// default), 100 = all.
    pub percentage_of_nodes_to_score: u32,
    next_start: usize,
    rng: u64,
    feasible: Vec<u32>,
    totals: Vec<i64>,
    scratch: Vec<i64>,
}

impl Default for Algorithm {
    fn default() -> Self {
        Self::new(0)
    }
}

impl Algorithm {
    /// An algorithm scoring `percentage` % of the nodes (0 = adaptive).
    pub fn new(percentage: u32) -> Self {
        Self {
            percentage_of_nodes_to_score: percentage,
            next_start: 0,
            rng: 0x9E37_79B9_7F4A_7C15,
            feasible: Vec::new(),
            totals: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64*: good enough to break ties.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Picks a node for `pod` among the nodes of `cache`.
    pub fn schedule(&mut self, cache: &Cache, pod: &PodInfo) -> Result<Placement, FitError> {
        let live = cache.live();
        let n = live.len();
        if n == 0 {
            return Err(FitError::NoNodes);
        }
        let want = num_feasible_nodes_to_find(n, self.percentage_of_nodes_to_score);
        let start = self.next_start % n;
        self.feasible.clear();
        let mut evaluated = 0;
        for i in 0..n {
            let slot = live[(start + i) % n];
            evaluated += 1;
            if feasible(pod, cache.slot(slot)) {
                self.feasible.push(slot);
                if self.feasible.len() >= want {
                    break;
                }
            }
        }
        self.next_start = (start + evaluated) % n;
        if self.feasible.is_empty() {
            return Err(diagnose(cache, pod));
        }
        let feasible = self.feasible.len();
        if feasible == 1 {
            let node = cache.slot(self.feasible[0]).name.clone();
            return Ok(Placement {
                node,
                score: 0,
                feasible,
                evaluated,
            });
        }
        self.score_feasible(cache, pod);
        let mut best = 0;
        let mut ties = 0u64;
        for i in 0..feasible {
            if self.totals[i] > self.totals[best] {
                best = i;
                ties = 1;
            } else if self.totals[i] == self.totals[best] {
                ties += 1;
                if self.random().is_multiple_of(ties) {
                    best = i;
                }
            }
        }
        Ok(Placement {
            node: cache.slot(self.feasible[best]).name.clone(),
            score: self.totals[best],
            feasible,
            evaluated,
        })
    }

    /// Fills `totals` with the weighted score of each feasible node.
    fn score_feasible(&mut self, cache: &Cache, pod: &PodInfo) {
        let feasible = std::mem::take(&mut self.feasible);
        let nodes = || feasible.iter().map(|s| cache.slot(*s));
        self.totals.clear();
        self.totals.extend(nodes().map(|n| {
            score::LEAST_ALLOCATED_WEIGHT * score::least_allocated(pod, n)
                + score::BALANCED_WEIGHT * score::balanced(pod, n)
        }));
        // TaintToleration: only nodes with PreferNoSchedule taints differ.
        let tols = &pod.prefer_tolerations;
        self.scratch.clear();
        self.scratch
            .extend(nodes().map(|n| score::untolerated_soft_taints(tols, n)));
        normalize(&mut self.scratch, true);
        add_weighted(&mut self.totals, &self.scratch, score::TAINT_WEIGHT);
        if !pod.preferred.is_empty() {
            self.scratch.clear();
            self.scratch
                .extend(nodes().map(|n| score::preferred_affinity(&pod.preferred, n)));
            normalize(&mut self.scratch, false);
            add_weighted(&mut self.totals, &self.scratch, score::AFFINITY_WEIGHT);
        }
        // Spreading: fewer pods of the same owner is better.
        if let Some(owner) = pod.owner.as_deref() {
            self.scratch.clear();
            match cache.owner_id(owner) {
                Some(id) => self
                    .scratch
                    .extend(nodes().map(|n| i64::from(n.owner_count(id)))),
                None => self.scratch.resize(feasible.len(), 0),
            }
            normalize(&mut self.scratch, true);
            add_weighted(&mut self.totals, &self.scratch, score::SPREAD_WEIGHT);
        }
        self.feasible = feasible;
    }
}

/// Why no node fits: every node's reasons, counted (a second pass, run
/// only for pods that fit nowhere).
fn diagnose(cache: &Cache, pod: &PodInfo) -> FitError {
    let mut reasons: Vec<Reason<'_>> = Vec::new();
    let mut histogram: HashMap<Reason<'_>, usize> = HashMap::new();
    for slot in cache.live() {
        fits(pod, cache.slot(*slot), &mut reasons);
        for r in reasons.drain(..) {
            *histogram.entry(r).or_default() += 1;
        }
    }
    FitError::Unfit {
        nodes: cache.num_nodes(),
        reasons: histogram
            .into_iter()
            .map(|(r, c)| (c, r.to_string()))
            .collect(),
    }
}

fn add_weighted(totals: &mut [i64], scores: &[i64], weight: i64) {
    for (t, s) in totals.iter_mut().zip(scores) {
        *t += weight * s;
    }
}
