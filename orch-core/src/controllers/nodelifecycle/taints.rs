//! Taints and tolerations: which condition taints a node should carry for
//! its Ready status, and when a pod on a node with `NoExecute` taints must
//! be evicted (the taint manager's rule).
use k8s_openapi::{
    api::core::v1::{Taint, Toleration},
    apimachinery::pkg::apis::meta::v1::Time,
    jiff::{SignedDuration, Timestamp},
};

use crate::controllers::slim::CachedPod;

/// Taint key of a node whose Ready condition is False.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// Taint key of a node whose Ready condition is Unknown.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The effect that evicts running pods.
pub const NO_EXECUTE: &str = "NoExecute";
const NO_SCHEDULE: &str = "NoSchedule";

/// The condition taints (key, effect) a node with this Ready status carries.
fn wanted(ready: &str) -> Vec<(&'static str, &'static str)> {
    match ready {
        "False" => vec![(NOT_READY, NO_EXECUTE), (NOT_READY, NO_SCHEDULE)],
        "Unknown" => vec![(UNREACHABLE, NO_EXECUTE), (UNREACHABLE, NO_SCHEDULE)],
        _ => Vec::new(),
    }
}

/// The node's taints with the condition taints brought in line with its
/// Ready status (`None`: no Ready condition yet, or nothing to change).
/// Other taints, and condition taints already right, are kept as they are.
pub fn sync(current: &[Taint], ready: Option<&str>, now: Timestamp) -> Option<Vec<Taint>> {
    let wanted = wanted(ready?);
    let managed = |t: &Taint| t.key == NOT_READY || t.key == UNREACHABLE;
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| !managed(t) || wanted.contains(&(t.key.as_str(), t.effect.as_str())))
        .cloned()
        .collect();
    for (key, effect) in &wanted {
        if !out.iter().any(|t| t.key == *key && t.effect == *effect) {
            out.push(Taint {
                key: (*key).into(),
                effect: (*effect).into(),
                time_added: Some(Time(now)),
                value: None,
            });
        }
    }
    (out != current).then_some(out)
}

/// Whether `tol` tolerates `taint` (Kubernetes' `ToleratesTaint`).
pub fn tolerates(tol: &Toleration, taint: &Taint) -> bool {
    let effect_ok = tol
        .effect
        .as_deref()
        .is_none_or(|e| e.is_empty() || e == taint.effect);
    let key = tol.key.as_deref().unwrap_or_default();
    let exists = tol.operator.as_deref() == Some("Exists");
    let key_ok = (key.is_empty() && exists) || key == taint.key;
    let value_ok = exists
        || tol.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default();
    effect_ok && key_ok && value_ok
}

/// The pod's tolerations plus what the DefaultTolerationSeconds admission
/// plugin adds: `not-ready` and `unreachable` `NoExecute` tolerations of
/// `default_seconds` for pods that do not tolerate those taints already.
pub fn effective_tolerations(pod: &CachedPod, default_seconds: i64) -> Vec<Toleration> {
    let mut tols = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    for key in [NOT_READY, UNREACHABLE] {
        let covered = tols.iter().any(|t| {
            let k = t.key.as_deref().unwrap_or_default();
            (k == key || k.is_empty())
                && t.effect
                    .as_deref()
                    .is_none_or(|e| e.is_empty() || e == NO_EXECUTE)
        });
        if !covered {
            tols.push(Toleration {
                key: Some(key.into()),
                operator: Some("Exists".into()),
                effect: Some(NO_EXECUTE.into()),
                toleration_seconds: Some(default_seconds),
                value: None,
            });
        }
    }
    tols
}

/// When a pod with `tols` must leave a node with `taints`: `None` for never
/// (every `NoExecute` taint is tolerated for ever), otherwise the earliest
/// time a `NoExecute` taint stops being tolerated, counted from when the
/// taint was added (`now` for a taint nobody tolerates, or one with no time).
pub fn eviction_time(taints: &[Taint], tols: &[Toleration], now: Timestamp) -> Option<Timestamp> {
    taints
        .iter()
        .filter(|t| t.effect == NO_EXECUTE)
        .filter_map(|t| {
            let Some(tol) = tols.iter().find(|tol| tolerates(tol, t)) else {
                return Some(now);
            };
            let secs = tol.toleration_seconds?.max(0);
            let added = t.time_added.as_ref().map_or(now, |a| a.0);
            Some(
                added
                    .checked_add(SignedDuration::from_secs(secs))
                    .unwrap_or(Timestamp::MAX),
            )
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn taint(key: &str, effect: &str, added: i64) -> Taint {
        Taint {
            key: key.into(),
            effect: effect.into(),
            time_added: Some(Time(at(added))),
            value: None,
        }
    }

    fn pod(tolerations: serde_json::Value) -> CachedPod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [], "tolerations": tolerations}})).unwrap()
    }

    #[test]
    fn condition_taints_follow_readiness() {
        let user = taint("dedicated", NO_SCHEDULE, 0);
        let t = sync(std::slice::from_ref(&user), Some("Unknown"), at(5)).unwrap();
        let keys: Vec<(&str, &str)> = t
            .iter()
            .map(|t| (t.key.as_str(), t.effect.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("dedicated", NO_SCHEDULE),
                (UNREACHABLE, NO_EXECUTE),
                (UNREACHABLE, NO_SCHEDULE)
            ]
        );
        assert_eq!(
            sync(&t, Some("Unknown"), at(9)),
            None,
            "kept as is, with its first timeAdded"
        );
        let f = sync(&t, Some("False"), at(9)).unwrap();
        assert!(
            f.iter().all(|t| t.key != UNREACHABLE)
                && f.iter().filter(|t| t.key == NOT_READY).count() == 2
        );
        assert_eq!(sync(&f, Some("True"), at(9)).unwrap(), [user]);
        assert_eq!(sync(&f, None, at(9)), None);
    }

    #[test]
    fn eviction_follows_tolerations() {
        let taints = [
            taint(UNREACHABLE, NO_EXECUTE, 10),
            taint(UNREACHABLE, NO_SCHEDULE, 10),
        ];
        // No toleration of its own: the default one applies.
        let tols = effective_tolerations(&pod(json!([])), 300);
        assert_eq!(eviction_time(&taints, &tols, at(20)), Some(at(310)));
        // A toleration without seconds: never evicted.
        let tols = effective_tolerations(
            &pod(json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}])),
            300,
        );
        assert_eq!(eviction_time(&taints, &tols, at(20)), None);
        // A wildcard toleration covers every taint for ever.
        let tols = effective_tolerations(&pod(json!([{"operator": "Exists"}])), 300);
        assert_eq!(eviction_time(&taints, &tols, at(20)), None);
        // Its own seconds.
        let tols = effective_tolerations(
            &pod(json!([{"key": UNREACHABLE, "operator": "Exists", "tolerationSeconds": 5}])),
            300,
        );
        assert_eq!(eviction_time(&taints, &tols, at(20)), Some(at(15)));
        // A taint nobody tolerates: at once.
        let user = [taint("dedicated", NO_EXECUTE, 0)];
        assert_eq!(
            eviction_time(&user, &effective_tolerations(&pod(json!([])), 300), at(20)),
            Some(at(20))
        );
        let tols = [Toleration {
            key: Some("dedicated".into()),
            value: Some("x".into()),
            ..Default::default()
        }];
        assert_eq!(
            eviction_time(&user, &tols, at(20)),
            Some(at(20)),
            "value mismatch"
        );
        // No NoExecute taint: nothing.
        assert_eq!(eviction_time(&taints[1..], &[], at(20)), None);
    }
}
