//! The ReplicaSet controller: keeps `spec.replicas` active pods matching
//! each ReplicaSet's selector, controlled by it (ownerReferences with
//! `controller` and `blockOwnerDeletion`). It adopts matching orphans and
//! releases pods that stop matching; creates pods named
//! `<replicaset>-<5 random chars>` (generateName) in slow-start batches;
//! deletes the pods Kubernetes would delete first; blocks on expectations
//! so a lagging watch never makes it create or delete twice; and reports
//! replicas, fullyLabeledReplicas, readyReplicas, availableReplicas and
//! observedGeneration, with SuccessfulCreate / SuccessfulDelete events.
//!
//! A feed of ReplicaSets and the shared Pod feed keep the caches; every
//! change triggers the ReplicaSets it concerns (the pod's controller, or for an
//! orphan every ReplicaSet whose selector matches it).
//!
//! The helpers shared with the Deployment controller live here too:
//! [`informer`] (watch, cache and reconcile plumbing), [`claim`]
//! (ownership) and [`pods`] (readiness and availability).
pub(crate) mod claim;
mod expectations;
pub(crate) mod informer;
mod manage;
pub(crate) mod pods;
mod ranking;
mod status;
mod sync;

use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::{api::Api, runtime::reflector::Store, Client};

use super::{
    events::Recorder,
    feed::{Change, Feed, PodFeed},
    ControllerError, ControllerOptions,
};
use crate::controllers::slim::CachedPod;
use claim::controller_of;
use expectations::Expectations;
use informer::{Key, Triggers};

/// Reconciles running at once.
const WORKERS: u16 = 4;

/// What every sync shares.
struct Ctx {
    client: Client,
    replicasets: Store<ReplicaSet>,
    pods: Store<CachedPod>,
    expectations: Expectations,
    recorder: Recorder,
}

/// Runs the ReplicaSet controller, reading pods from the shared `pods`
/// feed, until its watches end.
pub async fn run(
    client: Client,
    opts: ControllerOptions,
    pods: PodFeed,
) -> Result<(), ControllerError> {
    let (replicasets, rs_watch) = Feed::whole(Api::<ReplicaSet>::all(client.clone()));
    let (triggers, rx) = Triggers::channel();
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        replicasets: replicasets.store().clone(),
        pods: pods.store().clone(),
        expectations: Expectations::new(opts.expectations_timeout),
        recorder: Recorder::new(client.clone(), "replicaset-controller"),
    });

    let _rs_events = replicasets.subscribe({
        let (triggers, exp) = (triggers.clone(), ctx.expectations.clone());
        move |_, change| match change {
            Change::Applied(rs) => triggers.send(&Key::of(&**rs)),
            Change::Deleted(rs) => exp.forget(&Key::of(&**rs)),
            Change::Listed => {}
        }
    });
    let _pod_events = pods.subscribe({
        let (triggers, exp, replicasets) = (
            triggers.clone(),
            ctx.expectations.clone(),
            ctx.replicasets.clone(),
        );
        move |old, change| match change {
            Change::Applied(pod) => {
                exp.observe(pod, false);
                for key in affected(&replicasets, old, pod) {
                    triggers.send(&key);
                }
            }
            Change::Deleted(pod) => {
                exp.observe(pod, true);
                for key in affected(&replicasets, None, pod) {
                    triggers.send(&key);
                }
            }
            // Changes may have gone unseen: look at everything again.
            Change::Listed => replicasets
                .state()
                .iter()
                .for_each(|rs| triggers.send(&Key::of(&**rs))),
        }
    });
    let syncs = async {
        pods.ready().await?;
        replicasets.ready().await?;
        informer::reconcile_loop(
            "replicaset",
            ctx.replicasets.clone(),
            rx,
            ctx,
            WORKERS,
            sync::reconcile,
        )
        .await;
        Err(ControllerError::Other(
            "the ReplicaSet reconcile loop ended".into(),
        ))
    };
    tokio::select! {
        e = rs_watch => Err(e),
        r = syncs => r,
    }
}

/// The ReplicaSets a change of `pod` (previously `old`) concerns: its
/// controller, before and after; for an orphan, every ReplicaSet of its
/// namespace whose selector matches it.
fn affected(replicasets: &Store<ReplicaSet>, old: Option<&CachedPod>, pod: &CachedPod) -> Vec<Key> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let owner = |p: &CachedPod| {
        controller_of(&p.metadata)
            .filter(|r| r.kind == "ReplicaSet")
            .map(|r| Key::new(ns, &r.name))
    };
    let mut keys: Vec<Key> = [old.and_then(owner), owner(pod)]
        .into_iter()
        .flatten()
        .collect();
    if controller_of(&pod.metadata).is_none() && pods::is_active(pod) {
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        keys.extend(
            replicasets
                .state()
                .iter()
                .filter(|rs| rs.metadata.namespace.as_deref() == Some(ns))
                .filter(|rs| {
                    claim::selector_of(&rs.spec.as_ref().map(|s| &s.selector))
                        .is_ok_and(|s| s.matches(&labels))
                })
                .map(|rs| Key::of(&**rs)),
        );
    }
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::{reflector, watcher::Event};
    use serde_json::json;

    fn rs(name: &str, app: &str) -> ReplicaSet {
        serde_json::from_value(
            json!({"metadata": {"name": name, "namespace": "d", "uid": name},
            "spec": {"selector": {"matchLabels": {"app": app}}}}),
        )
        .unwrap()
    }

    fn pod(labels: serde_json::Value, owner: Option<&str>) -> CachedPod {
        let refs: Vec<_> = owner.into_iter().map(|o| json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": o, "uid": o, "controller": true})).collect();
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "d", "labels": labels, "ownerReferences": refs}})).unwrap()
    }

    #[test]
    fn pod_events_trigger_their_controller_or_matching_replica_sets() {
        let (store, mut writer) = reflector::store::<ReplicaSet>();
        for r in [rs("web", "web"), rs("web2", "web"), rs("db", "db")] {
            writer.apply_watcher_event(&Event::Apply(r));
        }
        let names = |keys: Vec<Key>| keys.into_iter().map(|k| k.name).collect::<Vec<_>>();
        assert_eq!(
            names(affected(
                &store,
                None,
                &pod(json!({"app": "web"}), Some("web"))
            )),
            ["web"]
        );
        assert_eq!(
            names(affected(&store, None, &pod(json!({"app": "web"}), None))),
            ["web", "web2"],
            "an orphan: every match"
        );
        let before = pod(json!({"app": "web"}), Some("web"));
        assert_eq!(
            names(affected(
                &store,
                Some(&before),
                &pod(json!({"app": "db"}), Some("db"))
            )),
            ["db", "web"]
        );
    }
}
