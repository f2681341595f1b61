//! The garbage collector: deletes objects whose owners (ownerReferences)
//! are gone, in the background; finishes foreground deletions (dependents
//! first, waiting for those with `blockOwnerDeletion`, then the owner's
//! `foregroundDeletion` finalizer goes) and orphaning deletions (references
//! to the owner removed from its dependents, then its `orphan` finalizer
//! goes). Every served kind takes part, found through discovery.
//!
//! A watcher and reflector per kind keep a cache of everything; after each
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
use kube::{
    api::DynamicObject,
    runtime::{
        reflector::{self, store::Writer, Store},
        watcher::watcher,
        WatchStreamExt,
    },
    Client, ResourceExt,
};

use super::{ControllerError, ControllerOptions};
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

/// Runs the garbage collector.
pub async fn run(client: Client, _opts: ControllerOptions) -> Result<(), ControllerError> {
    let kinds = kinds::discover(&client).await?;
    let mut stores = Vec::new();
    let mut streams = Vec::new();
    for k in &kinds {
        let writer = Writer::new(k.resource.clone());
        stores.push(writer.as_reader());
        let api = k.api(&client, None);
        // Only the metadata the graph reads is kept: 10k pods as whole JSON
        // values would cost tens of MiB for nothing.
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
        if !stores
            .iter()
            .all(|s| s.wait_until_ready().now_or_never().is_some())
        {
            wait = RETRY;
            continue;
        }
        let worked = pass(&client, &kinds, &stores).await;
        wait = if worked { RETRY } else { RESYNC };
    }
}

/// One pass over the whole graph; returns whether there was anything to do.
#[tracing::instrument(name = "garbagecollector", skip_all, fields(objects, actions))]
async fn pass(client: &Client, kinds: &[Kind], stores: &[Store<DynamicObject>]) -> bool {
    let served = kinds
        .iter()
        .map(|k| (k.resource.api_version.clone(), k.resource.kind.clone()))
        .collect();
    let graph = Graph::new(snapshot(kinds, stores), served);
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
fn snapshot(kinds: &[Kind], stores: &[Store<DynamicObject>]) -> Vec<Obj> {
    let mut out = Vec::new();
    for (k, store) in kinds.iter().zip(stores) {
        for o in store.state() {
            out.push(Obj {
                api_version: k.resource.api_version.clone(),
                kind: k.resource.kind.clone(),
                namespaced: k.namespaced,
                namespace: o.namespace(),
                name: o.name_any(),
                uid: o.uid().unwrap_or_default(),
                owners: o.owner_references().to_vec(),
                finalizers: o.finalizers().to_vec(),
                deleting: o.metadata.deletion_timestamp.is_some(),
            });
        }
    }
    out
}
