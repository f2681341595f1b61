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
    /// Pods scoped, by key.
    scoped: std::collections::HashSet<String>,
    /// Pods seen by a list in progress.
    listing: Option<std::collections::HashSet<String>>,
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
    /// A full list of the node's pods begins.
    pub fn begin_list(&mut self) {
        self.listing = Some(std::collections::HashSet::new());
    }

    /// The list ended: pods it did not contain are gone (deleted while the
    /// watch was down).
    pub fn end_list(&mut self, dp: &mut dyn Dataplane) {
        let Some(seen) = self.listing.take() else {
            return;
        };
        let gone: Vec<String> = self
            .scoped
            .iter()
            .chain(self.pending.keys())
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            self.forget(dp, &key);
        }
    }

    /// A pod was added or changed.
    pub fn apply(&mut self, dp: &mut dyn Dataplane, pod: &Pod) {
        let key = pod_key(pod);
        if let Some(seen) = &mut self.listing {
            seen.insert(key.clone());
        }
        match pod_netns(pod) {
            Some(path) => self.scope(dp, key, path),
            None => self.forget(dp, &key),
        }
    }

    /// A pod is gone.
    pub fn delete(&mut self, dp: &mut dyn Dataplane, pod: &Pod) {
        self.forget(dp, &pod_key(pod));
    }

    fn forget(&mut self, dp: &mut dyn Dataplane, key: &str) {
        self.pending.remove(key);
        self.scoped.remove(key);
        if let Err(e) = dp.unscope(key) {
            tracing::warn!(pod = %key, error = %e, "removing a pod netns from the proxy scope");
        }
    }

    fn scope(&mut self, dp: &mut dyn Dataplane, key: String, path: PathBuf) {
        match dp.scope(&key, &path) {
            Ok(()) => {
                self.pending.remove(&key);
                self.scoped.insert(key);
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{
        dataplane::Mode,
        model::{Change, ServicePort},
        ProxyError,
    };

    /// Records scope calls; programs nothing.
    #[derive(Default)]
    struct Recorder {
        scoped: std::collections::BTreeSet<String>,
    }

    impl Dataplane for Recorder {
        fn mode(&self) -> Mode {
            Mode::Ebpf
        }
        fn apply(&mut self, _: &[Change]) -> Result<(), ProxyError> {
            Ok(())
        }
        fn resync(&mut self, _: &[ServicePort]) -> Result<(), ProxyError> {
            Ok(())
        }
        fn dump(&mut self) -> Result<Vec<ServicePort>, ProxyError> {
            Ok(Vec::new())
        }
        fn scope(&mut self, key: &str, _: &Path) -> Result<(), ProxyError> {
            self.scoped.insert(key.to_string());
            Ok(())
        }
        fn unscope(&mut self, key: &str) -> Result<(), ProxyError> {
            self.scoped.remove(key);
            Ok(())
        }
        fn cleanup(self: Box<Self>) -> Result<(), ProxyError> {
            Ok(())
        }
    }

    fn pod(uid: &str, netns: Option<&str>, phase: &str) -> Pod {
        let mut annotations = serde_json::Map::new();
        if let Some(n) = netns {
            annotations.insert(NETNS_ANNOTATION.into(), json!(n));
        }
        serde_json::from_value(json!({
            "metadata": {"name": uid, "namespace": "default", "uid": uid, "annotations": annotations},
            "status": {"phase": phase},
        }))
        .unwrap()
    }

    #[test]
    fn running_pods_with_a_netns_are_scoped_and_finished_ones_are_not() {
        let mut dp = Recorder::default();
        let mut s = Scope::default();
        s.apply(&mut dp, &pod("a", Some("orch-default-a-1"), "Running"));
        s.apply(&mut dp, &pod("b", None, "Pending"));
        s.apply(&mut dp, &pod("c", Some("../escape"), "Running"));
        assert_eq!(dp.scoped.iter().collect::<Vec<_>>(), ["a"]);
        s.apply(&mut dp, &pod("a", Some("orch-default-a-1"), "Succeeded"));
        assert!(dp.scoped.is_empty());
    }

    #[test]
    fn a_relist_forgets_pods_deleted_while_the_watch_was_down() {
        let mut dp = Recorder::default();
        let mut s = Scope::default();
        s.begin_list();
        s.apply(&mut dp, &pod("a", Some("ns-a"), "Running"));
        s.apply(&mut dp, &pod("b", Some("ns-b"), "Running"));
        s.end_list(&mut dp);
        assert_eq!(dp.scoped.len(), 2);
        s.begin_list();
        s.apply(&mut dp, &pod("b", Some("ns-b"), "Running"));
        s.end_list(&mut dp);
        assert_eq!(dp.scoped.iter().collect::<Vec<_>>(), ["b"]);
    }
}
