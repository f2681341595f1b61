//! Pod spec rules: containers, names, ports, protocol, restart policy,
//! resources and env.

use serde_json::{json, Value};

use super::*;
use CauseReason::*;

fn with_port(port: Value) -> Value {
    with(&pod(), "/spec/containers/0/ports/0", port)
}

#[test]
fn containers_are_required() {
    assert_valid("Pod", &pod());
    assert_cause(
        "Pod",
        &without(&pod(), "/spec/containers"),
        "spec.containers",
        FieldValueRequired,
    );
    assert_cause(
        "Pod",
        &with(&pod(), "/spec/containers", json!([])),
        "spec.containers",
        FieldValueRequired,
    );
    assert_cause(
        "Pod",
        &without(&pod(), "/spec"),
        "spec.containers",
        FieldValueRequired,
    );
    assert_cause(
        "Pod",
        &with(&pod(), "/spec/containers", json!({})),
        "spec.containers",
        FieldValueInvalid,
    );
    assert_cause(
        "Pod",
        &with(&pod(), "/spec/containers/0", json!("web")),
        "spec.containers[0]",
        FieldValueInvalid,
    );
}

#[test]
fn container_names_are_required_labels() {
    let missing = without(&pod(), "/spec/containers/0/name");
    assert_cause(
        "Pod",
        &missing,
        "spec.containers[0].name",
        FieldValueRequired,
    );
    for bad in ["Web", "web.1", "web_1", &"a".repeat(64)] {
        let obj = with(&pod(), "/spec/containers/0/name", json!(bad));
        assert_cause("Pod", &obj, "spec.containers[0].name", FieldValueInvalid);
    }
    assert_valid(
        "Pod",
        &with(&pod(), "/spec/containers/0/name", json!("web-2")),
    );
}

#[test]
fn container_names_are_unique_across_init_and_regular_containers() {
    let two = with(&pod(), "/spec/containers/1", container("sidecar"));
    assert_valid("Pod", &two);
    let dup = with(&pod(), "/spec/containers/1", container("web"));
    assert_cause("Pod", &dup, "spec.containers[1].name", FieldValueDuplicate);
    let init = with(&pod(), "/spec/initContainers", json!([container("init")]));
    assert_valid("Pod", &init);
    let init_dup = with(&pod(), "/spec/initContainers", json!([container("web")]));
    assert_cause(
        "Pod",
        &init_dup,
        "spec.containers[0].name",
        FieldValueDuplicate,
    );
    let init_bad = with(&pod(), "/spec/initContainers", json!([{"name": "Init"}]));
    assert_cause(
        "Pod",
        &init_bad,
        "spec.initContainers[0].name",
        FieldValueInvalid,
    );
}

#[test]
fn container_ports_are_in_range() {
    for good in [1, 80, 65535] {
        assert_valid("Pod", &with_port(json!({"containerPort": good})));
    }
    for bad in [0, -1, 65536] {
        let obj = with_port(json!({"containerPort": bad}));
        assert_cause(
            "Pod",
            &obj,
            "spec.containers[0].ports[0].containerPort",
            FieldValueInvalid,
        );
    }
    let missing = with_port(json!({"name": "http"}));
    assert_cause(
        "Pod",
        &missing,
        "spec.containers[0].ports[0].containerPort",
        FieldValueRequired,
    );
    let float = with_port(json!({"containerPort": 80.5}));
    assert_cause(
        "Pod",
        &float,
        "spec.containers[0].ports[0].containerPort",
        FieldValueInvalid,
    );
}

#[test]
fn host_ports_are_in_range() {
    for good in [0, 8080, 65535] {
        assert_valid(
            "Pod",
            &with_port(json!({"containerPort": 80, "hostPort": good})),
        );
    }
    for bad in [-1, 65536] {
        let obj = with_port(json!({"containerPort": 80, "hostPort": bad}));
        assert_cause(
            "Pod",
            &obj,
            "spec.containers[0].ports[0].hostPort",
            FieldValueInvalid,
        );
    }
}

#[test]
fn container_port_names_are_iana_service_names() {
    for good in ["http", "h2c", "web-metrics", "a23456789012345"] {
        assert_valid(
            "Pod",
            &with_port(json!({"containerPort": 80, "name": good})),
        );
    }
    for bad in [
        "a234567890123456",
        "HTTP",
        "123",
        "-http",
        "http-",
        "ht--tp",
        "ht_tp",
    ] {
        let obj = with_port(json!({"containerPort": 80, "name": bad}));
        assert_cause(
            "Pod",
            &obj,
            "spec.containers[0].ports[0].name",
            FieldValueInvalid,
        );
    }
}

#[test]
fn container_port_names_are_unique_within_a_container() {
    let dup = with(
        &pod(),
        "/spec/containers/0/ports/1",
        json!({"containerPort": 81, "name": "http"}),
    );
    assert_cause(
        "Pod",
        &dup,
        "spec.containers[0].ports[1].name",
        FieldValueDuplicate,
    );
    let other = with(
        &pod(),
        "/spec/containers/0/ports/1",
        json!({"containerPort": 81, "name": "admin"}),
    );
    assert_valid("Pod", &other);
    let mut sidecar = container("sidecar");
    sidecar["ports"][0]["containerPort"] = json!(81);
    assert_valid("Pod", &with(&pod(), "/spec/containers/1", sidecar));
}

#[test]
fn protocols_are_tcp_udp_or_sctp() {
    for good in ["TCP", "UDP", "SCTP"] {
        assert_valid(
            "Pod",
            &with_port(json!({"containerPort": 53, "protocol": good})),
        );
    }
    for bad in ["tcp", "HTTP", ""] {
        let obj = with_port(json!({"containerPort": 53, "protocol": bad}));
        assert_cause(
            "Pod",
            &obj,
            "spec.containers[0].ports[0].protocol",
            FieldValueNotSupported,
        );
    }
}

#[test]
fn restart_policy_is_supported() {
    for good in ["Always", "OnFailure", "Never"] {
        assert_valid("Pod", &with(&pod(), "/spec/restartPolicy", json!(good)));
    }
    let bad = with(&pod(), "/spec/restartPolicy", json!("Sometimes"));
    let cause = assert_cause("Pod", &bad, "spec.restartPolicy", FieldValueNotSupported);
    assert!(cause.message.contains("\"OnFailure\""), "{}", cause.message);
}

#[test]
fn resource_quantities_parse() {
    let res = |q: Value| {
        with(
            &pod(),
            "/spec/containers/0/resources",
            json!({"limits": {"cpu": q}}),
        )
    };
    for good in [
        json!("500m"),
        json!("1.5"),
        json!("2Gi"),
        json!("1e3"),
        json!(2),
        json!(0.5),
    ] {
        assert_valid("Pod", &res(good));
    }
    for bad in [
        json!("1 GB"),
        json!("lots"),
        json!("1K"),
        json!("-1"),
        json!(-2),
        json!(true),
    ] {
        assert_cause(
            "Pod",
            &res(bad),
            "spec.containers[0].resources.limits[cpu]",
            FieldValueInvalid,
        );
    }
    let req = with(
        &pod(),
        "/spec/containers/0/resources",
        json!({"requests": {"memory": "64XB"}}),
    );
    assert_cause(
        "Pod",
        &req,
        "spec.containers[0].resources.requests[memory]",
        FieldValueInvalid,
    );
}

#[test]
fn env_names_are_required() {
    let env = |e: Value| with(&pod(), "/spec/containers/0/env", e);
    assert_valid(
        "Pod",
        &env(json!([{"name": "HOME", "value": "/root"}, {"name": "my.var-1"}])),
    );
    assert_cause(
        "Pod",
        &env(json!([{"value": "x"}])),
        "spec.containers[0].env[0].name",
        FieldValueRequired,
    );
    assert_cause(
        "Pod",
        &env(json!([{"name": ""}])),
        "spec.containers[0].env[0].name",
        FieldValueRequired,
    );
    assert_cause(
        "Pod",
        &env(json!([{"name": "A=B"}])),
        "spec.containers[0].env[0].name",
        FieldValueInvalid,
    );
}

#[test]
fn every_cause_is_reported() {
    let obj = json!({
        "metadata": {"name": "Bad_Name", "namespace": "default"},
        "spec": {
            "restartPolicy": "Sometimes",
            "containers": [
                {"name": "web", "ports": [{"containerPort": 0, "protocol": "HTTP"}]},
                {"name": "web", "env": [{}]}
            ]
        }
    });
    let fields: Vec<String> = check("Pod", &obj).into_iter().map(|c| c.field).collect();
    for field in [
        "metadata.name",
        "spec.restartPolicy",
        "spec.containers[0].ports[0].containerPort",
        "spec.containers[0].ports[0].protocol",
        "spec.containers[1].name",
        "spec.containers[1].env[0].name",
    ] {
        assert!(
            fields.iter().any(|f| f == field),
            "{field} missing from {fields:?}"
        );
    }
}

#[test]
fn a_wrong_typed_spec_is_one_cause() {
    for (kind, obj) in [
        ("Pod", with(&pod(), "/spec", json!(5))),
        ("Service", with(&service(), "/spec", json!("x"))),
        ("Deployment", with(&deployment(), "/spec", json!([]))),
        ("Lease", json!({"metadata": meta("l"), "spec": true})),
    ] {
        let causes = check(kind, &obj);
        assert_eq!(causes.len(), 1, "{kind}: {causes:?}");
        assert_eq!(
            (causes[0].field.as_str(), causes[0].reason),
            ("spec", FieldValueInvalid)
        );
    }
    let template = with(&deployment(), "/spec/template", json!(1));
    let causes = check("Deployment", &template);
    assert_eq!(causes.len(), 1, "{causes:?}");
    assert_eq!(causes[0].field, "spec.template");
}
