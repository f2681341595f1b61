//! Resizing a Deployment's ReplicaSets: one scale write (with the cached
//! resourceVersion, so decisions made on a stale cache fail and are
//! retried), proportional scaling when the Deployment itself is resized
//! mid-rollout, and the revision history clean-up.
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, DeleteParams, PostParams};

use super::{
    newrs::{all_replica_sets, by_creation},
    replicas::{self, spec, sum},
    revision, status, Ctx,
};
use crate::controllers::{
    events::{reference, EventType},
    replicaset::informer::is_not_found,
    ControllerError,
};

/// Sets `rs` to `size` replicas (and its replica annotations); whether the
/// size changed, and the ReplicaSet as written.
pub(super) async fn scale_rs(
    ctx: &Ctx,
    d: &Deployment,
    rs: &ReplicaSet,
    size: i32,
) -> Result<(bool, ReplicaSet), ControllerError> {
    let desired = replicas::desired(d);
    let max = desired + replicas::max_surge(d);
    let resize = spec(rs) != size;
    if !resize && !revision::replicas_annotations_need_update(rs, desired, max) {
        return Ok((false, rs.clone()));
    }
    let mut next = rs.clone();
    next.spec.get_or_insert_with(Default::default).replicas = Some(size);
    revision::set_replicas_annotations(&mut next, desired, max);
    let api: Api<ReplicaSet> = Api::namespaced(
        ctx.client.clone(),
        rs.metadata.namespace.as_deref().unwrap_or_default(),
    );
    let name = rs.metadata.name.as_deref().unwrap_or_default();
    let written = api.replace(name, &PostParams::default(), &next).await?;
    if resize {
        let dir = if size > spec(rs) { "up" } else { "down" };
        ctx.recorder
            .record(
                &reference(d),
                EventType::Normal,
                "ScalingReplicaSet",
                &format!("Scaled {dir} replica set {name} to {size}"),
            )
            .await;
    }
    Ok((resize, written))
}

/// Like [`scale_rs`], but nothing at all when the size is already right.
pub(super) async fn scale_if_needed(
    ctx: &Ctx,
    d: &Deployment,
    rs: &ReplicaSet,
    size: i32,
) -> Result<(bool, ReplicaSet), ControllerError> {
    if spec(rs) == size {
        return Ok((false, rs.clone()));
    }
    scale_rs(ctx, d, rs, size).await
}

/// Whether some active ReplicaSet was sized for another `spec.replicas`.
pub(super) fn is_scaling_event(d: &Deployment, rss: &[ReplicaSet]) -> bool {
    rss.iter()
        .filter(|rs| spec(rs) > 0)
        .any(|rs| revision::desired_replicas(rs).is_some_and(|want| want != replicas::desired(d)))
}

/// The only active ReplicaSet, or the newest one if none is active.
fn active_or_latest<'a>(
    new: Option<&'a ReplicaSet>,
    old: &'a [ReplicaSet],
) -> Option<&'a ReplicaSet> {
    let mut active: Vec<&ReplicaSet> = old.iter().chain(new).filter(|rs| spec(rs) > 0).collect();
    match active.len() {
        0 => new.or_else(|| old.iter().max_by(|a, b| by_creation(a, b))),
        1 => active.pop(),
        _ => None,
    }
}

/// Whether the new ReplicaSet runs the whole Deployment.
fn is_saturated(d: &Deployment, rs: &ReplicaSet) -> bool {
    let want = replicas::desired(d);
    spec(rs) == want
        && revision::desired_replicas(rs) == Some(want)
        && replicas::available(rs) == want
}

/// Kubernetes' `scale`: resizes the ReplicaSets after the Deployment was
/// resized, spreading a rolling Deployment's change over its active
/// ReplicaSets in proportion to their sizes.
async fn scale(
    ctx: &Ctx,
    d: &Deployment,
    new: Option<&ReplicaSet>,
    old: &[ReplicaSet],
) -> Result<(), ControllerError> {
    let want = replicas::desired(d);
    if let Some(rs) = active_or_latest(new, old) {
        scale_if_needed(ctx, d, rs, want).await?;
        return Ok(());
    }
    if new.is_some_and(|rs| is_saturated(d, rs)) {
        for o in old.iter().filter(|o| spec(o) > 0) {
            scale_if_needed(ctx, d, o, 0).await?;
        }
        return Ok(());
    }
    if !replicas::is_rolling(d) {
        return Ok(());
    }
    let mut active: Vec<&ReplicaSet> = old.iter().chain(new).filter(|rs| spec(rs) > 0).collect();
    let allowed = if want > 0 {
        want + replicas::max_surge(d)
    } else {
        0
    };
    let to_add = allowed - sum(active.iter().copied(), spec);
    // Larger first; among equals, newer first when growing, older first when shrinking.
    active.sort_by(|a, b| {
        spec(b).cmp(&spec(a)).then_with(|| {
            if to_add > 0 {
                by_creation(b, a)
            } else {
                by_creation(a, b)
            }
        })
    });
    let mut added = 0;
    let mut sizes: Vec<i32> = active
        .iter()
        .map(|rs| {
            let p = proportion(d, rs, to_add, added);
            added += p;
            spec(rs) + p
        })
        .collect();
    if let Some(first) = sizes.first_mut() {
        *first = (*first + to_add - added).max(0);
    }
    for (rs, size) in active.iter().zip(sizes) {
        scale_rs(ctx, d, rs, size).await?;
    }
    Ok(())
}

/// Kubernetes' `GetReplicaSetProportion`: this ReplicaSet's share of
/// `to_add`, never more than what is left.
fn proportion(d: &Deployment, rs: &ReplicaSet, to_add: i32, added: i32) -> i32 {
    if spec(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let want = replicas::desired(d);
    let fraction = if want == 0 {
        -spec(rs)
    } else {
        let total = want + replicas::max_surge(d);
        let annotated = revision::max_replicas(rs)
            .unwrap_or_else(|| d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0))
            .max(1);
        let size = f64::from(spec(rs)) * f64::from(total) / f64::from(annotated);
        // Rounded: the value is a small replica count.
        #[allow(clippy::cast_possible_truncation)]
        let rounded = size.round() as i32;
        rounded - spec(rs)
    };
    let left = to_add - added;
    if to_add > 0 {
        fraction.min(left)
    } else {
        fraction.max(left)
    }
}

/// Kubernetes' `sync`: scaling (and for paused Deployments the history
/// clean-up) without rolling anything out.
pub(super) async fn sync(
    ctx: &Ctx,
    d: &mut Deployment,
    rss: &[ReplicaSet],
) -> Result<Option<std::time::Duration>, ControllerError> {
    let (new, old) = all_replica_sets(ctx, d, rss, false).await?;
    scale(ctx, d, new.as_ref(), &old).await?;
    if d.spec.as_ref().and_then(|s| s.paused) == Some(true) {
        cleanup(ctx, d, &old).await?;
    }
    // Sizes changed: the next sync (triggered by those writes) reports them.
    status::sync_status_only(ctx, d, &old, new.as_ref()).await
}

/// Deletes the oldest old ReplicaSets beyond revisionHistoryLimit, but only
/// those scaled to zero with no pods left.
pub(super) async fn cleanup(
    ctx: &Ctx,
    d: &Deployment,
    old: &[ReplicaSet],
) -> Result<(), ControllerError> {
    let Some(limit) = d.spec.as_ref().and_then(|s| s.revision_history_limit) else {
        return Ok(());
    };
    let mut cleanable: Vec<&ReplicaSet> = old
        .iter()
        .filter(|rs| rs.metadata.deletion_timestamp.is_none())
        .collect();
    let excess = cleanable
        .len()
        .saturating_sub(usize::try_from(limit.max(0)).unwrap_or(0));
    if excess == 0 {
        return Ok(());
    }
    cleanable.sort_by(|a, b| {
        revision::revision_of(&a.metadata)
            .cmp(&revision::revision_of(&b.metadata))
            .then_with(|| by_creation(a, b))
    });
    let api: Api<ReplicaSet> = Api::namespaced(
        ctx.client.clone(),
        d.metadata.namespace.as_deref().unwrap_or_default(),
    );
    for rs in cleanable.into_iter().take(excess) {
        let settled =
            rs.status.as_ref().and_then(|s| s.observed_generation) >= rs.metadata.generation;
        if replicas::actual(rs) != 0 || spec(rs) != 0 || !settled {
            continue;
        }
        let name = rs.metadata.name.as_deref().unwrap_or_default();
        tracing::info!(
            replicaset = name,
            "deleting old replica set beyond the revision history limit"
        );
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
