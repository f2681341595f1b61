//! The garbage collector: deletes objects whose owners (ownerReferences)
//! are gone, in the background; finishes foreground deletions (dependents
//! first, waiting for those with `blockOwnerDeletion`, then the owner's
//! `foregroundDeletion` finalizer goes) and orphaning deletions (references
//! to the owner removed from its dependents, then its `orphan` finalizer
//! goes). Every served kind takes part, found through discovery.
//!
//! A watcher and reflector per kind keep a cache of everything (pods come
//! from the controllers' shared Pod cache); after each
//! burst of changes (and periodically) one pass, in one tracing span,
//! rebuilds the ownership graph and carries out what it calls for.
mod act;
pub mod delete;
pub mod graph;
#[cfg(test)]
mod graph_tests;
pub mod kinds;

use std::time::Duration;

use futures::{stream, FutureExt, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{
    api::DynamicObject,
    runtime::{
        reflector::{self, store::Writer, Store},
        watcher::watcher,
        WatchStreamExt,
    },
    Client,
};

use super::{feed::PodFeed, slim::CachedPod, ControllerError, ControllerOptions};
use graph::{Graph, Obj};
use kinds::Kind;

/// Changes closer together than this are handled in one pass.
const BATCH: Duration = Duration::from_millis(100);
/// Pass again this soon after a pass that had work (it may need a retry).
const RETRY: Duration = Duration::from_secs(1);
/// Pass at least this often anyway.
const RESYNC: Duration = Duration::from_secs(30);
/// Actions carried out at once.
const CONCURRENCY: usize = 8;

/// Where the graph reads one kind's objects from.
enum Source {
    /// A watch of the garbage collector's own, keeping only metadata.
    Watched(Store<DynamicObject>),
    /// The controllers' shared Pod cache (pods are most of a cluster's
    /// objects; a second cache of them would double their cost).
    Pods(Store<CachedPod>),
}

impl Source {
    fn ready(&self) -> bool {
        match self {
            Self::Watched(s) => s.wait_until_ready().now_or_never().is_some(),
            Self::Pods(s) => s.wait_until_ready().now_or_never().is_some(),
        }
    }

    /// Calls `f` with the metadata of every cached object.
    fn each(&self, mut f: impl FnMut(&ObjectMeta)) {
        match self {
            Self::Watched(s) => s.state().iter().for_each(|o| f(&o.metadata)),
            Self::Pods(s) => s.state().iter().for_each(|o| f(&o.metadata)),
        }
    }
}

/// Runs the garbage collector, reading pods from the shared `pods` feed.
pub async fn run(
    client: Client,
    _opts: ControllerOptions,
    pods: PodFeed,
) -> Result<(), ControllerError> {
    let kinds = kinds::discover(&client).await?;
    let mut sources = Vec::new();
    let mut streams = Vec::new();
    // A change of a pod wakes the collector as a change of its own watches
    // does; the subscription ends with this function.
    let (pod_tx, pod_rx) = tokio::sync::mpsc::unbounded_channel();
    let _pod_changes = pods.subscribe(move |_, _| {
        let _ = pod_tx.send(None);
    });
    streams.push(tokio_stream::wrappers::UnboundedReceiverStream::new(pod_rx).boxed());
    for k in &kinds {
        if k.resource.group.is_empty() && k.resource.kind == "Pod" {
            sources.push(Source::Pods(pods.store().clone()));
            continue;
        }
        let writer = Writer::new(k.resource.clone());
        sources.push(Source::Watched(writer.as_reader()));
        let api = k.api(&client, None);
        // Only the metadata the graph reads is kept: whole JSON values
        // would cost tens of MiB for nothing.
        let stream = watcher(api, Default::default())
            .default_backoff()
            .modify(keep_graph_fields);
        let events = reflector::reflector(writer, stream);
        streams.push(events.map(|e| e.err()).boxed());
    }
    let mut changes = stream::select_all(streams);
    let mut wait = RESYNC;
    loop {
        // Sleep until something changes, then let the burst settle.
        match tokio::time::timeout(wait, changes.next()).await {
            Ok(None) => return Ok(()),
            Ok(Some(Some(e))) => tracing::debug!(error = %e, "garbage collector watch"),
            _ => {}
        }
        let settle = tokio::time::sleep(BATCH);
        tokio::pin!(settle);
        loop {
            tokio::select! {
                c = changes.next() => match c {
                    None => return Ok(()),
                    Some(Some(e)) => tracing::debug!(error = %e, "garbage collector watch"),
                    Some(None) => {}
                },
                _ = &mut settle => break,
            }
        }
        if !sources.iter().all(Source::ready) {
            wait = RETRY;
            continue;
        }
        let worked = pass(&client, &kinds, &sources).await;
        wait = if worked { RETRY } else { RESYNC };
    }
}

/// One pass over the whole graph; returns whether there was anything to do.
#[tracing::instrument(name = "garbagecollector", skip_all, fields(objects, actions))]
async fn pass(client: &Client, kinds: &[Kind], sources: &[Source]) -> bool {
    let served = kinds
        .iter()
        .map(|k| (k.resource.api_version.clone(), k.resource.kind.clone()))
        .collect();
    let graph = Graph::new(snapshot(kinds, sources), served);
    let actions = graph.actions();
    let span = tracing::Span::current();
    span.record("objects", graph.objs.len());
    span.record("actions", actions.len());
    stream::iter(&actions)
        .for_each_concurrent(CONCURRENCY, |a| act::run(client, kinds, &graph, a))
        .await;
    !actions.is_empty()
}

/// Drops what [`snapshot`] does not read.
fn keep_graph_fields(o: &mut DynamicObject) {
    o.data = serde_json::Value::Null;
    o.types = None;
    let m = &mut o.metadata;
    m.labels = None;
    m.annotations = None;
    m.managed_fields = None;
    m.generate_name = None;
}

/// Every cached object, as the graph sees it.
fn snapshot(kinds: &[Kind], sources: &[Source]) -> Vec<Obj> {
    let mut out = Vec::new();
    for (k, source) in kinds.iter().zip(sources) {
        source.each(|m| {
            out.push(Obj {
                api_version: k.resource.api_version.clone(),
                kind: k.resource.kind.clone(),
                namespaced: k.namespaced,
                namespace: m.namespace.clone(),
                name: m.name.clone().unwrap_or_default(),
                uid: m.uid.clone().unwrap_or_default(),
                owners: m.owner_references.clone().unwrap_or_default(),
                finalizers: m.finalizers.clone().unwrap_or_default(),
                deleting: m.deletion_timestamp.is_some(),
            })
        });
    }
    out
}
