//! The scheduler's state machine, free of I/O: it takes watch events and
//! API call outcomes, keeps the cache, the pending pods and the queue, and
//! says what to do as [`Action`]s (bind, mark unschedulable, record an
//! event) for `run` to carry out. This is the reflector and the reconcile
//! step of `watcher → reflector → reconcile`; tests drive it with
//! synthetic events.
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Instant,
};

use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod, PodCondition};
use kube::runtime::watcher::Event;

pub use super::actions::{unschedulable_conditions, Action, BindResult, Binding};
use super::{
    algorithm::{Algorithm, FitError},
    cache::{Cache, NodeChange},
    podinfo::PodInfo,
    queue::Queue,
    SchedulerOptions,
};
use crate::controllers::events::{reference, EventType};

/// Counters for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Scheduling attempts.
    pub attempts: u64,
    /// Pods bound by us.
    pub bound: u64,
    /// Attempts that found no node.
    pub unschedulable: u64,
    /// Bindings answered 409 because the pod was already bound.
    pub already_bound: u64,
    /// Times unschedulable pods were moved back by a cluster event.
    pub requeues: u64,
}

/// A pod waiting for a node.
#[derive(Debug, Clone)]
struct Pending {
    info: Arc<PodInfo>,
    report: Arc<ForReports>,
    /// The Unschedulable message last written for this pod. The watch copy
    /// in `pod` can lag behind our own status patch, so this is what stops
    /// a retry from writing the same condition again.
    reported: Option<Arc<str>>,
}

/// What a pending pod's reports need of it (its reference for events, its
/// conditions for the Unschedulable one): the rest is in its [`PodInfo`],
/// and thousands of pending pods need not be held whole.
#[derive(Debug)]
struct ForReports {
    about: ObjectReference,
    conditions: Vec<PodCondition>,
}

impl ForReports {
    fn of(pod: Pod) -> Self {
        Self {
            about: reference(&pod),
            conditions: pod.status.and_then(|s| s.conditions).unwrap_or_default(),
        }
    }
}

/// The scheduler state.
#[derive(Debug)]
pub struct Reconciler {
    name: String,
    /// Nodes and bound pods.
    pub cache: Cache,
    /// Filter and score.
    pub algorithm: Algorithm,
    /// Pods waiting for an attempt.
    pub queue: Queue,
    pending: HashMap<String, Pending>,
    relist_nodes: Option<HashSet<String>>,
    relist_pods: Option<HashSet<String>>,
    nodes_synced: bool,
    pods_synced: bool,
    binding: usize,
    max_binding: usize,
    /// How long an unschedulable pod waits without a cluster event.
    max_unschedulable: std::time::Duration,
    /// Counters.
    pub stats: Stats,
}

impl Reconciler {
    /// A scheduler state with these options.
    pub fn new(opts: &SchedulerOptions) -> Self {
        Self {
            name: opts.name.clone(),
            cache: Cache::new(opts.assumed_ttl),
            algorithm: Algorithm::new(opts.percentage_of_nodes_to_score),
            queue: Queue::new(opts.initial_backoff, opts.max_backoff),
            pending: HashMap::new(),
            relist_nodes: None,
            relist_pods: None,
            nodes_synced: false,
            pods_synced: false,
            binding: 0,
            max_binding: opts.parallel_bindings.max(1),
            max_unschedulable: opts.max_unschedulable,
            stats: Stats::default(),
        }
    }

    /// Whether both watches have listed once.
    pub fn synced(&self) -> bool {
        self.nodes_synced && self.pods_synced
    }

    /// Pods waiting for a node.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Whether an attempt can start now.
    pub fn can_schedule(&self) -> bool {
        self.synced() && self.binding < self.max_binding && self.queue.has_active()
    }

    fn cluster_event(&mut self) {
        if self.queue.move_all_to_active() > 0 {
            self.stats.requeues += 1;
        }
    }

    /// Applies a Node watch event.
    pub fn on_node_event(&mut self, ev: Event<Node>) {
        match ev {
            Event::Init => self.relist_nodes = Some(HashSet::new()),
            Event::InitApply(n) | Event::Apply(n) => {
                if let Some(seen) = &mut self.relist_nodes {
                    seen.insert(n.metadata.name.clone().unwrap_or_default());
                }
                if self.cache.upsert_node(&n) != NodeChange::Unchanged {
                    self.cluster_event();
                }
            }
            Event::Delete(n) => self
                .cache
                .remove_node(n.metadata.name.as_deref().unwrap_or("")),
            Event::InitDone => {
                if let Some(seen) = self.relist_nodes.take() {
                    self.cache.retain_nodes(&seen);
                }
                self.nodes_synced = true;
                self.cluster_event();
            }
        }
    }

    /// Applies a Pod watch event.
    pub fn on_pod_event(&mut self, ev: Event<Pod>) {
        match ev {
            Event::Init => self.relist_pods = Some(HashSet::new()),
            Event::InitApply(p) | Event::Apply(p) => {
                if let Some(seen) = &mut self.relist_pods {
                    seen.insert(p.metadata.uid.clone().unwrap_or_default());
                }
                self.on_pod(p);
            }
            Event::Delete(p) => {
                let info = PodInfo::from_pod(&p);
                self.forget_pending(&info.key(), &info.uid);
                if self.cache.remove_pod(&info.uid) {
                    self.cluster_event();
                }
            }
            Event::InitDone => {
                if let Some(seen) = self.relist_pods.take() {
                    self.cache.retain_pods(&seen);
                    let gone: Vec<String> = self
                        .pending
                        .iter()
                        .filter(|(_, p)| !seen.contains(&p.info.uid))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in gone {
                        self.pending.remove(&k);
                        self.queue.done(&k);
                    }
                }
                self.pods_synced = true;
            }
        }
    }

    /// Drops a pending pod, if it is this one (same UID).
    fn forget_pending(&mut self, key: &str, uid: &str) {
        if self.pending.get(key).is_some_and(|p| p.info.uid == uid) {
            self.pending.remove(key);
            self.queue.done(key);
        }
    }

    fn on_pod(&mut self, pod: Pod) {
        let info = PodInfo::from_pod(&pod);
        let key = info.key();
        if self.cache.observe_pod(&info) {
            self.cluster_event();
        }
        let ours = info.scheduler_name == self.name;
        let waiting =
            info.node_name.is_none() && !info.terminal && pod.metadata.deletion_timestamp.is_none();
        if !(ours && waiting) {
            self.forget_pending(&key, &info.uid);
            return;
        }
        if self.cache.contains_pod(&info.uid) {
            // Assumed by us: the watch has not caught up with the binding.
            return;
        }
        let old = self.pending.get(&key);
        let same_pod = old.is_some_and(|o| o.info.uid == info.uid);
        let changed = !old.is_some_and(|o| same_pod && o.info.generation == info.generation);
        let reported = old.filter(|_| same_pod).and_then(|o| o.reported.clone());
        self.pending.insert(
            key.clone(),
            Pending {
                info: Arc::new(info),
                report: Arc::new(ForReports::of(pod)),
                reported,
            },
        );
        if changed {
            self.queue.add(&key);
            self.queue.activate(&key);
        }
    }

    /// Moves pods whose backoff ended to active, and expires assumed pods.
    pub fn tick(&mut self, now: Instant) {
        self.queue.flush(now);
        if self.cache.expire(now) > 0 {
            // The room they held is free again.
            self.cluster_event();
        }
    }

    /// When the earliest backoff ends.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.queue.next_deadline()
    }

    /// Runs up to `budget` scheduling attempts; appends what to do.
    pub fn schedule(&mut self, now: Instant, budget: usize, out: &mut Vec<Action>) {
        for _ in 0..budget {
            if !self.can_schedule() {
                return;
            }
            let Some(key) = self.queue.pop() else {
                return;
            };
            let Some(p) = self.pending.get(&key).cloned() else {
                self.queue.done(&key);
                continue;
            };
            self.stats.attempts += 1;
            match self.algorithm.schedule(&self.cache, &p.info) {
                Ok(placement) => {
                    self.cache.assume(&p.info, &placement.node);
                    self.binding += 1;
                    out.push(Action::Bind(Binding {
                        namespace: p.info.namespace.clone(),
                        name: p.info.name.clone(),
                        uid: p.info.uid.clone(),
                        node: placement.node,
                    }));
                }
                Err(e) => self.unschedulable(&key, &p, &e, now, out),
            }
        }
    }

    fn unschedulable(
        &mut self,
        key: &str,
        p: &Pending,
        e: &FitError,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        self.stats.unschedulable += 1;
        self.queue.park(key, now + self.max_unschedulable);
        let message = e.to_string();
        tracing::debug!(pod = key, %message, "unschedulable");
        let already = p.reported.as_deref() == Some(message.as_str());
        if let Some(conditions) =
            unschedulable_conditions(&p.report.conditions, &message).filter(|_| !already)
        {
            if let Some(entry) = self.pending.get_mut(key) {
                entry.reported = Some(Arc::from(message.as_str()));
            }
            out.push(Action::SetConditions {
                namespace: p.info.namespace.clone(),
                name: p.info.name.clone(),
                conditions,
            });
        }
        out.push(Action::Event {
            about: p.report.about.clone(),
            kind: EventType::Warning,
            reason: "FailedScheduling",
            message,
        });
    }

    /// Applies the outcome of a binding started by [`Action::Bind`].
    pub fn on_bind_result(
        &mut self,
        b: &Binding,
        result: BindResult,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let (namespace, name, uid, node) = (&b.namespace, &b.name, b.uid.as_str(), &b.node);
        self.binding = self.binding.saturating_sub(1);
        let key = format!("{namespace}/{name}");
        let pending = self
            .pending
            .get(&key)
            .filter(|p| p.info.uid == uid)
            .cloned();
        match result {
            BindResult::Bound => {
                self.stats.bound += 1;
                self.cache.finish_binding(uid, now);
                self.forget_pending(&key, uid);
                let about = match &pending {
                    Some(p) => p.report.about.clone(),
                    None => ObjectReference {
                        api_version: Some("v1".into()),
                        kind: Some("Pod".into()),
                        name: Some(name.into()),
                        namespace: Some(namespace.into()),
                        uid: Some(uid.into()),
                        ..Default::default()
                    },
                };
                out.push(Action::Event {
                    about,
                    kind: EventType::Normal,
                    reason: "Scheduled",
                    message: format!("Successfully assigned {namespace}/{name} to {node}"),
                });
            }
            BindResult::AlreadyBound | BindResult::Gone => {
                if result == BindResult::AlreadyBound {
                    self.stats.already_bound += 1;
                }
                self.cache.forget(uid);
                self.forget_pending(&key, uid);
            }
            BindResult::Conflict => {
                self.cache.forget(uid);
                self.cluster_event();
                if pending.is_some() {
                    self.queue.retry_now(&key);
                }
            }
            BindResult::Failed(error) => {
                self.cache.forget(uid);
                self.cluster_event();
                if let Some(p) = pending {
                    self.queue.backoff(&key, now);
                    out.push(Action::Event {
                        about: p.report.about.clone(),
                        kind: EventType::Warning,
                        reason: "FailedScheduling",
                        message: format!("Binding rejected: {error}"),
                    });
                }
            }
        }
    }
}
