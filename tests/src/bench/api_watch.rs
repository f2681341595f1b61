//! Watch delivery latency: `watchers` kube-rs watches (one connection
//! each) on ConfigMaps in one namespace, then one client creates `events`
//! ConfigMaps at a fixed rate; every watcher timestamps every ADDED event.
//! Latency is measured from the create call returning (and, for reference,
//! from the create call being sent) to each watcher receiving the event.
use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    api::{ListParams, ObjectMeta, PostParams, WatchEvent, WatchParams},
    Api,
};

use super::orch::OrchServer;

/// How the watch phase ran.
#[derive(Debug, Clone)]
pub struct WatchOutcome {
    /// Watchers opened.
    pub watchers: usize,
    /// Objects created.
    pub created: usize,
    /// Events received, over all watchers.
    pub delivered: usize,
    /// Events expected but not received in time.
    pub missing: usize,
    /// Deliveries that arrived before the create call returned.
    pub before_return: usize,
    /// From the create call returning to the delivery, sorted (an event
    /// that beat the response counts as zero).
    pub from_return: Vec<Duration>,
    /// From the create call being sent to the delivery, sorted.
    pub from_send: Vec<Duration>,
    /// From the first watcher receiving an event to each watcher receiving
    /// it (the fan-out alone), sorted.
    pub spread: Vec<Duration>,
    /// Latency of the create calls themselves, sorted.
    pub create_latency: Vec<Duration>,
}

/// Parses the index out of `w-00042`.
fn index_of(cm: &ConfigMap) -> Option<usize> {
    cm.metadata
        .name
        .as_deref()?
        .strip_prefix("w-")?
        .parse()
        .ok()
}

/// Runs the watch phase in namespace `ns` (which must exist and be empty).
pub async fn run(
    server: &OrchServer,
    ns: &str,
    watchers: usize,
    events: usize,
    per_sec: u32,
) -> Result<WatchOutcome> {
    let lister: Api<ConfigMap> = Api::namespaced(server.client()?, ns);
    let rv = lister
        .list_metadata(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .context("list without resourceVersion")?;
    // Time for all events at the given rate, plus slack; watches end then.
    let phase = Duration::from_secs_f64(events as f64 / f64::from(per_sec.max(1))) * 2
        + Duration::from_secs(20);
    let deadline = tokio::time::Instant::now() + phase;
    let mut tasks = Vec::with_capacity(watchers);
    for _ in 0..watchers {
        let api: Api<ConfigMap> = Api::namespaced(server.client()?, ns);
        let wp = WatchParams::default().timeout(phase.as_secs().min(280) as u32);
        let stream = api.watch(&wp, &rv).await.context("opening a watch")?;
        tasks.push(tokio::spawn(async move {
            let mut seen: Vec<(usize, Instant)> = Vec::with_capacity(events);
            let mut stream = Box::pin(stream);
            while seen.len() < events {
                let next = tokio::time::timeout_at(deadline, stream.next()).await;
                match next {
                    Ok(Some(Ok(WatchEvent::Added(cm)))) => {
                        if let Some(i) = index_of(&cm) {
                            seen.push((i, Instant::now()));
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                    Ok(Some(Err(_)) | None) | Err(_) => break,
                }
            }
            seen
        }));
    }
    // Let every server-side watch subscribe before the first create.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let creator: Api<ConfigMap> = Api::namespaced(server.client()?, ns);
    let mut times: Vec<Option<(Instant, Instant)>> = vec![None; events];
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(per_sec.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for (i, slot) in times.iter_mut().enumerate() {
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tick.tick().await;
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(format!("w-{i:05}")),
                ..Default::default()
            },
            data: Some(BTreeMap::from([("k".to_string(), "v".repeat(64))])),
            ..Default::default()
        };
        let sent = Instant::now();
        creator.create(&PostParams::default(), &cm).await?;
        *slot = Some((sent, Instant::now()));
    }
    let created = times.iter().filter(|t| t.is_some()).count();

    let mut out = WatchOutcome {
        watchers,
        created,
        delivered: 0,
        missing: 0,
        before_return: 0,
        from_return: Vec::new(),
        from_send: Vec::new(),
        spread: Vec::new(),
        create_latency: times.iter().flatten().map(|(s, r)| *r - *s).collect(),
    };
    let mut all = Vec::with_capacity(watchers);
    for t in tasks {
        all.push(t.await.unwrap_or_default());
    }
    let mut first: Vec<Option<Instant>> = vec![None; events];
    for (i, at) in all.iter().flatten() {
        if let Some(f) = first.get_mut(*i) {
            *f = Some(f.map_or(*at, |f| f.min(*at)));
        }
    }
    for seen in all {
        out.delivered += seen.len();
        for (i, at) in seen {
            if let Some(Some(f)) = first.get(i) {
                out.spread.push(at.saturating_duration_since(*f));
            }
            let Some(Some((sent, returned))) = times.get(i) else {
                continue;
            };
            if at < *returned {
                out.before_return += 1;
            }
            out.from_return
                .push(at.saturating_duration_since(*returned));
            out.from_send.push(at.saturating_duration_since(*sent));
        }
    }
    out.missing = (watchers * created).saturating_sub(out.delivered);
    out.from_return.sort_unstable();
    out.from_send.sort_unstable();
    out.spread.sort_unstable();
    out.create_latency.sort_unstable();
    Ok(out)
}
