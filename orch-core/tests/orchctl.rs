//! orchctl against a real `orch server`: apply output, tables, errors.
mod support;

use support::TestServer;

fn orchctl(s: &TestServer, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    support::run_cli(&support::orchctl(), &s.kubeconfig(), args, stdin)
}

const MANIFEST: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: x, command: [sleep, "100"]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"#;

#[test]
fn apply_get_scale_delete_and_errors() {
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let (ok, out, err) = orchctl(&s, &["apply", "-f", "-"], Some(MANIFEST));
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "namespace/shop created\ndeployment.apps/web created\nservice/web created\n"
    );
    let (ok, out, _) = orchctl(&s, &["apply", "-f", "-"], Some(MANIFEST));
    assert!(ok);
    assert_eq!(
        out,
        "namespace/shop unchanged\ndeployment.apps/web unchanged\nservice/web unchanged\n"
    );
    let (ok, out, _) = orchctl(
        &s,
        &["apply", "-f", "-"],
        Some(&MANIFEST.replace("replicas: 3", "replicas: 4")),
    );
    assert!(ok);
    assert!(out.contains("deployment.apps/web configured"), "{out}");

    let (ok, out, err) = orchctl(&s, &["get", "svc", "-n", "shop"], None);
    assert!(ok, "{err}");
    let header = out.lines().next().unwrap();
    assert!(
        header.starts_with("NAME") && header.contains("CLUSTER-IP") && header.contains("PORT(S)"),
        "{out}"
    );
    assert!(out.contains("80/TCP"), "{out}");
    let (ok, out, _) = orchctl(&s, &["get", "deploy", "-A"], None);
    assert!(ok);
    assert!(out.starts_with("NAMESPACE"), "{out}");
    let (ok, out, _) = orchctl(&s, &["get", "deploy/web", "-n", "shop", "-o", "yaml"], None);
    assert!(ok);
    assert!(out.contains("replicas: 4"), "{out}");

    let (ok, out, err) = orchctl(
        &s,
        &["scale", "deploy/web", "-n", "shop", "--replicas", "1"],
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(out, "deployment.apps/web scaled\n");
    let (_, out, _) = orchctl(&s, &["get", "deploy/web", "-n", "shop", "-o", "json"], None);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["spec"]["replicas"], 1);

    let bad = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad}\nspec:\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: b}}\n    spec: {containers: [{name: c, image: x}]}\n";
    let (ok, _, err) = orchctl(&s, &["apply", "-f", "-"], Some(bad));
    assert!(!ok);
    assert!(
        err.contains("Invalid") && err.contains("spec.template.metadata.labels"),
        "{err}"
    );

    let (ok, _, err) = orchctl(&s, &["get", "widgets"], None);
    assert!(!ok && err.contains("widgets"), "{err}");

    let (ok, out, err) = orchctl(&s, &["delete", "svc", "web", "-n", "shop"], None);
    assert!(ok, "{err}");
    assert_eq!(out, "service \"web\" deleted\n");
    let (ok, _, err) = orchctl(&s, &["get", "svc", "web", "-n", "shop"], None);
    assert!(!ok && err.contains("NotFound"), "{err}");
}
