//! Unit tests of the garbage collector's decisions.
use std::collections::HashSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::PropagationPolicy;

use super::graph::{Action, Graph, Obj, FOREGROUND, ORPHAN};

fn obj(kind: &str, name: &str, owners: &[(&str, &str, bool)]) -> Obj {
    Obj {
        api_version: "v1".into(),
        kind: kind.into(),
        namespaced: true,
        namespace: Some("ns".into()),
        name: name.into(),
        uid: format!("uid-{name}"),
        owners: owners
            .iter()
            .map(|(k, n, block)| OwnerReference {
                api_version: "v1".into(),
                kind: (*k).into(),
                name: (*n).into(),
                uid: format!("uid-{n}"),
                block_owner_deletion: Some(*block),
                controller: None,
            })
            .collect(),
        finalizers: Vec::new(),
        deleting: false,
    }
}

/// A graph where every kind of the tests is served.
fn graph(objs: Vec<Obj>) -> Graph {
    let served: HashSet<(String, String)> =
        ["ConfigMap", "Secret", "Pod", "ReplicaSet", "Deployment"]
            .iter()
            .map(|k| ("v1".to_string(), k.to_string()))
            .collect();
    Graph::new(objs, served)
}

#[test]
fn owners_of_kinds_not_served_count_as_present() {
    let mut child = obj("ConfigMap", "child", &[("Widget", "w", false)]);
    assert!(graph(vec![child.clone()]).actions().is_empty());
    child.owners[0].kind = "ConfigMap".into();
    assert_eq!(graph(vec![child]).actions().len(), 1);
}

fn deleting(mut o: Obj, finalizer: &str) -> Obj {
    o.deleting = true;
    o.finalizers.push(finalizer.into());
    o
}

#[test]
fn background_deletes_dependents_of_gone_owners() {
    let g = graph(vec![
        obj("ConfigMap", "child", &[("ConfigMap", "gone", false)]),
        obj("ConfigMap", "kept", &[("ConfigMap", "root", false)]),
        obj("ConfigMap", "root", &[]),
    ]);
    let a = g.actions();
    assert_eq!(a.len(), 1);
    let Action::Delete {
        obj: 0,
        policy: PropagationPolicy::Background,
        verify,
    } = &a[0]
    else {
        panic!("{a:?}")
    };
    assert_eq!(verify[0].name, "gone");
}

#[test]
fn a_live_owner_keeps_the_dependent() {
    let g = graph(vec![
        obj(
            "ConfigMap",
            "child",
            &[("ConfigMap", "gone", false), ("ConfigMap", "root", false)],
        ),
        obj("ConfigMap", "root", &[]),
    ]);
    assert_eq!(
        g.actions(),
        [Action::RemoveOwners {
            obj: 0,
            uids: vec!["uid-gone".into()],
            verify: g.objs[0].owners[..1].to_vec()
        }]
    );
    // An owner of another kind with that uid is not the owner.
    let g = graph(vec![
        obj("ConfigMap", "child", &[("Secret", "root", false)]),
        obj("ConfigMap", "root", &[]),
    ]);
    assert!(matches!(g.actions()[0], Action::Delete { obj: 0, .. }));
}

#[test]
fn foreground_waits_for_blocking_dependents() {
    let g = graph(vec![
        deleting(obj("ReplicaSet", "rs", &[]), FOREGROUND),
        obj("Pod", "a", &[("ReplicaSet", "rs", true)]),
        obj("Pod", "b", &[("ReplicaSet", "rs", false)]),
    ]);
    let a = g.actions();
    assert_eq!(a.len(), 2, "{a:?}");
    assert!(a.iter().all(|x| matches!(
        x,
        Action::Delete {
            policy: PropagationPolicy::Background,
            ..
        }
    )));
    // Only the non-blocking one left: the owner goes.
    let g = graph(vec![
        deleting(obj("ReplicaSet", "rs", &[]), FOREGROUND),
        obj("Pod", "b", &[("ReplicaSet", "rs", false)]),
    ]);
    assert!(g.actions().contains(&Action::RemoveFinalizer {
        obj: 0,
        finalizer: FOREGROUND
    }));
    // A terminating blocking dependent still blocks, and is not deleted again.
    let mut pod = obj("Pod", "a", &[("ReplicaSet", "rs", true)]);
    pod.deleting = true;
    let g = graph(vec![
        deleting(obj("ReplicaSet", "rs", &[]), FOREGROUND),
        pod,
    ]);
    assert!(g.actions().is_empty());
}

#[test]
fn foreground_cascades_through_dependents_with_dependents() {
    let g = graph(vec![
        deleting(obj("Deployment", "d", &[]), FOREGROUND),
        obj("ReplicaSet", "rs", &[("Deployment", "d", true)]),
        obj("Pod", "p", &[("ReplicaSet", "rs", true)]),
    ]);
    assert_eq!(
        g.actions(),
        [Action::Delete {
            obj: 1,
            policy: PropagationPolicy::Foreground,
            verify: vec![]
        }]
    );
}

#[test]
fn orphan_unlinks_then_lets_go() {
    let g = graph(vec![
        deleting(obj("ReplicaSet", "rs", &[]), ORPHAN),
        obj("Pod", "a", &[("ReplicaSet", "rs", true)]),
    ]);
    assert_eq!(
        g.actions(),
        [Action::RemoveOwners {
            obj: 1,
            uids: vec!["uid-rs".into()],
            verify: vec![]
        }]
    );
    let g = graph(vec![
        deleting(obj("ReplicaSet", "rs", &[]), ORPHAN),
        obj("Pod", "a", &[]),
    ]);
    assert_eq!(
        g.actions(),
        [Action::RemoveFinalizer {
            obj: 0,
            finalizer: ORPHAN
        }]
    );
}
