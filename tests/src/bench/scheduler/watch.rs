//! A watch that counts the pods of a namespace seen bound to a node, and
//! remembers when it saw the first and the last one.
use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Instant,
};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::{
    runtime::{watcher, WatchStreamExt},
    Api,
};
use tokio::sync::oneshot;

/// What the watch has seen so far.
#[derive(Debug, Default)]
pub struct Seen {
    /// Pods seen at all.
    pub pods: HashSet<String>,
    /// Pods seen bound.
    pub bound: HashSet<String>,
    /// When the first pod appeared.
    pub first_pod: Option<Instant>,
    /// When the last new bound pod was seen.
    pub last_bound: Option<Instant>,
}

/// A running counting watch; aborted on drop.
#[derive(Debug)]
pub struct BoundWatch {
    /// Shared counters.
    pub seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BoundWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BoundWatch {
    /// Starts watching pods in `ns` (optionally with a label selector) and
    /// returns once the initial list is done.
    pub async fn start(
        client: kube::Client,
        ns: &str,
        labels: Option<&str>,
    ) -> anyhow::Result<Self> {
        let api: Api<Pod> = Api::namespaced(client, ns);
        let mut cfg = watcher::Config::default();
        if let Some(l) = labels {
            cfg = cfg.labels(l);
        }
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (ready_tx, ready_rx) = oneshot::channel();
        let s = seen.clone();
        let task = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut stream = watcher(api, cfg).default_backoff().boxed();
            while let Some(ev) = stream.next().await {
                let pod = match ev {
                    Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => p,
                    Ok(watcher::Event::InitDone) => {
                        if let Some(tx) = ready.take() {
                            let _ = tx.send(());
                        }
                        continue;
                    }
                    _ => continue,
                };
                let name = pod.metadata.name.clone().unwrap_or_default();
                let bound = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_deref())
                    .is_some_and(|n| !n.is_empty());
                let now = Instant::now();
                let mut g = s.lock().expect("watch counters");
                if g.pods.insert(name.clone()) && g.first_pod.is_none() {
                    g.first_pod = Some(now);
                }
                if bound && g.bound.insert(name) {
                    g.last_bound = Some(now);
                }
            }
        });
        ready_rx
            .await
            .map_err(|_| anyhow::anyhow!("the pod watch ended before listing"))?;
        Ok(Self { seen, task })
    }

    /// (pods seen, pods bound).
    pub fn counts(&self) -> (usize, usize) {
        let g = self.seen.lock().expect("watch counters");
        (g.pods.len(), g.bound.len())
    }
}
