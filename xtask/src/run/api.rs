//! Talking to the cluster: `orchctl --kubeconfig <admin.kubeconfig>` with a
//! time limit on every call, and the few fields of its JSON output that the
//! run reads (node readiness, pods, Services, EndpointSlices).
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::procs::run_bounded;

/// Time limit of one orchctl call.
const CALL_LIMIT: Duration = Duration::from_secs(15);

/// An orchctl bound to one kubeconfig.
#[derive(Debug, Clone)]
pub struct Api {
    orchctl: PathBuf,
    kubeconfig: PathBuf,
}

/// A pod as the run shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub node: String,
    pub ip: String,
    pub netns: String,
    pub phase: String,
    pub ready: bool,
}

impl Api {
    pub fn new(orchctl: &Path, kubeconfig: &Path) -> Self {
        Self {
            orchctl: orchctl.to_path_buf(),
            kubeconfig: kubeconfig.to_path_buf(),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.orchctl);
        c.arg("--kubeconfig").arg(&self.kubeconfig);
        c
    }

    /// `orchctl get <args> -o json`, parsed.
    pub fn get(&self, args: &[&str]) -> Result<Value> {
        let (status, out, err) = run_bounded(
            self.cmd().arg("get").args(args).args(["-o", "json"]),
            CALL_LIMIT,
        )?;
        if !status.success() {
            bail!("orchctl get {}: {}", args.join(" "), err.trim());
        }
        serde_json::from_str(&out).with_context(|| format!("orchctl get {}", args.join(" ")))
    }

    /// The `items` of a list.
    pub fn list(&self, args: &[&str]) -> Result<Vec<Value>> {
        Ok(self.get(args)?["items"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// `orchctl apply -f FILE`; returns what it printed.
    pub fn apply(&self, file: &Path) -> Result<String> {
        let (status, out, err) =
            run_bounded(self.cmd().arg("apply").arg("-f").arg(file), CALL_LIMIT)?;
        if !status.success() {
            bail!("orchctl apply -f {}: {}{}", file.display(), out, err.trim());
        }
        Ok(out)
    }

    /// Names of nodes whose Ready condition is True, and of those that are not.
    pub fn nodes_ready(&self) -> Result<(Vec<String>, Vec<String>)> {
        let (mut ready, mut not) = (Vec::new(), Vec::new());
        for n in self.list(&["nodes"])? {
            let name = str_at(&n, "/metadata/name");
            if condition_true(&n, "Ready") {
                ready.push(name);
            } else {
                not.push(name);
            }
        }
        Ok((ready, not))
    }

    /// Pods in `namespace` (all namespaces when `None`) matching `selector`.
    pub fn pods(&self, namespace: Option<&str>, selector: Option<&str>) -> Result<Vec<PodView>> {
        let mut args = vec!["pods"];
        match namespace {
            Some(ns) => args.extend(["-n", ns]),
            None => args.push("-A"),
        }
        if let Some(s) = selector {
            args.extend(["-l", s]);
        }
        Ok(self.list(&args)?.iter().map(pod_view).collect())
    }

    /// A Service's ClusterIP, if the Service exists.
    pub fn service_ip(&self, namespace: &str, name: &str) -> Result<Option<String>> {
        let svc = self
            .list(&["services", "-n", namespace])?
            .into_iter()
            .find(|s| s["metadata"]["name"] == name);
        Ok(svc.map(|s| str_at(&s, "/spec/clusterIP")))
    }

    /// Ready endpoint addresses of a Service (from its EndpointSlices).
    pub fn ready_endpoints(&self, namespace: &str, service: &str) -> Result<Vec<String>> {
        let selector = format!("kubernetes.io/service-name={service}");
        let mut out = Vec::new();
        for slice in self.list(&["endpointslices", "-n", namespace, "-l", &selector])? {
            for ep in slice["endpoints"].as_array().into_iter().flatten() {
                if ep["conditions"]["ready"] != Value::Bool(false) {
                    out.extend(
                        ep["addresses"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|a| a.as_str().map(str::to_string)),
                    );
                }
            }
        }
        Ok(out)
    }
}

fn str_at(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn condition_true(obj: &Value, kind: &str) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == kind && c["status"] == "True")
}

fn pod_view(p: &Value) -> PodView {
    PodView {
        uid: str_at(p, "/metadata/uid"),
        namespace: str_at(p, "/metadata/namespace"),
        name: str_at(p, "/metadata/name"),
        node: str_at(p, "/spec/nodeName"),
        ip: str_at(p, "/status/podIP"),
        netns: str_at(p, "/metadata/annotations/orch.io~1netns"),
        phase: str_at(p, "/status/phase"),
        ready: condition_true(p, "Ready"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pod_fields() {
        let p: Value = serde_json::json!({
            "metadata": {"namespace": "default", "name": "web-1", "uid": "u-1",
                         "annotations": {"orch.io/netns": "orch-default-web-1-abcd"}},
            "spec": {"nodeName": "node-2"},
            "status": {"phase": "Running", "podIP": "10.244.2.3",
                       "conditions": [{"type": "Ready", "status": "True"}]}
        });
        assert_eq!(
            pod_view(&p),
            PodView {
                uid: "u-1".into(),
                namespace: "default".into(),
                name: "web-1".into(),
                node: "node-2".into(),
                ip: "10.244.2.3".into(),
                netns: "orch-default-web-1-abcd".into(),
                phase: "Running".into(),
                ready: true,
            }
        );
        assert!(!condition_true(&p, "PodScheduled"));
    }
}
