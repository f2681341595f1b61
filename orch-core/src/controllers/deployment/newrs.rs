//! Finding (and creating) the ReplicaSet of a Deployment's current pod
//! template, and keeping revisions in step: Kubernetes'
//! `getAllReplicaSetsAndSyncRevision`. The new ReplicaSet is named
//! `<deployment>-<pod-template-hash>` and carries the hash label in its
//! selector and template; its revision is one more than the old ones'.
use k8s_openapi::{
    api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use super::{
    conditions::{self as cond, PROGRESSING},
    hash::{equal_ignore_hash, template_hash, with_hash, HASH_LABEL},
    revision::{self, REVISION},
    status, Ctx,
};
use crate::controllers::{
    events::{reference, EventType},
    replicaset::claim::{controller_of, controller_ref},
    ControllerError,
};

/// Creation-time order (oldest first), ties by name.
pub(super) fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> std::cmp::Ordering {
    a.metadata
        .creation_timestamp
        .cmp(&b.metadata.creation_timestamp)
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Splits the Deployment's ReplicaSets into the one running its template
/// (the oldest such, if several) and the others.
pub(super) fn split(d: &Deployment, rss: &[ReplicaSet]) -> (Option<ReplicaSet>, Vec<ReplicaSet>) {
    let template = d.spec.as_ref().map(|s| &s.template);
    let mut sorted = rss.to_vec();
    sorted.sort_by(by_creation);
    let pos = sorted.iter().position(|rs| {
        rs.spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .zip(template)
            .is_some_and(|(a, b)| equal_ignore_hash(a, b))
    });
    let new = pos.map(|i| sorted.remove(i));
    (new, sorted)
}

/// The new ReplicaSet (created when `create` and missing) and the old
/// ones, with revisions synced.
pub(super) async fn all_replica_sets(
    ctx: &Ctx,
    d: &mut Deployment,
    rss: &[ReplicaSet],
    create: bool,
) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>), ControllerError> {
    let (existing, old) = split(d, rss);
    let new_revision = revision::max_revision(&old) + 1;
    let new = match existing {
        Some(rs) => Some(sync_existing(ctx, d, rs, new_revision).await?),
        None if create => Some(create_new(ctx, d, &old, new_revision).await?),
        None => None,
    };
    Ok((new, old))
}

fn rs_api(ctx: &Ctx, d: &Deployment) -> Api<ReplicaSet> {
    Api::namespaced(
        ctx.client.clone(),
        d.metadata.namespace.as_deref().unwrap_or_default(),
    )
}

/// Brings an existing new ReplicaSet's annotations and minReadySeconds up
/// to date, and the Deployment's revision with it.
async fn sync_existing(
    ctx: &Ctx,
    d: &mut Deployment,
    mut rs: ReplicaSet,
    new_revision: i64,
) -> Result<ReplicaSet, ControllerError> {
    let min_ready = d.spec.as_ref().and_then(|s| s.min_ready_seconds);
    let annotations_changed = revision::set_new_rs_annotations(d, &mut rs, new_revision, true);
    let spec = rs.spec.get_or_insert_with(Default::default);
    let min_ready_changed = spec.min_ready_seconds != min_ready;
    if annotations_changed || min_ready_changed {
        spec.min_ready_seconds = min_ready;
        rs = rs_api(ctx, d)
            .replace(
                rs.metadata.name.as_deref().unwrap_or_default(),
                &PostParams::default(),
                &rs,
            )
            .await?;
    }
    set_deployment_revision(ctx, d, revision::revision_of(&rs.metadata)).await?;
    if cond::progress_deadline(d).is_some() && cond::of(d, PROGRESSING).is_none() {
        let mut s = d.status.clone().unwrap_or_default();
        let msg = format!(
            "Found new replica set \"{}\"",
            rs.metadata.name.as_deref().unwrap_or_default()
        );
        cond::set(
            &mut s,
            cond::new(PROGRESSING, "True", cond::FOUND_NEW_RS, msg),
        );
        status::write(ctx, d, s).await?;
    }
    Ok(rs)
}

/// The ReplicaSet for the Deployment's current template.
fn new_replica_set(d: &Deployment, new_revision: i64) -> ReplicaSet {
    let spec = d.spec.clone().unwrap_or_default();
    let hash = template_hash(
        &spec.template,
        d.status.as_ref().and_then(|s| s.collision_count),
    );
    let template = with_hash(&spec.template, &hash);
    let mut selector = spec.selector;
    selector
        .match_labels
        .get_or_insert_with(Default::default)
        .insert(HASH_LABEL.into(), hash.clone());
    let mut rs = ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!(
                "{}-{hash}",
                d.metadata.name.as_deref().unwrap_or_default()
            )),
            namespace: d.metadata.namespace.clone(),
            labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
            owner_references: Some(vec![controller_ref(d)]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(0),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(template),
        }),
        status: None,
    };
    revision::set_new_rs_annotations(d, &mut rs, new_revision, false);
    rs
}

/// Creates the new ReplicaSet, sized by the strategy. An existing one of
/// that name is taken if it is ours with the same template; otherwise the
/// collision count goes up and the next sync tries another name.
async fn create_new(
    ctx: &Ctx,
    d: &mut Deployment,
    old: &[ReplicaSet],
    new_revision: i64,
) -> Result<ReplicaSet, ControllerError> {
    let mut rs = new_replica_set(d, new_revision);
    let size = super::rolling::new_rs_replicas(d, old, &rs);
    rs.spec.get_or_insert_with(Default::default).replicas = Some(size);
    let name = rs.metadata.name.clone().unwrap_or_default();
    let api = rs_api(ctx, d);
    let (created, fresh) = match api.create(&PostParams::default(), &rs).await {
        Ok(created) => (created, true),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let current = api.get(&name).await?;
            let ours = controller_of(&current.metadata)
                .is_some_and(|r| Some(&r.uid) == d.metadata.uid.as_ref());
            let same = current
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .zip(d.spec.as_ref())
                .is_some_and(|(a, s)| equal_ignore_hash(a, &s.template));
            if !(ours && same) {
                let mut s = d.status.clone().unwrap_or_default();
                s.collision_count = Some(s.collision_count.unwrap_or(0) + 1);
                status::write(ctx, d, s).await?;
                return Err(ControllerError::Other(format!(
                    "replica set {name} already exists with another template: hash collision"
                )));
            }
            (current, false)
        }
        Err(e) => {
            let msg = format!("Failed to create new replica set \"{name}\": {e}");
            if cond::progress_deadline(d).is_some() {
                let mut s = d.status.clone().unwrap_or_default();
                cond::set(
                    &mut s,
                    cond::new(PROGRESSING, "False", cond::RS_CREATE_ERROR, msg.clone()),
                );
                status::write(ctx, d, s).await?;
            }
            ctx.recorder
                .record(
                    &reference(d),
                    EventType::Warning,
                    cond::RS_CREATE_ERROR,
                    &msg,
                )
                .await;
            return Err(e.into());
        }
    };
    if fresh && size > 0 {
        ctx.recorder
            .record(
                &reference(d),
                EventType::Normal,
                "ScalingReplicaSet",
                &format!("Scaled up replica set {name} to {size}"),
            )
            .await;
    }
    set_deployment_revision(ctx, d, new_revision).await?;
    if fresh && cond::progress_deadline(d).is_some() {
        let mut s = d.status.clone().unwrap_or_default();
        cond::set(
            &mut s,
            cond::new(
                PROGRESSING,
                "True",
                cond::NEW_RS_CREATED,
                format!("Created new replica set \"{name}\""),
            ),
        );
        status::write(ctx, d, s).await?;
    }
    Ok(created)
}

/// Sets the Deployment's revision annotation, on the condition that it is
/// unchanged since read (a metadata write: it does not bump generation).
async fn set_deployment_revision(
    ctx: &Ctx,
    d: &mut Deployment,
    rev: i64,
) -> Result<(), ControllerError> {
    let rev = rev.to_string();
    if d.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        == Some(&rev)
    {
        return Ok(());
    }
    let api: Api<Deployment> = Api::namespaced(
        ctx.client.clone(),
        d.metadata.namespace.as_deref().unwrap_or_default(),
    );
    let patch = json!({"metadata": {"resourceVersion": d.metadata.resource_version, "annotations": {REVISION: rev}}});
    *d = api
        .patch(
            d.metadata.name.as_deref().unwrap_or_default(),
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await?;
    Ok(())
}
