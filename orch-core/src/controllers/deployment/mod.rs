//! The Deployment controller: one ReplicaSet per pod template (named
//! `<deployment>-<pod-template-hash>`, the hash label added to its selector
//! and template), rolled out with RollingUpdate (maxSurge / maxUnavailable)
//! or Recreate; revision annotations on the ReplicaSets and the
//! Deployment; old ReplicaSets beyond revisionHistoryLimit deleted; the
//! Available and Progressing conditions (with progressDeadlineSeconds) and
//! the replica counts in status; ScalingReplicaSet events.
//!
//! Feeds of Deployments and ReplicaSets and the shared Pod feed keep the
//! caches. A
//! ReplicaSet change triggers its Deployment (for an orphan, every
//! Deployment whose selector matches it); a pod going away triggers the
//! Deployment of its ReplicaSet, which Recreate waits for. Every write to a
//! ReplicaSet or to the Deployment's status carries the cached
//! resourceVersion, so a decision made on a stale cache fails (409) and is
//! retried on fresh data instead of overstepping the rollout's limits.
mod conditions;
mod hash;
mod newrs;
mod recreate;
mod replicas;
mod revision;
mod rolling;
mod scale;
mod status;
mod sync;

pub(crate) use conditions::TIMED_OUT;

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::{api::Api, runtime::reflector::Store, Client};

use super::{
    events::Recorder,
    feed::{Change, Feed, PodFeed},
    replicaset::{
        claim::{controller_of, selector_of},
        informer::{self, Key, Triggers},
    },
    ControllerError, ControllerOptions,
};
use crate::controllers::slim::CachedPod;

/// Reconciles running at once.
const WORKERS: u16 = 4;

/// What every sync shares.
struct Ctx {
    client: Client,
    replicasets: Store<ReplicaSet>,
    pods: Store<CachedPod>,
    recorder: Recorder,
}

/// Runs the Deployment controller, reading pods from the shared `pods`
/// feed, until its watches end.
pub async fn run(
    client: Client,
    _opts: ControllerOptions,
    pods: PodFeed,
) -> Result<(), ControllerError> {
    let (deployments, d_watch) = Feed::whole(Api::<Deployment>::all(client.clone()));
    let (replicasets, rs_watch) = Feed::whole(Api::<ReplicaSet>::all(client.clone()));
    let (triggers, rx) = Triggers::channel();
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        replicasets: replicasets.store().clone(),
        pods: pods.store().clone(),
        recorder: Recorder::new(client.clone(), "deployment-controller"),
    });

    let _d_events = deployments.subscribe({
        let triggers = triggers.clone();
        move |_, change| {
            if let Change::Applied(d) = change {
                triggers.send(&Key::of(&**d));
            }
        }
    });
    let _rs_events = replicasets.subscribe({
        let (triggers, deployments) = (triggers.clone(), deployments.store().clone());
        move |old, change| match change {
            Change::Applied(rs) => {
                let mut keys: Vec<Key> = old.into_iter().filter_map(owner_key).collect();
                keys.extend(owner_key(rs));
                if controller_of(&rs.metadata).is_none() {
                    keys.extend(matching_deployments(&deployments, rs));
                }
                keys.iter().for_each(|k| triggers.send(k));
            }
            Change::Deleted(rs) => owner_key(rs).iter().for_each(|k| triggers.send(k)),
            Change::Listed => {}
        }
    });
    let _pod_events = pods.subscribe({
        let (triggers, replicasets) = (triggers.clone(), ctx.replicasets.clone());
        move |_, change| match change {
            Change::Deleted(pod) => deployment_of_pod(&replicasets, pod)
                .iter()
                .for_each(|k| triggers.send(k)),
            Change::Applied(pod) if pod.metadata.deletion_timestamp.is_some() => {
                deployment_of_pod(&replicasets, pod)
                    .iter()
                    .for_each(|k| triggers.send(k))
            }
            _ => {}
        }
    });
    let syncs = async {
        pods.ready().await?;
        replicasets.ready().await?;
        deployments.ready().await?;
        informer::reconcile_loop(
            "deployment",
            deployments.store().clone(),
            rx,
            ctx,
            WORKERS,
            sync::reconcile,
        )
        .await;
        Err(ControllerError::Other(
            "the Deployment reconcile loop ended".into(),
        ))
    };
    tokio::select! {
        e = d_watch => Err(e),
        e = rs_watch => Err(e),
        r = syncs => r,
    }
}

/// The Deployment controlling `rs`, if any.
fn owner_key(rs: &ReplicaSet) -> Option<Key> {
    let r = controller_of(&rs.metadata).filter(|r| r.kind == "Deployment")?;
    Some(Key::new(
        rs.metadata.namespace.as_deref().unwrap_or_default(),
        &r.name,
    ))
}

/// Deployments of the orphan's namespace whose selector matches it.
fn matching_deployments(deployments: &Store<Deployment>, rs: &ReplicaSet) -> Vec<Key> {
    let labels = rs.metadata.labels.clone().unwrap_or_default();
    deployments
        .state()
        .iter()
        .filter(|d| d.metadata.namespace == rs.metadata.namespace)
        .filter(|d| {
            selector_of(&d.spec.as_ref().map(|s| &s.selector)).is_ok_and(|s| s.matches(&labels))
        })
        .map(|d| Key::of(&**d))
        .collect()
}

/// The Deployment behind the ReplicaSet controlling `pod`, if any.
fn deployment_of_pod(replicasets: &Store<ReplicaSet>, pod: &CachedPod) -> Option<Key> {
    let r = controller_of(&pod.metadata).filter(|r| r.kind == "ReplicaSet")?;
    let rs = replicasets.get(
        &Key::new(
            pod.metadata.namespace.as_deref().unwrap_or_default(),
            &r.name,
        )
        .to_ref(),
    )?;
    owner_key(&rs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::{reflector, watcher::Event};
    use serde_json::json;

    #[test]
    fn replica_set_and_pod_events_trigger_their_deployment() {
        let rs: ReplicaSet = serde_json::from_value(json!({"metadata": {"name": "web-abc", "namespace": "d", "labels": {"app": "web"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u", "controller": true}]}}))
        .unwrap();
        assert_eq!(owner_key(&rs), Some(Key::new("d", "web")));
        let (replicasets, mut writer) = reflector::store::<ReplicaSet>();
        writer.apply_watcher_event(&Event::Apply(rs.clone()));
        let pod: CachedPod = serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "d",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": "x", "controller": true}]}}))
        .unwrap();
        assert_eq!(
            deployment_of_pod(&replicasets, &pod),
            Some(Key::new("d", "web"))
        );

        let (deployments, mut dw) = reflector::store::<Deployment>();
        let d: Deployment =
            serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "d"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {}}}))
            .unwrap();
        dw.apply_watcher_event(&Event::Apply(d));
        let mut orphan = rs;
        orphan.metadata.owner_references = None;
        assert_eq!(
            matching_deployments(&deployments, &orphan),
            [Key::new("d", "web")]
        );
    }
}
