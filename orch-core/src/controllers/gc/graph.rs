//! The ownership graph and the garbage collector's decisions, as pure
//! functions of a snapshot of every object:
//!
//! - a dependent whose owners are all gone (or being deleted in the
//!   foreground) is deleted; one that still has a live owner only loses the
//!   references to the others;
//! - an owner being deleted with the `orphan` finalizer first has the
//!   references to it removed from its dependents, then loses the finalizer;
//! - an owner being deleted with the `foregroundDeletion` finalizer loses
//!   it once no dependent with `blockOwnerDeletion` is left.
//!
//! An owner of a kind the API server does not serve cannot be checked, so
//! it counts as present (Kubernetes retries such references for ever).
use std::collections::{HashMap, HashSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::PropagationPolicy;

/// Finalizer of an owner deleted with propagationPolicy Orphan.
pub const ORPHAN: &str = "orphan";
/// Finalizer of an owner deleted with propagationPolicy Foreground.
pub const FOREGROUND: &str = "foregroundDeletion";

/// One object as the garbage collector sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Obj {
    /// `apiVersion` of the object.
    pub api_version: String,
    /// Kind of the object.
    pub kind: String,
    /// Whether the kind is namespaced.
    pub namespaced: bool,
    /// Namespace, for namespaced objects.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// uid.
    pub uid: String,
    /// Its owner references.
    pub owners: Vec<OwnerReference>,
    /// Its finalizers.
    pub finalizers: Vec<String>,
    /// Whether it has a deletionTimestamp.
    pub deleting: bool,
}

impl Obj {
    fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers.iter().any(|x| x == f)
    }

    /// Whether it is being deleted in the foreground (waits for dependents).
    fn waits_for_dependents(&self) -> bool {
        self.deleting && self.has_finalizer(FOREGROUND) && !self.has_finalizer(ORPHAN)
    }
}

/// What the garbage collector does. Object indexes refer to the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Delete a dependent that has no live owner left.
    Delete {
        /// The dependent.
        obj: usize,
        /// How its own dependents are handled.
        policy: PropagationPolicy,
        /// Owners missing from the cache: check each is really gone first.
        verify: Vec<OwnerReference>,
    },
    /// Remove some owner references from a dependent.
    RemoveOwners {
        /// The dependent.
        obj: usize,
        /// uids of the owners to drop.
        uids: Vec<String>,
        /// Owners missing from the cache: check each is really gone first.
        verify: Vec<OwnerReference>,
    },
    /// Remove a finalizer from an owner whose dependents are dealt with.
    RemoveFinalizer {
        /// The owner.
        obj: usize,
        /// [`ORPHAN`] or [`FOREGROUND`].
        finalizer: &'static str,
    },
}

/// A snapshot of all objects, indexed by uid and by owner.
#[derive(Debug)]
pub struct Graph {
    /// The objects.
    pub objs: Vec<Obj>,
    by_uid: HashMap<String, usize>,
    dependents: HashMap<String, Vec<usize>>,
    served: HashSet<(String, String)>,
}

impl Graph {
    /// Indexes a snapshot of every object of the `served` kinds
    /// (`(apiVersion, kind)` pairs).
    pub fn new(objs: Vec<Obj>, served: HashSet<(String, String)>) -> Self {
        let by_uid = objs
            .iter()
            .enumerate()
            .map(|(i, o)| (o.uid.clone(), i))
            .collect();
        let mut dependents: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, o) in objs.iter().enumerate() {
            for r in &o.owners {
                dependents.entry(r.uid.clone()).or_default().push(i);
            }
        }
        Self {
            objs,
            by_uid,
            dependents,
            served,
        }
    }

    /// The owner `r` of `dep`, if the snapshot holds it (same uid, kind and,
    /// for a namespaced owner, the dependent's namespace).
    fn owner(&self, dep: &Obj, r: &OwnerReference) -> Option<&Obj> {
        let o = &self.objs[*self.by_uid.get(&r.uid)?];
        let same_kind = o.kind == r.kind && o.api_version == r.api_version;
        let reachable = !o.namespaced || o.namespace == dep.namespace;
        (same_kind && reachable).then_some(o)
    }

    fn serves(&self, r: &OwnerReference) -> bool {
        self.served
            .contains(&(r.api_version.clone(), r.kind.clone()))
    }

    fn dependents_of(&self, uid: &str) -> &[usize] {
        self.dependents.get(uid).map_or(&[], Vec::as_slice)
    }

    /// Everything to do now.
    pub fn actions(&self) -> Vec<Action> {
        let mut out = Vec::new();
        for (i, o) in self.objs.iter().enumerate() {
            self.as_dependent(i, o, &mut out);
            if o.deleting {
                self.as_owner(i, o, &mut out);
            }
        }
        out
    }

    fn as_dependent(&self, i: usize, o: &Obj, out: &mut Vec<Action>) {
        if o.owners.is_empty() {
            return;
        }
        let (mut solid, mut dangling, mut waiting) = (0, Vec::new(), Vec::new());
        for r in &o.owners {
            match self.owner(o, r) {
                None if !self.serves(r) => solid += 1,
                None => dangling.push(r.clone()),
                Some(owner) if owner.waits_for_dependents() => waiting.push(r.uid.clone()),
                Some(_) => solid += 1,
            }
        }
        if dangling.is_empty() && waiting.is_empty() {
            return;
        }
        if solid > 0 {
            let uids = dangling
                .iter()
                .map(|r| r.uid.clone())
                .chain(waiting)
                .collect();
            out.push(Action::RemoveOwners {
                obj: i,
                uids,
                verify: dangling,
            });
        } else if !o.deleting {
            let policy = if !waiting.is_empty() && !self.dependents_of(&o.uid).is_empty() {
                PropagationPolicy::Foreground
            } else if o.has_finalizer(ORPHAN) {
                PropagationPolicy::Orphan
            } else if o.has_finalizer(FOREGROUND) {
                PropagationPolicy::Foreground
            } else {
                PropagationPolicy::Background
            };
            out.push(Action::Delete {
                obj: i,
                policy,
                verify: dangling,
            });
        }
    }

    fn as_owner(&self, i: usize, o: &Obj, out: &mut Vec<Action>) {
        let deps = self.dependents_of(&o.uid);
        if o.has_finalizer(ORPHAN) {
            for &d in deps {
                out.push(Action::RemoveOwners {
                    obj: d,
                    uids: vec![o.uid.clone()],
                    verify: Vec::new(),
                });
            }
            if deps.is_empty() {
                out.push(Action::RemoveFinalizer {
                    obj: i,
                    finalizer: ORPHAN,
                });
            }
        } else if o.has_finalizer(FOREGROUND) {
            let blocking = deps.iter().any(|&d| {
                self.objs[d]
                    .owners
                    .iter()
                    .any(|r| r.uid == o.uid && r.block_owner_deletion == Some(true))
            });
            if !blocking {
                out.push(Action::RemoveFinalizer {
                    obj: i,
                    finalizer: FOREGROUND,
                });
            }
        }
    }
}
