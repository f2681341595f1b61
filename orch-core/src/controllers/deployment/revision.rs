//! The annotations a Deployment keeps on its ReplicaSets:
//! `deployment.kubernetes.io/revision` (also on the Deployment), and
//! `desired-replicas` / `max-replicas`, which proportional scaling reads.
//! The Deployment's own annotations are copied onto its new ReplicaSet.
use std::collections::BTreeMap;

use k8s_openapi::{
    api::apps::v1::{Deployment, ReplicaSet},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};

use super::replicas;

/// The revision annotation.
pub(super) const REVISION: &str = "deployment.kubernetes.io/revision";
/// `spec.replicas` of the Deployment when the ReplicaSet was last scaled.
pub(super) const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// `spec.replicas + maxSurge` of the Deployment then.
pub(super) const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// Annotations of the Deployment that are not copied to ReplicaSets.
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

fn annotations(meta: &mut ObjectMeta) -> &mut BTreeMap<String, String> {
    meta.annotations.get_or_insert_with(Default::default)
}

/// The revision of an object (0 when absent or not a number).
pub(super) fn revision_of(meta: &ObjectMeta) -> i64 {
    annotation(meta, REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// The highest revision among `rss`.
pub(super) fn max_revision(rss: &[ReplicaSet]) -> i64 {
    rss.iter()
        .map(|rs| revision_of(&rs.metadata))
        .max()
        .unwrap_or(0)
}

fn int_annotation(rs: &ReplicaSet, key: &str) -> Option<i32> {
    annotation(&rs.metadata, key)?.parse().ok()
}

/// The `desired-replicas` annotation.
pub(super) fn desired_replicas(rs: &ReplicaSet) -> Option<i32> {
    int_annotation(rs, DESIRED_REPLICAS)
}

/// The `max-replicas` annotation.
pub(super) fn max_replicas(rs: &ReplicaSet) -> Option<i32> {
    int_annotation(rs, MAX_REPLICAS)
}

/// Whether the replica annotations differ from (desired, max).
pub(super) fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    desired_replicas(rs) != Some(desired) || max_replicas(rs) != Some(max)
}

/// Sets the replica annotations; whether anything changed.
pub(super) fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    if !replicas_annotations_need_update(rs, desired, max) {
        return false;
    }
    let a = annotations(&mut rs.metadata);
    a.insert(DESIRED_REPLICAS.into(), desired.to_string());
    a.insert(MAX_REPLICAS.into(), max.to_string());
    true
}

/// Kubernetes' `SetNewReplicaSetAnnotations`: copies the Deployment's
/// annotations, raises the revision to `new_revision` if it is lower, and
/// for a ReplicaSet about to be created sets the replica annotations.
/// Whether anything changed.
pub(super) fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = false;
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if NOT_COPIED.contains(&k.as_str()) || annotation(&rs.metadata, k) == Some(v) {
            continue;
        }
        annotations(&mut rs.metadata).insert(k.clone(), v.clone());
        changed = true;
    }
    let old = annotation(&rs.metadata, REVISION);
    let old_revision = match old.map(str::parse::<i64>) {
        None => 0,
        Some(Ok(r)) => r,
        // Someone wrote garbage there: leave it alone, as Kubernetes does.
        Some(Err(_)) => return changed,
    };
    if old_revision < new_revision {
        annotations(&mut rs.metadata).insert(REVISION.into(), new_revision.to_string());
        changed = true;
    }
    if !exists {
        let desired = replicas::desired(d);
        changed |= set_replicas_annotations(rs, desired, desired + replicas::max_surge(d));
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn new_rs_annotations() {
        let d: Deployment = serde_json::from_value(
            json!({"metadata": {"name": "web", "annotations": {"team": "a", REVISION: "4"}},
            "spec": {"replicas": 4, "selector": {}, "template": {}}}),
        )
        .unwrap();
        let mut rs = ReplicaSet::default();
        assert!(set_new_rs_annotations(&d, &mut rs, 5, false));
        assert_eq!(revision_of(&rs.metadata), 5);
        assert_eq!(annotation(&rs.metadata, "team"), Some("a"));
        assert_eq!(
            (desired_replicas(&rs), max_replicas(&rs)),
            (Some(4), Some(5))
        );
        assert!(
            !set_new_rs_annotations(&d, &mut rs, 3, true),
            "a lower revision never replaces a higher one"
        );
        assert_eq!(revision_of(&rs.metadata), 5);
    }
}
