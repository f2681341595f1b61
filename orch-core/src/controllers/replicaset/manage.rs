//! Creating and deleting pods to reach `spec.replicas`: creations go in
//! slow-start batches (1, 2, 4, 8, ...) that stop at the first error, so a
//! broken template costs one failed call rather than hundreds; deletions
//! pick the pods Kubernetes would. Every call is recorded as an expectation
//! before the next sync may act again.
use std::sync::Arc;

use futures::future::join_all;
use k8s_openapi::{
    api::{
        apps::v1::ReplicaSet,
        core::v1::{Pod, PodTemplateSpec},
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::api::{Api, DeleteParams, PostParams, Preconditions};

use super::{
    claim::{controlled_by, controller_of, controller_ref},
    informer::{is_not_found, Key},
    pods, ranking,
    status::ManageError,
    Ctx,
};
use crate::controllers::slim::CachedPod;
use crate::controllers::{
    events::{reference, EventType},
    ControllerError,
};

/// At most this many pods are created or deleted in one sync.
const BURST_REPLICAS: usize = 500;

/// Creates or deletes pods of `rs` so it controls `spec.replicas` of them.
pub(super) async fn manage(
    ctx: &Ctx,
    key: &Key,
    rs: &ReplicaSet,
    owned: &[Arc<CachedPod>],
) -> Result<(), ManageError> {
    let want = usize::try_from(
        rs.spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1)
            .max(0),
    )
    .unwrap_or(0);
    if owned.len() < want {
        let n = (want - owned.len()).min(BURST_REPLICAS);
        create_pods(ctx, key, rs, n)
            .await
            .map_err(|error| ManageError {
                reason: "FailedCreate",
                error,
            })
    } else if owned.len() > want {
        let n = (owned.len() - want).min(BURST_REPLICAS);
        let related = related_pods(ctx, rs);
        let victims = ranking::pods_to_delete(owned, &related, n);
        delete_pods(ctx, key, rs, victims)
            .await
            .map_err(|error| ManageError {
                reason: "FailedDelete",
                error,
            })
    } else {
        Ok(())
    }
}

/// The pod `rs` creates from its template.
fn pod_from_template(rs: &ReplicaSet, template: &PodTemplateSpec) -> Pod {
    let tm = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!(
                "{}-",
                rs.metadata.name.as_deref().unwrap_or_default()
            )),
            namespace: rs.metadata.namespace.clone(),
            labels: tm.labels,
            annotations: tm.annotations,
            finalizers: tm.finalizers,
            owner_references: Some(vec![controller_ref(rs)]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// Creates `n` pods in batches of 1, 2, 4, ... and stops at the first error.
async fn create_pods(
    ctx: &Ctx,
    key: &Key,
    rs: &ReplicaSet,
    n: usize,
) -> Result<(), ControllerError> {
    let template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .ok_or_else(|| ControllerError::Other("the ReplicaSet has no pod template".into()))?;
    let pod = pod_from_template(rs, template);
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &key.namespace);
    let about = reference(rs);
    let pp = PostParams::default();
    let (mut remaining, mut batch) = (n, 1.min(n));
    while batch > 0 {
        let results = join_all((0..batch).map(|_| api.create(&pp, &pod))).await;
        let mut first_error = None;
        let mut created = Vec::new();
        for r in results {
            match r {
                Ok(p) => created.push(p.metadata.name.unwrap_or_default()),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        ctx.expectations
            .expect_creations(key, created.iter().cloned());
        for name in &created {
            ctx.recorder
                .record(
                    &about,
                    EventType::Normal,
                    "SuccessfulCreate",
                    &format!("Created pod: {name}"),
                )
                .await;
        }
        if let Some(e) = first_error {
            ctx.recorder
                .record(
                    &about,
                    EventType::Warning,
                    "FailedCreate",
                    &format!("Error creating: {e}"),
                )
                .await;
            return Err(e.into());
        }
        remaining -= batch;
        batch = (2 * batch).min(remaining);
    }
    Ok(())
}

/// Deletes `victims` (all at once), each on the condition its uid is unchanged.
async fn delete_pods(
    ctx: &Ctx,
    key: &Key,
    rs: &ReplicaSet,
    victims: Vec<Arc<CachedPod>>,
) -> Result<(), ControllerError> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &key.namespace);
    let about = reference(rs);
    ctx.expectations
        .expect_deletions(key, victims.iter().filter_map(|p| p.metadata.name.clone()));
    let calls = victims.iter().map(|p| {
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                uid: p.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        let api = api.clone();
        async move {
            api.delete(p.metadata.name.as_deref().unwrap_or_default(), &dp)
                .await
        }
    });
    let results = join_all(calls).await;
    let mut first_error = None;
    for (pod, r) in victims.iter().zip(results) {
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        match r {
            Ok(_) => {
                ctx.recorder
                    .record(
                        &about,
                        EventType::Normal,
                        "SuccessfulDelete",
                        &format!("Deleted pod: {name}"),
                    )
                    .await
            }
            // Already gone: the expectation is met by the cache.
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                ctx.expectations.deletion_failed(key, name);
                ctx.recorder
                    .record(
                        &about,
                        EventType::Warning,
                        "FailedDelete",
                        &format!("Error deleting: {e}"),
                    )
                    .await;
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), |e| Err(e.into()))
}

/// The active pods of `rs` and of the ReplicaSets sharing its controller
/// (a Deployment's other revisions), for the deletion ranking.
fn related_pods(ctx: &Ctx, rs: &ReplicaSet) -> Vec<Arc<CachedPod>> {
    let ns = rs.metadata.namespace.as_deref().unwrap_or_default();
    let own_uid = rs.metadata.uid.clone().unwrap_or_default();
    let mut uids = vec![own_uid];
    if let Some(owner) = controller_of(&rs.metadata) {
        uids.extend(
            ctx.replicasets
                .state()
                .iter()
                .filter(|o| {
                    o.metadata.namespace.as_deref() == Some(ns)
                        && controller_of(&o.metadata).is_some_and(|r| r.uid == owner.uid)
                })
                .filter_map(|o| o.metadata.uid.clone()),
        );
    }
    pods::in_namespace(&ctx.pods, ns)
        .into_iter()
        .filter(|p| {
            pods::is_active(p)
                && uids
                    .iter()
                    .any(|u| controlled_by::<ReplicaSet>(&p.metadata, u))
        })
        .collect()
}
