//! Unit tests of what a Service's slices should hold.
use k8s_openapi::api::{core::v1::Service, discovery::v1::Endpoint};
use serde_json::Value;

use super::desired::*;
use crate::controllers::slim::CachedPod;

fn target_name(e: &Endpoint) -> &str {
    e.target_ref
        .as_ref()
        .and_then(|r| r.name.as_deref())
        .unwrap_or_default()
}
use serde_json::json;

fn svc(extra: Value) -> Service {
    let mut v = json!({
        "metadata": {"name": "web", "namespace": "ns", "uid": "svc-uid"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    });
    json_patch::merge(&mut v, &extra);
    serde_json::from_value(v).unwrap()
}

fn pod(name: &str, port: i32, ready: bool, extra: Value) -> CachedPod {
    let mut v = json!({
        "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}]},
        "status": {"podIP": format!("10.244.1.{}", name.len()), "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]},
    });
    json_patch::merge(&mut v, &extra);
    serde_json::from_value(v).unwrap()
}

fn conditions(e: &Endpoint) -> (bool, bool, bool) {
    let c = e.conditions.clone().unwrap();
    (c.ready.unwrap(), c.serving.unwrap(), c.terminating.unwrap())
}

#[test]
fn groups_by_resolved_named_port() {
    let pods = [
        pod("a", 8080, true, json!({})),
        pod("b", 9090, true, json!({})),
        pod("c", 8080, true, json!({})),
    ];
    let d = desired(&svc(json!({})), &pods);
    assert_eq!(d.groups.len(), 2);
    assert_eq!(d.len(), 3);
    let ports: Vec<i32> = d.groups.keys().map(|k| k[0].port).collect();
    assert_eq!(ports, [8080, 9090]);
    let e = &d.groups.values().next().unwrap()[0];
    assert_eq!(e.addresses, ["10.244.1.1"]);
    assert_eq!(e.node_name.as_deref(), Some("n1"));
    assert_eq!(e.target_ref.as_ref().unwrap().uid.as_deref(), Some("uid-a"));
}

#[test]
fn conditions_follow_readiness_and_termination() {
    let pods = [
        pod("ready", 1, true, json!({})),
        pod("unready", 2, false, json!({})),
        pod(
            "leaving",
            3,
            true,
            json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}}),
        ),
        pod("noip", 4, true, json!({"status": {"podIP": null}})),
        pod("done", 5, true, json!({"status": {"phase": "Succeeded"}})),
        pod(
            "other",
            6,
            true,
            json!({"metadata": {"labels": {"app": "db"}}}),
        ),
    ];
    let d = desired(
        &svc(json!({"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 80}]}})),
        &pods,
    );
    let eps: Vec<(String, (bool, bool, bool))> = d
        .groups
        .values()
        .flatten()
        .map(|e| (target_name(e).to_string(), conditions(e)))
        .collect();
    assert_eq!(
        eps,
        [
            ("leaving".to_string(), (false, true, true)),
            ("ready".to_string(), (true, true, false)),
            ("unready".to_string(), (false, false, false)),
        ]
    );
    let d = desired(
        &svc(json!({"spec": {"publishNotReadyAddresses": true}})),
        &pods,
    );
    assert!(d.groups.values().flatten().all(|e| conditions(e).0));
}

#[test]
fn hostname_only_for_the_matching_subdomain() {
    let pods = [
        pod(
            "a",
            1,
            true,
            json!({"spec": {"hostname": "a", "subdomain": "web"}}),
        ),
        pod(
            "b",
            2,
            true,
            json!({"spec": {"hostname": "b", "subdomain": "other"}}),
        ),
    ];
    let d = desired(&svc(json!({})), &pods);
    let hosts: Vec<Option<String>> = d
        .groups
        .values()
        .flatten()
        .map(|e| e.hostname.clone())
        .collect();
    assert_eq!(hosts, [Some("a".to_string()), None]);
}

#[test]
fn selectorless_and_external_name_services_are_not_managed() {
    assert!(selector(&svc(json!({"spec": {"selector": null}}))).is_none());
    assert!(selector(&svc(json!({"spec": {"type": "ExternalName"}}))).is_none());
    assert!(selects(&svc(json!({})), &pod("a", 1, true, json!({}))));
}
