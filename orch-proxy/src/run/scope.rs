//! Which network namespaces belong to this node: its own, and the netns of
//! every running pod bound to it (named by the pod's `orch.io/netns`
//! annotation, under `/run/netns`). eBPF mode balances sockets only there.
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use k8s_openapi::api::core::v1::Pod;

use crate::dataplane::Dataplane;

/// Annotation carrying a running pod's netns name.
pub const NETNS_ANNOTATION: &str = "orch.io/netns";
/// Where named network namespaces are bound.
pub const NETNS_DIR: &str = "/run/netns";
/// Scope key of the node's own namespace.
pub const NODE_KEY: &str = "node";

/// Pods waiting for their netns (the agent may annotate before it exists).
#[derive(Debug, Default)]
pub struct Scope {
    pending: HashMap<String, PathBuf>,
}

/// The netns path of a pod that should be scoped, if any.
fn pod_netns(pod: &Pod) -> Option<PathBuf> {
    // A terminating pod still runs: it stays balanced until it is gone.
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) {
        return None;
    }
    let name = pod.metadata.annotations.as_ref()?.get(NETNS_ANNOTATION)?;
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return None;
    }
    Some(Path::new(NETNS_DIR).join(name))
}

fn pod_key(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_else(|| {
        format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or(""),
            pod.metadata.name.as_deref().unwrap_or("")
        )
    })
}

impl Scope {
    /// A pod was added or changed.
    pub fn apply(&mut self, dp: &mut dyn Dataplane, pod: &Pod) {
        let key = pod_key(pod);
        match pod_netns(pod) {
            Some(path) => self.scope(dp, key, path),
            None => self.delete(dp, pod),
        }
    }

    /// A pod is gone.
    pub fn delete(&mut self, dp: &mut dyn Dataplane, pod: &Pod) {
        let key = pod_key(pod);
        self.pending.remove(&key);
        if let Err(e) = dp.unscope(&key) {
            tracing::warn!(pod = %key, error = %e, "removing a pod netns from the proxy scope");
        }
    }

    fn scope(&mut self, dp: &mut dyn Dataplane, key: String, path: PathBuf) {
        match dp.scope(&key, &path) {
            Ok(()) => {
                self.pending.remove(&key);
            }
            Err(e) => {
                tracing::debug!(pod = %key, error = %e, "pod netns not ready yet; will retry");
                self.pending.insert(key, path);
            }
        }
    }

    /// Retries pods whose netns was missing; gives up on ones that vanished
    /// for good only when the pod is deleted.
    pub fn retry(&mut self, dp: &mut dyn Dataplane) {
        let pending: Vec<(String, PathBuf)> = self.pending.drain().collect();
        for (key, path) in pending {
            self.scope(dp, key, path);
        }
    }
}
