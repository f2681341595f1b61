//! Pod startup as a user sees it: pods bound to the node (`nodeName` set,
//! so the scheduler is not in the path) are created one at a time at a
//! steady pace, and a watch records when each is first seen Ready. The
//! latency of a pod runs from just before its create request to that
//! moment.
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::{
    api::PostParams,
    runtime::{watcher, WatchStreamExt},
    Api,
};
use serde_json::json;

/// Label of the benchmark's pods.
const LABEL: &str = "orch-bench=pods";

/// What the startup phase measured.
#[derive(Debug, Clone)]
pub struct Startup {
    /// Pods created.
    pub created: usize,
    /// Create→Ready latencies of the pods seen Ready, sorted.
    pub latencies: Vec<Duration>,
    /// The time cap ended the wait before every pod was Ready.
    pub capped: bool,
}

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// A pod named `name` bound to `node`, running `sleep`.
pub fn pod(name: &str, node: &str) -> Result<Pod> {
    let (k, v) = LABEL.split_once('=').unwrap_or((LABEL, ""));
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {k: v}},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": "host", "command": ["sleep", "3600"]}],
        },
    }))
    .context("building the pod")
}

/// Creates `count` pods named `<prefix>NNN` `interval` apart in `default`
/// and waits (at most `cap` after the last create) until all are Ready.
pub async fn run(
    client: kube::Client,
    node: &str,
    prefix: &str,
    count: usize,
    interval: Duration,
    cap: Duration,
) -> Result<Startup> {
    let api: Api<Pod> = Api::namespaced(client, "default");
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let (synced_tx, synced) = tokio::sync::oneshot::channel();
    let watch = {
        let (api, seen) = (api.clone(), seen.clone());
        tokio::spawn(async move {
            let mut synced_tx = Some(synced_tx);
            let cfg = watcher::Config::default().labels(LABEL);
            let mut events = watcher(api, cfg).default_backoff().boxed();
            while let Some(ev) = events.next().await {
                let p = match ev {
                    Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => p,
                    Ok(watcher::Event::InitDone) => {
                        if let Some(tx) = synced_tx.take() {
                            let _ = tx.send(());
                        }
                        continue;
                    }
                    _ => continue,
                };
                if ready(&p) {
                    let now = Instant::now();
                    let name = p.metadata.name.unwrap_or_default();
                    seen.lock().expect("ready times").entry(name).or_insert(now);
                }
            }
        })
    };
    synced.await.context("the pod watch ended before listing")?;
    let mut created: HashMap<String, Instant> = HashMap::new();
    let start = Instant::now();
    for i in 0..count {
        let name = format!("{prefix}{i:03}");
        let at = Instant::now();
        api.create(&PostParams::default(), &pod(&name, node)?)
            .await
            .with_context(|| format!("creating pod {name}"))?;
        created.insert(name, at);
        tokio::time::sleep_until((start + interval * (i as u32 + 1)).into()).await;
    }
    let deadline = Instant::now() + cap;
    let capped = loop {
        let n = seen
            .lock()
            .expect("ready times")
            .keys()
            .filter(|k| created.contains_key(*k))
            .count();
        if n == created.len() {
            break false;
        }
        if Instant::now() > deadline {
            break true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    watch.abort();
    let seen = seen.lock().expect("ready times");
    let mut latencies: Vec<Duration> = created
        .iter()
        .filter_map(|(name, at)| Some(seen.get(name)?.saturating_duration_since(*at)))
        .collect();
    latencies.sort();
    Ok(Startup {
        created: created.len(),
        latencies,
        capped,
    })
}
