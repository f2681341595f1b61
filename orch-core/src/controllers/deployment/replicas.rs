//! Replica arithmetic of a Deployment: maxSurge and maxUnavailable (ints or
//! percentages; surge rounds up, unavailable down, and both zero means one
//! unavailable), and the counts summed over its ReplicaSets.
use k8s_openapi::{
    api::apps::v1::{Deployment, ReplicaSet},
    apimachinery::pkg::util::intstr::IntOrString,
};

/// `spec.replicas` of a Deployment (defaulted to 1).
pub(super) fn desired(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// `spec.replicas` of a ReplicaSet.
pub(super) fn spec(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn status_field(
    rs: &ReplicaSet,
    f: impl Fn(&k8s_openapi::api::apps::v1::ReplicaSetStatus) -> Option<i32>,
) -> i32 {
    rs.status.as_ref().and_then(f).unwrap_or(0)
}

/// `status.replicas` of a ReplicaSet.
pub(super) fn actual(rs: &ReplicaSet) -> i32 {
    status_field(rs, |s| Some(s.replicas))
}

/// `status.readyReplicas` of a ReplicaSet.
pub(super) fn ready(rs: &ReplicaSet) -> i32 {
    status_field(rs, |s| s.ready_replicas)
}

/// `status.availableReplicas` of a ReplicaSet.
pub(super) fn available(rs: &ReplicaSet) -> i32 {
    status_field(rs, |s| s.available_replicas)
}

/// Pods the ReplicaSet may have right now: its spec, or more while a
/// scale-down is not yet reflected in its status. Surge decisions use this,
/// so a new ReplicaSet is not grown while an old one's pods still exist.
pub(super) fn upper_bound(rs: &ReplicaSet) -> i32 {
    spec(rs).max(actual(rs))
}

/// Available pods the ReplicaSet will keep: its status, but never more than
/// its spec (a lagging status may still count pods being deleted).
/// Scale-down decisions use this, so availability never drops below the
/// floor.
pub(super) fn available_lower_bound(rs: &ReplicaSet) -> i32 {
    available(rs).min(spec(rs))
}

/// Sum of `f` over `rss`.
pub(super) fn sum<'a>(
    rss: impl IntoIterator<Item = &'a ReplicaSet>,
    f: fn(&ReplicaSet) -> i32,
) -> i32 {
    rss.into_iter().map(f).sum()
}

/// Whether the Deployment rolls (the default) rather than recreates.
pub(super) fn is_rolling(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
        != "Recreate"
}

/// `value` of `total`: an int as is, `"N%"` scaled and rounded.
pub(super) fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match value {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("invalid value {s:?}: not an integer or a percentage"))?;
            let scaled = pct * i64::from(total);
            let v = if round_up {
                (scaled + 99).div_euclid(100)
            } else {
                scaled.div_euclid(100)
            };
            i32::try_from(v).map_err(|_| format!("{s:?} of {total} is out of range"))
        }
    }
}

/// (maxSurge, maxUnavailable) resolved against `spec.replicas`.
pub(super) fn fenceposts(d: &Deployment) -> (i32, i32) {
    if !is_rolling(d) {
        return (0, 0);
    }
    let ru = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let quarter = IntOrString::String("25%".into());
    let surge_v = ru
        .and_then(|r| r.max_surge.clone())
        .unwrap_or_else(|| quarter.clone());
    let unavail_v = ru
        .and_then(|r| r.max_unavailable.clone())
        .unwrap_or(quarter);
    let total = desired(d);
    let surge = scaled_value(&surge_v, total, true).unwrap_or(0).max(0);
    let unavailable = scaled_value(&unavail_v, total, false).unwrap_or(0).max(0);
    if surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable)
}

/// maxSurge as a pod count (0 for Recreate).
pub(super) fn max_surge(d: &Deployment) -> i32 {
    fenceposts(d).0
}

/// maxUnavailable as a pod count, at most `spec.replicas` (0 for Recreate).
pub(super) fn max_unavailable(d: &Deployment) -> i32 {
    if !is_rolling(d) || desired(d) == 0 {
        return 0;
    }
    fenceposts(d).1.min(desired(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(
        replicas: i32,
        surge: serde_json::Value,
        unavailable: serde_json::Value,
    ) -> Deployment {
        serde_json::from_value(json!({"metadata": {"name": "d"}, "spec": {"replicas": replicas, "selector": {},
            "template": {}, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}}}))
        .unwrap()
    }

    #[test]
    fn surge_rounds_up_and_unavailable_down() {
        let d = deploy(10, json!("25%"), json!("25%"));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (3, 2));
        let d = deploy(3, json!(1), json!(0));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (1, 0));
        let d = deploy(3, json!("10%"), json!("10%"));
        assert_eq!((max_surge(&d), max_unavailable(&d)), (1, 0));
        let d = deploy(3, json!(0), json!("10%"));
        assert_eq!(
            (max_surge(&d), max_unavailable(&d)),
            (0, 1),
            "both zero means one unavailable"
        );
        let d = deploy(2, json!(0), json!(5));
        assert_eq!(max_unavailable(&d), 2, "never more than replicas");
        assert!(scaled_value(&IntOrString::String("x".into()), 4, true).is_err());
    }
}
