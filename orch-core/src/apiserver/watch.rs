//! Watch: newline-delimited JSON events over a chunked response, with
//! Kubernetes resourceVersion semantics ("" and "0" start with the current
//! state, N resumes after N), BOOKMARKs, timeouts, selector transitions
//! (an object leaving the selector is DELETED for this watcher), and an
//! in-stream 410 ERROR when the revision is too old.
use std::{sync::Arc, time::Duration};

use axum::{body::Body, http::header, response::Response};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{
    meta,
    objects::Filter,
    objects::{ListQuery, ObjectRef},
    resources::Resource,
    state::ApiState,
    status::ApiError,
};
use crate::store::{EventKind, ListOptions, Revision, StoreError, WatchEvent};

/// Longest watch a client may ask for.
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// Starts a watch and returns the streaming response.
pub async fn watch(
    state: Arc<ApiState>,
    res: &'static Resource,
    namespace: Option<String>,
    q: ListQuery,
) -> Result<Response, ApiError> {
    let filter = Filter::parse(res, &q)?;
    let prefix = res.key_prefix(namespace.as_deref());
    let timeout = q
        .timeout_seconds
        .map(Duration::from_secs)
        .unwrap_or(MAX_TIMEOUT)
        .min(MAX_TIMEOUT);
    let bookmarks = q.allow_watch_bookmarks.unwrap_or(false);
    let initial_end = q.send_initial_events.unwrap_or(false);
    let start: Option<Revision> = match q.resource_version.as_deref() {
        None | Some("") | Some("0") => None,
        Some(rv) if initial_end => {
            rv.parse::<Revision>().map_err(|_| {
                ApiError::bad_request(format!("resourceVersion {rv:?} is not a number"))
            })?;
            None
        }
        Some(rv) => Some(rv.parse().map_err(|_| {
            ApiError::bad_request(format!("resourceVersion {rv:?} is not a number"))
        })?),
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let task_state = state.clone();
    tokio::spawn(async move {
        let _open = task_state.metrics.watch_opened(res.plural);
        let w = Watcher {
            state: task_state.clone(),
            res,
            filter,
            tx,
        };
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        tokio::select! {
            _ = w.run(prefix, start, bookmarks, initial_end) => {}
            _ = &mut deadline => {}
        }
    });
    let body = Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>),
    );
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(body)
        .map_err(|e| ApiError::internal(e.to_string()))
}

struct Watcher {
    state: Arc<ApiState>,
    res: &'static Resource,
    filter: Filter,
    tx: mpsc::Sender<Bytes>,
}

impl Watcher {
    async fn send(&self, kind: &str, object: &Value) -> bool {
        let mut line =
            serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
        line.push(b'\n');
        self.tx.send(Bytes::from(line)).await.is_ok()
    }

    async fn send_error(&self, e: &ApiError) {
        self.send("ERROR", &e.to_status()).await;
    }

    fn bookmark(&self, rv: Revision, initial_end: bool) -> Value {
        let mut m = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            m["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        json!({"kind": self.res.kind, "apiVersion": self.res.api_version(), "metadata": m})
    }

    async fn run(
        self,
        prefix: String,
        start: Option<Revision>,
        bookmarks: bool,
        initial_end: bool,
    ) {
        let after = match start {
            Some(rv) => rv,
            None => match self.initial_state(&prefix).await {
                Some(rv) => {
                    if initial_end && !self.send("BOOKMARK", &self.bookmark(rv, true)).await {
                        return;
                    }
                    rv
                }
                None => return,
            },
        };
        let mut stream = match self.state.store.watch(&prefix, after).await {
            Ok(s) => s,
            Err(e) => {
                self.send_error(&too_old_or(e, self.res)).await;
                return;
            }
        };
        let mut last = after;
        let mut tick = tokio::time::interval(self.state.bookmark_interval);
        tick.tick().await;
        loop {
            tokio::select! {
                ev = stream.next() => match ev {
                    Some(Ok(ev)) => {
                        last = ev.revision();
                        if !self.deliver(&ev).await {
                            return;
                        }
                    }
                    Some(Err(e)) => {
                        self.send_error(&too_old_or(e, self.res)).await;
                        return;
                    }
                    None => return,
                },
                _ = tick.tick(), if bookmarks => {
                    if !self.send("BOOKMARK", &self.bookmark(last, false)).await {
                        return;
                    }
                }
                _ = self.tx.closed() => return,
            }
        }
    }

    /// Sends ADDED for every current object; returns the snapshot revision.
    async fn initial_state(&self, prefix: &str) -> Option<Revision> {
        let mut start_after = None;
        let mut revision = None;
        loop {
            let page = match self
                .state
                .store
                .list(&ListOptions {
                    prefix: prefix.to_string(),
                    start_after: start_after.clone(),
                    limit: 500,
                    revision,
                })
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    self.send_error(&too_old_or(e, self.res)).await;
                    return None;
                }
            };
            revision = Some(page.revision);
            for kv in &page.items {
                let Ok(obj) = meta::decode(kv) else { continue };
                if self.filter.matches(&obj) && !self.send("ADDED", &obj).await {
                    return None;
                }
            }
            if !page.more {
                return revision;
            }
            start_after = page.items.last().map(|kv| kv.key.clone());
        }
    }

    /// Sends one store event as the watcher sees it through its selectors.
    async fn deliver(&self, ev: &WatchEvent) -> bool {
        let Ok(obj) = meta::decode(&ev.kv) else {
            return true;
        };
        let now = self.filter.matches(&obj);
        let before = ev
            .prev
            .as_ref()
            .and_then(|p| meta::decode(p).ok())
            .is_some_and(|p| self.filter.matches(&p));
        let kind = match (ev.kind, before, now) {
            (EventKind::Delete, _, true) => "DELETED",
            (EventKind::Delete, _, false) => return true,
            (EventKind::Put, false, true) => "ADDED",
            (EventKind::Put, true, true) => "MODIFIED",
            (EventKind::Put, true, false) => "DELETED",
            (EventKind::Put, false, false) => return true,
        };
        self.send(kind, &obj).await
    }
}

fn too_old_or(e: StoreError, res: &Resource) -> ApiError {
    match e {
        StoreError::Compacted { requested, oldest } => {
            ApiError::expired(format!("too old resource version: {requested} ({oldest})"))
        }
        e => ObjectRef {
            res: resource_static(res),
            namespace: None,
            name: "",
        }
        .store_err(e),
    }
}

fn resource_static(res: &Resource) -> &'static Resource {
    super::resources::by_kind(res.kind).expect("resource comes from the table")
}
