//! Running the pods bound to this node: one worker per pod, fed by a watch
//! on `spec.nodeName=<node>`. After the first full listing, sandboxes of
//! pods that no longer exist are removed (restart safety).
pub mod backoff;
pub mod container;
pub mod env;
pub mod probe;
pub mod prober;
pub mod shared;
pub mod status;
pub mod worker;

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::{
    api::Api,
    runtime::{watcher, WatchStreamExt},
};
use tokio::sync::watch;

use super::AgentError;
pub use shared::Shared;

fn uid(p: &Pod) -> Option<String> {
    p.metadata.uid.clone()
}

/// Watches this node's pods and runs a worker for each, forever.
pub async fn run(shared: Arc<Shared>) -> Result<(), AgentError> {
    let api: Api<Pod> = Api::all(shared.client.clone());
    let cfg = watcher::Config::default().fields(&format!("spec.nodeName={}", shared.node));
    let mut stream = watcher(api, cfg).default_backoff().boxed();
    let mut workers: HashMap<String, watch::Sender<Option<Pod>>> = HashMap::new();
    let mut listing: Option<HashSet<String>> = None;
    while let Some(ev) = stream.try_next().await? {
        workers.retain(|_, tx| !tx.is_closed());
        match ev {
            watcher::Event::Init => listing = Some(HashSet::new()),
            watcher::Event::InitApply(p) | watcher::Event::Apply(p) => {
                let Some(id) = uid(&p) else { continue };
                if let Some(l) = listing.as_mut() {
                    l.insert(id.clone());
                }
                match workers.get(&id) {
                    Some(tx) => {
                        tx.send_replace(Some(p));
                    }
                    None => {
                        tracing::debug!(pod = ?p.metadata.name, "starting the pod's worker");
                        let (tx, rx) = watch::channel(Some(p));
                        tokio::spawn(worker::run(shared.clone(), id.clone(), rx));
                        workers.insert(id, tx);
                    }
                }
            }
            watcher::Event::Delete(p) => {
                if let Some(tx) = uid(&p).and_then(|id| workers.remove(&id)) {
                    tx.send_replace(None);
                }
            }
            watcher::Event::InitDone => {
                let seen = listing.take().unwrap_or_default();
                workers.retain(|id, tx| {
                    let keep = seen.contains(id);
                    if !keep {
                        tx.send_replace(None);
                    }
                    keep
                });
                reap(&shared, &seen).await;
            }
        }
    }
    Ok(())
}

/// Removes the sandboxes of pods that are gone.
async fn reap(shared: &Shared, live: &HashSet<String>) {
    let root = shared::pods_root(&shared.data_dir);
    let Ok(dirs) = std::fs::read_dir(&root) else {
        return;
    };
    for d in dirs.filter_map(Result::ok) {
        let Ok(id) = d.file_name().into_string() else {
            continue;
        };
        if !live.contains(&id) {
            tracing::info!(pod_uid = %id, "removing the sandbox of a pod that no longer exists");
            worker::teardown_sandbox(shared, &id).await;
        }
    }
    let owners = shared.ipam.lock().await.owners();
    for o in owners {
        if !live.contains(&o) {
            let _ = shared.ipam.lock().await.release(&o);
        }
    }
}
