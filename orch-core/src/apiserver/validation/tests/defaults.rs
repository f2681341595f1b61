//! Defaulting: missing fields get Kubernetes' defaults, present ones stay.

use serde_json::{json, Value};

use super::super::apply_defaults;
use super::*;

fn defaulted(kind: &str, obj: &Value) -> Value {
    let mut obj = obj.clone();
    apply_defaults(kind, &mut obj);
    obj
}

#[test]
fn service_defaults() {
    let svc = json!({"metadata": meta("web"), "spec": {"ports": [
        {"name": "http", "port": 80},
        {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns"},
        {"name": "alt", "port": 8080, "targetPort": 0},
    ]}});
    let out = defaulted("Service", &svc);
    assert_eq!(out["spec"]["type"], "ClusterIP");
    assert_eq!(out["spec"]["sessionAffinity"], "None");
    assert_eq!(
        out["spec"]["ports"][0],
        json!({"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80})
    );
    assert_eq!(
        out["spec"]["ports"][1],
        json!({"name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns"})
    );
    assert_eq!(out["spec"]["ports"][2]["targetPort"], 8080);
    assert_valid("Service", &out);

    let node_port = with(&svc, "/spec/type", json!("NodePort"));
    assert_eq!(defaulted("Service", &node_port)["spec"]["type"], "NodePort");
    let no_spec = defaulted("Service", &json!({"metadata": meta("web")}));
    assert_eq!(no_spec["spec"]["type"], "ClusterIP");
}

#[test]
fn pod_defaults() {
    let mut p = with(
        &pod(),
        "/spec/initContainers",
        json!([{"name": "init", "ports": [{"containerPort": 9}]}]),
    );
    p["spec"]["containers"][0]["ports"][0] = json!({"containerPort": 80});
    let out = defaulted("Pod", &p);
    let spec = &out["spec"];
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["schedulerName"], "default-scheduler");
    assert_eq!(spec["enableServiceLinks"], true);
    assert_eq!(spec["containers"][0]["ports"][0]["protocol"], "TCP");
    assert_eq!(spec["initContainers"][0]["ports"][0]["protocol"], "TCP");
    assert_valid("Pod", &out);

    let custom = with(&pod(), "/spec/restartPolicy", json!("Never"));
    let custom = with(&custom, "/spec/containers/0/ports/0/protocol", json!("UDP"));
    let out = defaulted("Pod", &custom);
    assert_eq!(out["spec"]["restartPolicy"], "Never");
    assert_eq!(out["spec"]["containers"][0]["ports"][0]["protocol"], "UDP");
}

#[test]
fn deployment_defaults() {
    let d = without(
        &without(&deployment(), "/spec/replicas"),
        "/spec/template/spec/containers/0/ports/0/protocol",
    );
    let out = defaulted("Deployment", &d);
    let spec = &out["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    assert_eq!(spec["template"]["spec"]["restartPolicy"], "Always");
    assert_eq!(
        spec["template"]["spec"]["containers"][0]["ports"][0]["protocol"],
        "TCP"
    );
    assert_valid("Deployment", &out);

    let recreate = with(&deployment(), "/spec/strategy", json!({"type": "Recreate"}));
    let out = defaulted("Deployment", &recreate);
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    assert_valid("Deployment", &out);

    let zero = with(&deployment(), "/spec/replicas", json!(0));
    let partial = with(
        &zero,
        "/spec/strategy",
        json!({"rollingUpdate": {"maxSurge": 3}}),
    );
    let out = defaulted("Deployment", &partial);
    assert_eq!(out["spec"]["replicas"], 0);
    assert_eq!(
        out["spec"]["strategy"]["rollingUpdate"],
        json!({"maxSurge": 3, "maxUnavailable": "25%"})
    );
}

#[test]
fn replica_set_defaults() {
    let out = defaulted(
        "ReplicaSet",
        &without(&workload("ReplicaSet"), "/spec/replicas"),
    );
    assert_eq!(out["spec"]["replicas"], 1);
    assert_eq!(out["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
    assert!(out["spec"].get("strategy").is_none());
    assert_valid("ReplicaSet", &out);
}

#[test]
fn endpoint_slice_port_protocol_defaults_to_tcp() {
    let slice = json!({"metadata": meta("s"), "addressType": "IPv4", "ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]});
    let out = defaulted("EndpointSlice", &slice);
    assert_eq!(out["ports"][0]["protocol"], "TCP");
    assert_eq!(out["ports"][1]["protocol"], "UDP");
}

#[test]
fn other_kinds_and_wrong_types_are_left_alone() {
    for (kind, obj) in [
        (
            "ConfigMap",
            json!({"metadata": meta("c"), "data": {"a": "b"}}),
        ),
        ("Node", json!({"metadata": {"name": "n"}})),
        ("Namespace", json!({"metadata": {"name": "n"}})),
        ("Pod", json!({"metadata": meta("p"), "spec": 5})),
        (
            "Service",
            json!({"spec": {"ports": "80"}, "metadata": meta("s")}),
        ),
        (
            "Deployment",
            json!({"spec": {"strategy": [], "template": "t"}}),
        ),
        ("Widget", json!({"spec": {}})),
        ("Pod", json!([1, 2])),
    ] {
        let out = defaulted(kind, &obj);
        if kind == "Service" {
            assert_eq!(out["spec"]["ports"], "80");
        } else if kind == "Deployment" {
            assert_eq!(out["spec"]["strategy"], json!([]));
            assert_eq!(out["spec"]["template"], "t");
        } else {
            assert_eq!(out, obj, "{kind}");
        }
    }
}
