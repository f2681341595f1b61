//! The scheduler's event loop: two watches in, API calls out. Bindings and
//! status writes run as tasks (aborted with the loop); new attempts wait
//! while [`MAX_STATUS_WRITES`] writes are in flight. Events go through a
//! bounded queue to one writer and are dropped when it is full, as
//! Kubernetes' event broadcaster drops them.
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod};
use kube::{
    api::{Api, Patch, PatchParams, PostParams},
    runtime::{watcher, WatchStreamExt},
    Client,
};
use serde_json::{json, Value};
use tokio::{sync::mpsc, task::JoinSet};

use super::{
    reconcile::{Action, BindResult, Binding, Reconciler},
    SchedulerOptions,
};
use crate::controllers::{
    events::{EventType, Recorder},
    ControllerError,
};

/// Scheduling attempts per turn of the loop, between watch events.
const BATCH: usize = 32;
/// Events waiting to be written at most.
const EVENT_QUEUE: usize = 1000;
/// Status writes (PodScheduled=False) in flight at most: with this many
/// unanswered, no new attempt starts, so a burst of unschedulable pods
/// holds the scheduler back instead of piling up requests.
const MAX_STATUS_WRITES: usize = 64;

/// The API calls in flight: bindings, and status writes apart so that
/// their number can hold new attempts back.
#[derive(Default)]
struct Calls {
    binds: JoinSet<(Binding, BindResult)>,
    writes: JoinSet<()>,
}

/// Binds a pod; 409 "already assigned" means someone bound it first.
pub async fn bind(
    client: Client,
    namespace: &str,
    name: &str,
    uid: &str,
    node: &str,
) -> BindResult {
    let api: Api<Pod> = Api::namespaced(client, namespace);
    let body = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    match api
        .create_subresource::<Value, Value>("binding", name, &PostParams::default(), &body)
        .await
    {
        Ok(_) => BindResult::Bound,
        Err(kube::Error::Api(s)) if s.code == 409 && s.message.contains("already assigned") => {
            BindResult::AlreadyBound
        }
        Err(kube::Error::Api(s)) if s.code == 409 && s.message.contains("being deleted") => {
            BindResult::Gone
        }
        Err(kube::Error::Api(s)) if s.code == 409 => BindResult::Conflict,
        Err(kube::Error::Api(s)) if s.code == 404 => BindResult::Gone,
        Err(e) => BindResult::Failed(e.to_string()),
    }
}

/// One writer of Events behind a bounded queue.
struct EventSink {
    tx: mpsc::Sender<(ObjectReference, EventType, &'static str, String)>,
    task: tokio::task::JoinHandle<()>,
    dropped: u64,
}

impl EventSink {
    fn start(recorder: Recorder) -> Self {
        let (tx, mut rx) =
            mpsc::channel::<(ObjectReference, EventType, &'static str, String)>(EVENT_QUEUE);
        let task = tokio::spawn(async move {
            while let Some((about, kind, reason, message)) = rx.recv().await {
                recorder.record(&about, kind, reason, &message).await;
            }
        });
        Self {
            tx,
            task,
            dropped: 0,
        }
    }

    fn emit(
        &mut self,
        about: ObjectReference,
        kind: EventType,
        reason: &'static str,
        message: String,
    ) {
        if self.tx.try_send((about, kind, reason, message)).is_err() {
            self.dropped += 1;
            if self.dropped.is_power_of_two() {
                tracing::debug!(dropped = self.dropped, "event queue full; events dropped");
            }
        }
    }
}

impl Drop for EventSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn execute(a: Action, client: &Client, calls: &mut Calls, events: &mut EventSink) {
    match a {
        Action::Bind(b) => {
            let client = client.clone();
            calls.binds.spawn(async move {
                let result = bind(client, &b.namespace, &b.name, &b.uid, &b.node).await;
                (b, result)
            });
        }
        Action::SetConditions {
            namespace,
            name,
            conditions,
        } => {
            let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
            calls.writes.spawn(async move {
                let patch = json!({"status": {"conditions": conditions}});
                if let Err(e) = api
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
                {
                    tracing::debug!(pod = %name, error = %e, "could not write PodScheduled=False");
                }
            });
        }
        Action::Event {
            about,
            kind,
            reason,
            message,
        } => events.emit(about, kind, reason, message),
    }
}

/// The loop behind [`super::run`].
pub async fn run(client: Client, opts: SchedulerOptions) -> Result<(), ControllerError> {
    let cfg = watcher::Config::default();
    let mut nodes = watcher(Api::<Node>::all(client.clone()), cfg.clone())
        .default_backoff()
        .boxed();
    let mut pods = watcher(Api::<Pod>::all(client.clone()), cfg)
        .default_backoff()
        .boxed();
    let mut r = Reconciler::new(&opts);
    let mut events = EventSink::start(Recorder::new(client.clone(), &opts.name));
    let mut calls = Calls::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut actions = Vec::new();
    let mut last_log = Instant::now();
    tracing::info!(scheduler = %opts.name, "scheduler started");
    loop {
        let deadline = r.next_deadline().map(tokio::time::Instant::from_std);
        let far = tokio::time::Instant::now() + Duration::from_secs(3600);
        tokio::select! {
            ev = nodes.next() => match ev {
                Some(Ok(ev)) => r.on_node_event(ev),
                Some(Err(e)) => tracing::warn!(error = %e, "node watch failed; retrying"),
                None => return Err(ControllerError::Other("node watch ended".into())),
            },
            ev = pods.next() => match ev {
                Some(Ok(ev)) => r.on_pod_event(ev),
                Some(Err(e)) => tracing::warn!(error = %e, "pod watch failed; retrying"),
                None => return Err(ControllerError::Other("pod watch ended".into())),
            },
            Some(done) = calls.binds.join_next(), if !calls.binds.is_empty() => match done {
                Ok((b, result)) => {
                    if let BindResult::Failed(e) = &result {
                        tracing::warn!(pod = %format!("{}/{}", b.namespace, b.name), node = %b.node, error = %e, "binding failed");
                    }
                    r.on_bind_result(&b, result, Instant::now(), &mut actions);
                }
                Err(e) => tracing::warn!(error = %e, "scheduler binding task failed"),
            },
            Some(done) = calls.writes.join_next(), if !calls.writes.is_empty() => {
                if let Err(e) = done {
                    tracing::warn!(error = %e, "scheduler status write task failed");
                }
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or(far)), if deadline.is_some() => r.tick(Instant::now()),
            _ = tick.tick() => r.tick(Instant::now()),
            _ = std::future::ready(()), if r.can_schedule() && calls.writes.len() < MAX_STATUS_WRITES => {
                r.schedule(Instant::now(), BATCH, &mut actions)
            }
        }
        for a in actions.drain(..) {
            execute(a, &client, &mut calls, &mut events);
        }
        if last_log.elapsed() > Duration::from_secs(10) {
            last_log = Instant::now();
            tracing::debug!(stats = ?r.stats, pending = r.pending(), nodes = r.cache.num_nodes(), assumed = r.cache.num_assumed(), events_dropped = events.dropped, "scheduler");
        }
    }
}
