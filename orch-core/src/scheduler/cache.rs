//! The scheduler cache: every node with the running totals of the pods on
//! it, and every bound pod, kept up to date incrementally from watch
//! events. Pods the scheduler has just placed are *assumed*: they count
//! against their node at once, before the API server has even answered
//! the binding, until the watch confirms them or, once binding has
//! finished, a timeout expires them. Filters and scores read the cache
//! directly; no per-pod snapshot is built.
use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::Node;

use super::{
    nodeinfo::{NodeInfo, NodeProps},
    podinfo::PodInfo,
    resources::Resources,
};

/// How long a bound-but-unconfirmed assumed pod counts by default.
pub const DEFAULT_ASSUMED_TTL: Duration = Duration::from_secs(30);

/// What a Node update changed, for re-queueing unschedulable pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeChange {
    /// A node that did not exist before.
    Added,
    /// Something filters or scores read changed.
    Updated,
    /// Nothing the scheduler reads changed.
    Unchanged,
}

/// State of a pod in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Assumed {
    /// Seen bound through the watch.
    Confirmed,
    /// Placed by us; the binding call has not finished.
    Binding,
    /// Placed by us and bound; expires at this instant unless confirmed.
    Until(Instant),
}

#[derive(Debug, Clone)]
struct PodEntry {
    slot: u32,
    requests: Resources,
    nonzero: Resources,
    owner: Option<u32>,
    state: Assumed,
}

/// Nodes and the pods on them.
#[derive(Debug)]
pub struct Cache {
    slots: Vec<NodeInfo>,
    by_name: HashMap<String, u32>,
    live: Vec<u32>,
    pods: HashMap<String, PodEntry>,
    assumed: HashSet<String>,
    owners: HashMap<String, (u32, usize)>,
    owner_uids: Vec<String>,
    free_owner_ids: Vec<u32>,
    assumed_ttl: Duration,
}

impl Default for Cache {
    fn default() -> Self {
        Self::new(DEFAULT_ASSUMED_TTL)
    }
}

impl Cache {
    /// An empty cache whose assumed pods expire `assumed_ttl` after their
    /// binding finished.
    pub fn new(assumed_ttl: Duration) -> Self {
        Self {
            slots: Vec::new(),
            by_name: HashMap::new(),
            live: Vec::new(),
            pods: HashMap::new(),
            assumed: HashSet::new(),
            owners: HashMap::new(),
            owner_uids: Vec::new(),
            free_owner_ids: Vec::new(),
            assumed_ttl,
        }
    }

    /// Number of nodes (Node objects) in the cache.
    pub fn num_nodes(&self) -> usize {
        self.live.len()
    }

    /// Slots of the existing nodes, in a stable order.
    pub fn live(&self) -> &[u32] {
        &self.live
    }

    /// The node in `slot`.
    pub fn slot(&self, slot: u32) -> &NodeInfo {
        &self.slots[slot as usize]
    }

    /// The node called `name`, if a Node object exists.
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        let s = *self.by_name.get(name)?;
        Some(self.slot(s)).filter(|n| n.exists)
    }

    /// The names of the existing nodes.
    pub fn node_names(&self) -> impl Iterator<Item = &str> {
        self.live.iter().map(|s| self.slot(*s).name.as_str())
    }

    fn slot_for(&mut self, name: &str) -> u32 {
        if let Some(s) = self.by_name.get(name) {
            return *s;
        }
        let s = u32::try_from(self.slots.len()).expect("fewer than 2^32 nodes");
        self.slots.push(NodeInfo {
            name: name.to_string(),
            ..Default::default()
        });
        self.by_name.insert(name.to_string(), s);
        s
    }

    /// Adds or updates a node from its object.
    pub fn upsert_node(&mut self, node: &Node) -> NodeChange {
        let name = node.metadata.name.clone().unwrap_or_default();
        let props = NodeProps::from_node(node);
        let s = self.slot_for(&name);
        let info = &mut self.slots[s as usize];
        if !info.exists {
            info.exists = true;
            info.props = props;
            self.live.push(s);
            NodeChange::Added
        } else if info.props != props {
            info.props = props;
            NodeChange::Updated
        } else {
            NodeChange::Unchanged
        }
    }

    /// Removes a node. Pods still bound to it keep counting against it
    /// until they are deleted (a node added again with the same name sees
    /// them).
    pub fn remove_node(&mut self, name: &str) {
        if let Some(&s) = self.by_name.get(name) {
            let info = &mut self.slots[s as usize];
            if info.exists {
                info.exists = false;
                info.props = NodeProps::default();
                self.live.retain(|x| *x != s);
            }
        }
    }

    /// Keeps only the nodes named in `names` (after a re-list).
    pub fn retain_nodes(&mut self, names: &HashSet<String>) {
        let gone: Vec<String> = self
            .node_names()
            .filter(|n| !names.contains(*n))
            .map(str::to_string)
            .collect();
        for n in gone {
            self.remove_node(&n);
        }
    }

    /// The id of an owner UID, if any pod of that owner is in the cache.
    pub fn owner_id(&self, uid: &str) -> Option<u32> {
        self.owners.get(uid).map(|e| e.0)
    }

    fn owner_ref(&mut self, uid: &str) -> u32 {
        if let Some(e) = self.owners.get_mut(uid) {
            e.1 += 1;
            return e.0;
        }
        let id = match self.free_owner_ids.pop() {
            Some(id) => {
                self.owner_uids[id as usize] = uid.to_string();
                id
            }
            None => {
                self.owner_uids.push(uid.to_string());
                u32::try_from(self.owner_uids.len() - 1).expect("fewer than 2^32 owners")
            }
        };
        self.owners.insert(uid.to_string(), (id, 1));
        id
    }

    fn owner_unref(&mut self, id: u32) {
        let uid = std::mem::take(&mut self.owner_uids[id as usize]);
        let Some(e) = self.owners.get_mut(&uid) else {
            return;
        };
        e.1 -= 1;
        if e.1 == 0 {
            self.owners.remove(&uid);
            self.free_owner_ids.push(id);
        } else {
            self.owner_uids[id as usize] = uid;
        }
    }

    fn insert(&mut self, pod: &PodInfo, node: &str, state: Assumed) {
        let slot = self.slot_for(node);
        let owner = pod.owner.as_deref().map(|o| self.owner_ref(o));
        let info = &mut self.slots[slot as usize];
        info.requested.add(&pod.requests);
        info.nonzero_requested.add(&pod.nonzero);
        if let Some(o) = owner {
            info.add_owner(o);
        }
        if state != Assumed::Confirmed {
            self.assumed.insert(pod.uid.clone());
        }
        let entry = PodEntry {
            slot,
            requests: pod.requests,
            nonzero: pod.nonzero,
            owner,
            state,
        };
        self.pods.insert(pod.uid.clone(), entry);
    }

    /// Removes a pod; returns whether it was in the cache.
    pub fn remove_pod(&mut self, uid: &str) -> bool {
        let Some(e) = self.pods.remove(uid) else {
            return false;
        };
        self.assumed.remove(uid);
        let info = &mut self.slots[e.slot as usize];
        info.requested.sub(&e.requests);
        info.nonzero_requested.sub(&e.nonzero);
        if let Some(o) = e.owner {
            info.remove_owner(o);
            self.owner_unref(o);
        }
        true
    }

    /// Applies a pod seen through the watch: a pod bound to a node and not
    /// terminated counts against that node (confirming it if it was
    /// assumed); a terminated pod is removed, and so is a pod seen unbound
    /// unless we assumed it (the watch may still show it as it was before
    /// our binding). Returns whether a pod was removed (which frees
    /// resources).
    pub fn observe_pod(&mut self, pod: &PodInfo) -> bool {
        match (&pod.node_name, pod.terminal) {
            (Some(node), false) => {
                if let Some(e) = self.pods.get_mut(&pod.uid) {
                    if self.slots[e.slot as usize].name == *node && e.requests == pod.requests {
                        e.state = Assumed::Confirmed;
                        self.assumed.remove(&pod.uid);
                        return false;
                    }
                    self.remove_pod(&pod.uid);
                }
                self.insert(pod, node, Assumed::Confirmed);
                false
            }
            (None, false)
                if self
                    .pods
                    .get(&pod.uid)
                    .is_some_and(|e| e.state != Assumed::Confirmed) =>
            {
                false
            }
            _ => self.remove_pod(&pod.uid),
        }
    }

    /// Whether the cache holds this pod (bound or assumed).
    pub fn contains_pod(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    /// The node a cached pod is on.
    pub fn pod_node(&self, uid: &str) -> Option<&str> {
        self.pods
            .get(uid)
            .map(|e| self.slots[e.slot as usize].name.as_str())
    }

    /// Counts `pod` against `node` now, before binding.
    pub fn assume(&mut self, pod: &PodInfo, node: &str) {
        self.remove_pod(&pod.uid);
        self.insert(pod, node, Assumed::Binding);
    }

    /// The binding of an assumed pod finished: it expires after the TTL
    /// unless the watch confirms it first.
    pub fn finish_binding(&mut self, uid: &str, now: Instant) {
        if let Some(e) = self.pods.get_mut(uid) {
            if e.state == Assumed::Binding {
                e.state = Assumed::Until(now + self.assumed_ttl);
            }
        }
    }

    /// Drops an assumed pod whose binding failed (a confirmed one stays).
    pub fn forget(&mut self, uid: &str) {
        if self
            .pods
            .get(uid)
            .is_some_and(|e| e.state != Assumed::Confirmed)
        {
            self.remove_pod(uid);
        }
    }

    /// Drops the assumed pods whose TTL passed; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        let expired: Vec<String> = self
            .assumed
            .iter()
            .filter(|uid| {
                self.pods
                    .get(*uid)
                    .is_some_and(|e| matches!(e.state, Assumed::Until(t) if t <= now))
            })
            .cloned()
            .collect();
        for uid in &expired {
            self.remove_pod(uid);
        }
        expired.len()
    }

    /// Number of assumed (not yet confirmed) pods.
    pub fn num_assumed(&self) -> usize {
        self.assumed.len()
    }

    /// Number of pods in the cache.
    pub fn num_pods(&self) -> usize {
        self.pods.len()
    }

    /// Keeps only confirmed pods whose UID is in `uids`, and every assumed
    /// pod (after a re-list).
    pub fn retain_pods(&mut self, uids: &HashSet<String>) {
        let gone: Vec<String> = self
            .pods
            .iter()
            .filter(|(uid, e)| e.state == Assumed::Confirmed && !uids.contains(*uid))
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in gone {
            self.remove_pod(&uid);
        }
    }
}
