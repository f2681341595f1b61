//! Debian's real kubectl (package kubernetes-client) against `orch server`:
//! create, apply (client-side, strategic merge), get, scale, delete.
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
    let (_, out, _) = run(
        &k,
        &s,
        &[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
        None,
    );
    assert_eq!(out.trim(), "5");

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
