//! Unit tests of slice planning: splitting, stability, in-place updates.
use std::collections::BTreeMap;

use k8s_openapi::api::{
    core::v1::Service,
    discovery::v1::{Endpoint, EndpointSlice},
};
use kube::ResourceExt;

use super::{
    desired::{Desired, PortKey},
    plan::*,
};
use k8s_openapi::api::{core::v1::ObjectReference, discovery::v1::EndpointConditions};
use serde_json::json;

fn svc() -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "ns", "uid": "svc-uid", "labels": {"tier": "front"}},
        "spec": {"selector": {"app": "web"}},
    }))
    .unwrap()
}

fn ep(i: usize, ready: bool) -> Endpoint {
    Endpoint {
        addresses: vec![format!("10.244.{}.{}", i / 250, i % 250 + 1)],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(ready),
            terminating: Some(false),
        }),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            name: Some(format!("p{i:04}")),
            uid: Some(format!("u{i}")),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn port() -> Vec<PortKey> {
    vec![PortKey {
        name: "http".into(),
        protocol: "TCP".into(),
        port: 8080,
        app_protocol: None,
    }]
}

#[test]
fn the_placeholder_becomes_the_first_slice() {
    let empty = Desired {
        address_type: "IPv4".into(),
        groups: BTreeMap::new(),
    };
    let existing = stored(plan(&svc(), empty, vec![]));
    let p = plan(&svc(), want(150), existing);
    assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (1, 1, 0));
    assert_eq!(p.update[0].metadata.name.as_deref(), Some("web-0"));
    assert_eq!(p.update[0].ports.as_ref().unwrap()[0].port, Some(8080));
}

fn want(n: usize) -> Desired {
    Desired {
        address_type: "IPv4".into(),
        groups: [(port(), (0..n).map(|i| ep(i, true)).collect())].into(),
    }
}

/// The slices after the API server carried out `plan` on `existing`
/// (created ones named `web-N`), sorted by name.
fn after(existing: Vec<EndpointSlice>, plan: Plan) -> Vec<EndpointSlice> {
    let gone: Vec<_> = plan
        .delete
        .iter()
        .chain(&plan.update)
        .map(|s| s.name_any())
        .collect();
    let mut out: Vec<EndpointSlice> = existing
        .into_iter()
        .filter(|s| !gone.contains(&s.name_any()))
        .chain(plan.update)
        .collect();
    for mut s in plan.create {
        s.metadata.name = Some(format!("web-{}", out.len()));
        out.push(s);
    }
    out.sort_by_key(|s| s.name_any());
    out
}

fn stored(plan: Plan) -> Vec<EndpointSlice> {
    after(Vec::new(), plan)
}

#[test]
fn splits_at_one_hundred_and_is_stable() {
    let p = plan(&svc(), want(250), vec![]);
    let sizes: Vec<usize> = p.create.iter().map(|s| s.endpoints.len()).collect();
    assert_eq!(sizes, [100, 100, 50]);
    let s = &p.create[0];
    assert_eq!(
        s.metadata.labels.as_ref().unwrap()[SERVICE_NAME_LABEL],
        "web"
    );
    assert_eq!(
        s.metadata.labels.as_ref().unwrap()[MANAGED_BY_LABEL],
        MANAGED_BY
    );
    assert_eq!(s.metadata.labels.as_ref().unwrap()["tier"], "front");
    assert_eq!(
        s.metadata.owner_references.as_ref().unwrap()[0].uid,
        "svc-uid"
    );
    let existing = stored(p);
    assert!(plan(&svc(), want(250), existing).is_empty());
}

#[test]
fn updates_in_place_and_fills_changed_slices_first() {
    // web-0 holds p0000..p0099 (with room once 10 go), web-1 the rest.
    let existing = stored(plan(&svc(), want(150), vec![]));
    let mut d = want(151);
    let eps = d.groups.get_mut(&port()).unwrap();
    eps.drain(..10);
    let shrunk = Desired {
        groups: [(port(), eps[..140].to_vec())].into(),
        ..want(0)
    };
    let existing = after(existing.clone(), plan(&svc(), shrunk, existing));
    assert_eq!(
        existing
            .iter()
            .map(|s| s.endpoints.len())
            .collect::<Vec<_>>(),
        [90, 50]
    );
    // p0120 (in web-1) turns unready and p0150 appears: only web-1 is written.
    eps[110] = ep(120, false);
    let p = plan(&svc(), d, existing);
    assert!(p.create.is_empty() && p.delete.is_empty());
    assert_eq!(p.update.len(), 1);
    assert_eq!(p.update[0].metadata.name.as_deref(), Some("web-1"));
    assert_eq!(p.update[0].endpoints.len(), 51);
}

#[test]
fn empties_become_one_placeholder() {
    let existing = stored(plan(&svc(), want(150), vec![]));
    let p = plan(
        &svc(),
        Desired {
            address_type: "IPv4".into(),
            groups: BTreeMap::new(),
        },
        existing,
    );
    assert!(p.create.is_empty());
    assert_eq!(p.update.len(), 1);
    assert!(p.update[0].endpoints.is_empty() && p.update[0].ports.is_none());
    assert_eq!(p.delete.len(), 1);
    let again = plan(
        &svc(),
        Desired {
            address_type: "IPv4".into(),
            groups: BTreeMap::new(),
        },
        p.update,
    );
    assert!(again.is_empty());
}

#[test]
fn slices_of_another_owner_or_ports_are_replaced() {
    let mut existing = stored(plan(&svc(), want(3), vec![]));
    existing[0].metadata.owner_references.as_mut().unwrap()[0].uid = "old".into();
    let p = plan(&svc(), want(3), existing.clone());
    assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (1, 0, 1));
    // Another port set reuses the slice; another address type cannot.
    let mut other = want(3);
    other.groups = [(vec![], other.groups.into_values().next().unwrap())].into();
    let p = plan(&svc(), other.clone(), stored(plan(&svc(), want(3), vec![])));
    assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (0, 1, 0));
    assert_eq!(p.update[0].ports, None);
    other.address_type = "IPv6".into();
    let p = plan(&svc(), other, stored(plan(&svc(), want(3), vec![])));
    assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (1, 0, 1));
}
