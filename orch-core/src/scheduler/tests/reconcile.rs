//! The state machine driven by synthetic watch events and binding
//! outcomes: what it asks to be done.
use std::time::{Duration, Instant};

use kube::runtime::watcher::Event;
use serde_json::json;

use super::build::{node, pod};
use crate::{
    controllers::events::EventType,
    scheduler::{
        reconcile::{Action, BindResult, Binding, Reconciler},
        SchedulerOptions,
    },
};

fn synced() -> Reconciler {
    let mut r = Reconciler::new(&SchedulerOptions::default());
    r.on_node_event(Event::Init);
    r.on_node_event(Event::InitDone);
    r.on_pod_event(Event::Init);
    r.on_pod_event(Event::InitDone);
    r
}

fn binding(pod: &str, node: &str) -> Binding {
    Binding {
        namespace: "default".into(),
        name: pod.into(),
        uid: format!("uid-{pod}"),
        node: node.into(),
    }
}

fn step(r: &mut Reconciler) -> Vec<Action> {
    let mut out = Vec::new();
    r.schedule(Instant::now(), 100, &mut out);
    out
}

fn binds(actions: &[Action]) -> Vec<(String, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Bind(b) => Some((b.name.clone(), b.node.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn waits_for_both_lists_then_binds() {
    let mut r = Reconciler::new(&SchedulerOptions::default());
    r.on_pod_event(Event::Apply(pod("p").build()));
    r.on_node_event(Event::Init);
    r.on_node_event(Event::InitApply(node("n", "1", "1Gi").build()));
    r.on_node_event(Event::InitDone);
    assert!(step(&mut r).is_empty(), "pods not listed yet");
    r.on_pod_event(Event::Init);
    r.on_pod_event(Event::InitApply(pod("p").build()));
    r.on_pod_event(Event::InitDone);
    let a = step(&mut r);
    assert_eq!(binds(&a), [("p".to_string(), "n".to_string())]);
    let mut out = Vec::new();
    r.on_bind_result(
        &binding("p", "n"),
        BindResult::Bound,
        Instant::now(),
        &mut out,
    );
    match &out[..] {
        [Action::Event {
            kind,
            reason,
            message,
            about,
        }] => {
            assert_eq!((*kind, *reason), (EventType::Normal, "Scheduled"));
            assert_eq!(message, "Successfully assigned default/p to n");
            assert_eq!(about.uid.as_deref(), Some("uid-p"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.pending(), 0);
    // A stale unbound event of the pod does not schedule it again.
    r.on_pod_event(Event::Apply(pod("p").build()));
    assert!(step(&mut r).is_empty());
    // The watch confirms it.
    r.on_pod_event(Event::Apply(pod("p").on("n").build()));
    assert_eq!(r.cache.num_assumed(), 0);
}

#[test]
fn other_schedulers_and_bound_pods_are_ignored() {
    let mut r = synced();
    r.on_node_event(Event::Apply(node("n", "1", "1Gi").build()));
    r.on_pod_event(Event::Apply(
        pod("mine-not")
            .set("/spec/schedulerName", json!("other"))
            .build(),
    ));
    r.on_pod_event(Event::Apply(pod("bound").on("n").build()));
    r.on_pod_event(Event::Apply(
        pod("dying")
            .set("/metadata/deletionTimestamp", json!("2024-01-01T00:00:00Z"))
            .build(),
    ));
    assert!(step(&mut r).is_empty());
    assert_eq!(r.cache.node("n").unwrap().requested.pods, 1);
}

#[test]
fn a_retry_ahead_of_the_watch_does_not_write_the_condition_again() {
    let mut r = synced();
    r.on_node_event(Event::Apply(node("small", "1", "1Gi").build()));
    r.on_pod_event(Event::Apply(pod("p").req("2", "").build()));
    let first = step(&mut r);
    assert!(
        matches!(&first[0], Action::SetConditions { .. }),
        "{first:?}"
    );
    // The watch has not delivered our status patch yet (the pod copy still
    // has no condition) when it is tried again: only the event is repeated.
    r.on_node_event(Event::Apply(node("small", "1", "2Gi").build()));
    let again = step(&mut r);
    assert!(
        matches!(
            &again[..],
            [Action::Event {
                reason: "FailedScheduling",
                ..
            }]
        ),
        "{again:?}"
    );
    // A pod of the same name but a new UID is a new pod: it is reported.
    let mut fresh = pod("p").req("2", "").build();
    fresh.metadata.uid = Some("uid-other".into());
    r.on_pod_event(Event::Apply(fresh));
    let third = step(&mut r);
    assert!(
        matches!(&third[0], Action::SetConditions { .. }),
        "{third:?}"
    );
}

#[test]
fn unschedulable_pods_get_a_condition_an_event_and_a_retry() {
    let mut r = synced();
    r.on_node_event(Event::Apply(node("n", "1", "1Gi").build()));
    r.on_pod_event(Event::Apply(pod("p").req("2", "").build()));
    let a = step(&mut r);
    let msg = "0/1 nodes are available: 1 Insufficient cpu.";
    match &a[..] {
        [Action::SetConditions {
            name, conditions, ..
        }, Action::Event {
            kind,
            reason,
            message,
            ..
        }] => {
            assert_eq!(name, "p");
            let c = &conditions[0];
            assert_eq!(
                (c["type"].as_str(), c["status"].as_str()),
                (Some("PodScheduled"), Some("False"))
            );
            assert_eq!(
                (c["reason"].as_str(), c["message"].as_str()),
                (Some("Unschedulable"), Some(msg))
            );
            assert_eq!(
                (*kind, *reason, message.as_str()),
                (EventType::Warning, "FailedScheduling", msg)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(r.queue.is_backing_off("default/p"));
    // Our own status write comes back through the watch: no new attempt.
    let written = pod("p").req("2", "").set(
        "/status/conditions",
        json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": msg}]),
    );
    r.on_pod_event(Event::Apply(written.build()));
    assert!(step(&mut r).is_empty());
    // Nothing changed in the cluster: it is not tried again on a timer of
    // seconds, only after the longest wait; the same message is not written
    // twice.
    r.tick(Instant::now() + Duration::from_secs(30));
    assert!(step(&mut r).is_empty());
    r.tick(Instant::now() + SchedulerOptions::default().max_unschedulable);
    let a = step(&mut r);
    assert!(
        matches!(
            &a[..],
            [Action::Event {
                reason: "FailedScheduling",
                ..
            }]
        ),
        "{a:?}"
    );
    assert_eq!(r.queue.attempts("default/p"), 2);
    // An unrelated node update (same properties) changes nothing; a new
    // node requeues at once.
    r.on_node_event(Event::Apply(node("n", "1", "1Gi").build()));
    assert!(step(&mut r).is_empty());
    r.on_node_event(Event::Apply(node("big", "4", "1Gi").build()));
    assert_eq!(binds(&step(&mut r)), [("p".to_string(), "big".to_string())]);
}

#[test]
fn deleting_a_bound_pod_requeues_at_once() {
    let mut r = synced();
    r.on_node_event(Event::Apply(node("n", "1", "1Gi").build()));
    r.on_pod_event(Event::Apply(pod("old").req("1", "").on("n").build()));
    r.on_pod_event(Event::Apply(pod("p").req("1", "").build()));
    assert!(binds(&step(&mut r)).is_empty());
    r.on_pod_event(Event::Delete(pod("old").req("1", "").on("n").build()));
    assert_eq!(binds(&step(&mut r)), [("p".to_string(), "n".to_string())]);
}

#[test]
fn binding_outcomes() {
    let mut r = synced();
    r.on_node_event(Event::Apply(node("n", "1", "1Gi").build()));
    for p in ["a", "b", "c", "d"] {
        r.on_pod_event(Event::Apply(pod(p).req("100m", "").build()));
    }
    assert_eq!(binds(&step(&mut r)).len(), 4);
    assert_eq!(r.cache.node("n").unwrap().requested.milli_cpu, 400);
    let now = Instant::now();
    let mut out = Vec::new();
    // 409 already bound: done, no event, assumption dropped.
    r.on_bind_result(&binding("a", "n"), BindResult::AlreadyBound, now, &mut out);
    assert!(out.is_empty());
    assert_eq!(r.stats.already_bound, 1);
    // 409 for a concurrent write: tried again at once.
    r.on_bind_result(&binding("b", "n"), BindResult::Conflict, now, &mut out);
    // Gone: forgotten.
    r.on_bind_result(&binding("c", "n"), BindResult::Gone, now, &mut out);
    // Other failures: backoff and an event.
    r.on_bind_result(
        &binding("d", "n"),
        BindResult::Failed("boom".into()),
        now,
        &mut out,
    );
    assert!(
        matches!(&out[..], [Action::Event { reason: "FailedScheduling", message, .. }] if message == "Binding rejected: boom")
    );
    assert_eq!(r.cache.node("n").unwrap().requested.milli_cpu, 0);
    assert_eq!(r.pending(), 2);
    assert_eq!(binds(&step(&mut r)), [("b".to_string(), "n".to_string())]);
    assert!(r.queue.is_backing_off("default/d"));
}

#[test]
fn parallel_bindings_are_bounded() {
    let opts = SchedulerOptions {
        parallel_bindings: 2,
        ..Default::default()
    };
    let mut r = Reconciler::new(&opts);
    for ev in [
        Event::Init,
        Event::InitApply(node("n", "8", "1Gi").build()),
        Event::InitDone,
    ] {
        r.on_node_event(ev);
    }
    r.on_pod_event(Event::Init);
    r.on_pod_event(Event::InitDone);
    for i in 0..5 {
        r.on_pod_event(Event::Apply(pod(&format!("p{i}")).build()));
    }
    assert_eq!(binds(&step(&mut r)).len(), 2);
    let mut out = Vec::new();
    r.on_bind_result(
        &binding("p0", "n"),
        BindResult::Bound,
        Instant::now(),
        &mut out,
    );
    assert_eq!(binds(&step(&mut r)).len(), 1);
}
