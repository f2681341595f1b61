//! Debian's real kubectl (package kubernetes-client) against `orch server`:
//! create, apply (client-side, strategic merge), get, scale, delete, and
//! kubectl's own schema checks and `explain` from the served OpenAPI document.
mod support;

use std::path::Path;

use support::TestServer;

fn run(
    kubectl: &Path,
    s: &TestServer,
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, String, String) {
    support::run_cli(kubectl, &s.kubeconfig(), args, stdin)
}

/// `kubectl get OBJECT -o jsonpath={PATH}`, trimmed.
fn jsonpath(kubectl: &Path, s: &TestServer, object: &str, path: &str) -> String {
    let (ok, out, err) = run(
        kubectl,
        s,
        &["get", object, "-o", &format!("jsonpath={{{path}}}")],
        None,
    );
    assert!(ok, "{err}");
    out.trim().to_string()
}

const DEPLOY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        command: ["orch", "tools", "echo-server"]
        ports:
        - containerPort: 8080
      - name: sidecar
        image: busybox
        command: ["sleep", "infinity"]
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
"#;

#[test]
fn kubectl_create_apply_get_scale_delete() {
    let Some(k) = support::kubectl() else {
        return;
    };
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);

    let (ok, out, err) = run(&k, &s, &["get", "namespaces"], None);
    assert!(ok, "{err}");
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(out.contains(ns), "{out}");
    }
    assert!(
        out.contains("STATUS") && out.contains("Active"),
        "kubectl printed no table columns: {out}"
    );

    let (ok, out, err) = run(&k, &s, &["apply", "-f", "-"], Some(DEPLOY));
    assert!(ok, "apply failed: {err}");
    assert!(out.contains("deployment.apps/web created"), "{out}");
    assert!(out.contains("service/web created"), "{out}");

    let (ok, out, err) = run(&k, &s, &["apply", "-f", "-"], Some(DEPLOY));
    assert!(ok, "{err}");
    assert!(out.contains("deployment.apps/web unchanged"), "{out}");

    // Change one container's image: strategic merge keeps the other one.
    let changed = DEPLOY.replace("image: nginx", "image: nginx:2");
    let (ok, out, err) = run(&k, &s, &["apply", "-f", "-"], Some(&changed));
    assert!(ok, "{err}");
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let (ok, out, _) = run(&k, &s, &["get", "deployment", "web", "-o", "json"], None);
    assert!(ok);
    let d: serde_json::Value = serde_json::from_str(&out).unwrap();
    let containers = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(
        containers.len(),
        2,
        "strategic merge lost a container: {containers:?}"
    );
    assert_eq!(containers[0]["image"], "nginx:2");
    assert_eq!(d["metadata"]["generation"], 2);

    // Dropping a container from the manifest deletes it: kubectl reads the
    // merge key of `containers` from the OpenAPI document and sends
    // `$patch: delete` (a list it thought atomic would leave it in place).
    let sidecar = "      - name: sidecar\n        image: busybox\n        command: [\"sleep\", \"infinity\"]\n";
    assert!(changed.contains(sidecar));
    let (ok, _, err) = run(
        &k,
        &s,
        &["apply", "-f", "-"],
        Some(&changed.replace(sidecar, "")),
    );
    assert!(ok, "{err}");
    let names = jsonpath(
        &k,
        &s,
        "deployment/web",
        ".spec.template.spec.containers[*].name",
    );
    assert_eq!(names, "web", "the removed container stayed");

    let (ok, out, err) = run(&k, &s, &["get", "svc", "web"], None);
    assert!(ok, "{err}");
    assert!(
        out.contains("CLUSTER-IP") && out.contains("10.96."),
        "{out}"
    );

    let (ok, out, err) = run(
        &k,
        &s,
        &["scale", "deployment", "web", "--replicas=5"],
        None,
    );
    assert!(ok, "{err}");
    assert!(out.contains("scaled"), "{out}");
    assert_eq!(jsonpath(&k, &s, "deployment/web", ".spec.replicas"), "5");

    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: '1'}\n";
    let (ok, out, err) = run(&k, &s, &["create", "-f", "-"], Some(cm));
    assert!(ok, "{err}");
    assert!(out.contains("configmap/settings created"), "{out}");
    let (ok, _, err) = run(&k, &s, &["create", "-f", "-"], Some(cm));
    assert!(!ok && err.contains("AlreadyExists"), "{err}");

    let (ok, out, err) = run(
        &k,
        &s,
        &["delete", "configmap/settings", "service/web"],
        None,
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("configmap \"settings\" deleted") && out.contains("service \"web\" deleted"),
        "{out}"
    );
    let (ok, _, err) = run(&k, &s, &["get", "service", "web"], None);
    assert!(!ok && err.contains("NotFound"), "{err}");

    // Server-side validation errors reach the user with the field.
    let bad =
        "apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec:\n  ports:\n  - port: 99999\n";
    let (ok, _, err) = run(&k, &s, &["apply", "-f", "-"], Some(bad));
    assert!(!ok && err.contains("spec.ports[0].port"), "{err}");
}

/// One valid object of every served kind, with the values kubectl's schema
/// check must take: int-or-string ports and percentages, quantities, times.
const ALL_KINDS: &str = include_str!("kubectl_all_kinds.yaml");

#[test]
fn kubectl_validation_accepts_every_served_kind() {
    let Some(k) = support::kubectl() else {
        return;
    };
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let kinds = [
        "namespace/team",
        "node/spare",
        "configmap/settings",
        "secret/creds",
        "pod/solo",
        "service/solo",
        "endpointslice.discovery.k8s.io/manual-1",
        "deployment.apps/web",
        "replicaset.apps/batch",
        "lease.coordination.k8s.io/lock",
        "event/solo.started",
    ];
    // Validation is on by default; say so anyway.
    let (ok, out, err) = run(
        &k,
        &s,
        &["apply", "--validate=true", "-f", "-"],
        Some(ALL_KINDS),
    );
    assert!(ok, "apply failed: {err}");
    for kind in kinds {
        assert!(out.contains(&format!("{kind} created")), "{kind}: {out}");
    }
    // `create` validates too: the namespaced ones again, in the new namespace.
    let namespaced: Vec<&str> = ALL_KINDS
        .split("---\n")
        .filter(|doc| !doc.contains("kind: Namespace\n") && !doc.contains("kind: Node\n"))
        .collect();
    let (ok, out, err) = run(
        &k,
        &s,
        &["create", "-n", "team", "-f", "-"],
        Some(&namespaced.join("---\n")),
    );
    assert!(ok, "create failed: {err}");
    assert_eq!(out.matches(" created").count(), kinds.len() - 2, "{out}");
}

const TYPO: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: typo}
spec:
  replica: 3
  selector: {matchLabels: {app: typo}}
  template:
    metadata: {labels: {app: typo}}
    spec:
      containers: [{name: web, image: nginx}]
"#;

#[test]
fn kubectl_validation_refuses_unknown_fields_and_wrong_types() {
    let Some(k) = support::kubectl() else {
        return;
    };
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let wrong_type = TYPO.replace("replica: 3", "replicas: \"three\"");
    let bad_container = TYPO
        .replace("replica: 3", "replicas: 3")
        .replace("image: nginx}", "imagee: nginx}");
    let cases = [
        (
            TYPO.to_string(),
            r#"ValidationError(Deployment.spec): unknown field "replica" in io.k8s.api.apps.v1.DeploymentSpec"#,
        ),
        (
            wrong_type,
            r#"ValidationError(Deployment.spec.replicas): invalid type for io.k8s.api.apps.v1.DeploymentSpec.replicas: got "string", expected "integer""#,
        ),
        (
            bad_container,
            r#"ValidationError(Deployment.spec.template.spec.containers[0]): unknown field "imagee" in io.k8s.api.core.v1.Container"#,
        ),
    ];
    for (manifest, message) in &cases {
        for verb in ["apply", "create"] {
            let (ok, out, err) = run(&k, &s, &[verb, "-f", "-"], Some(manifest));
            assert!(!ok, "{verb} accepted {manifest}: {out}");
            assert!(err.contains("error validating data"), "{verb}: {err}");
            assert!(err.contains(message), "{verb}: wanted {message}, got {err}");
        }
        let (ok, _, err) = run(&k, &s, &["get", "deployment", "typo"], None);
        assert!(
            !ok && err.contains("NotFound"),
            "something was created: {err}"
        );
    }
    // A kind inside a List is checked too.
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: inlist}\n  datta: {a: b}\n";
    let (ok, _, err) = run(&k, &s, &["apply", "-f", "-"], Some(list));
    assert!(
        !ok && err.contains(r#"unknown field "datta" in io.k8s.api.core.v1.ConfigMap"#),
        "{err}"
    );
    let (ok, _, err) = run(&k, &s, &["get", "configmap", "inlist"], None);
    assert!(!ok && err.contains("NotFound"), "{err}");
}

#[test]
fn kubectl_explain_reads_the_schema() {
    let Some(k) = support::kubectl() else {
        return;
    };
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let (ok, out, err) = run(&k, &s, &["explain", "deployment.spec"], None);
    assert!(ok, "{err}");
    assert!(
        out.contains("KIND:     Deployment") && out.contains("VERSION:  apps/v1"),
        "{out}"
    );
    assert!(out.contains("replicas\t<integer>"), "{out}");
    assert!(out.contains("template\t<Object> -required-"), "{out}");
    let (ok, out, err) = run(&k, &s, &["explain", "pods.spec.containers.ports"], None);
    assert!(ok, "{err}");
    assert!(out.contains("containerPort\t<integer> -required-"), "{out}");
    let (ok, out, err) = run(&k, &s, &["explain", "svc.spec.ports.targetPort"], None);
    assert!(ok, "{err}");
    assert!(out.contains("FIELD:    targetPort <string>"), "{out}");
}
