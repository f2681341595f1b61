//! Watches as etcd watches with `prev_kv`, one gRPC stream each.
//!
//! etcd tells a watcher that its start revision is compacted only after it
//! created the watch, so [`start`] first reads at that revision: a
//! compacted start fails at once with [`StoreError::Compacted`], as the
//! store contract asks. A compaction etcd reports later ends the stream
//! with the same error; a broken connection ends it with
//! [`StoreError::Backend`] (HTTP/2 keep-alive pings notice a dead peer).
use std::{collections::VecDeque, time::Duration};

use etcd_client::{EventType, GetOptions, WatchOptions};
use futures::stream;

use super::{deadline, kv, to_i64, to_rev};
use crate::store::{EventKind, Revision, StoreError, WatchEvent, WatchStream};

/// A watch's state between two items.
struct State {
    stream: etcd_client::WatchStream,
    pending: VecDeque<WatchEvent>,
    after: Revision,
    done: bool,
}

pub(super) async fn start(
    client: &etcd_client::Client,
    limit: Duration,
    prefix: &str,
    after: Revision,
) -> Result<WatchStream, StoreError> {
    let from = to_i64(after + 1).map_err(|e| StoreError::Backend(e.to_string()))?;
    check_start(client, limit, prefix, after, from).await?;
    let mut opts = WatchOptions::new()
        .with_start_revision(from)
        .with_prev_key();
    opts = if prefix.is_empty() {
        opts.with_all_keys()
    } else {
        opts.with_prefix()
    };
    let mut watch = client.watch_client();
    let key = prefix.to_string();
    let stream = deadline(
        limit,
        "watch",
        async move { watch.watch(key, Some(opts)).await },
    )
    .await?;
    let state = State {
        stream,
        pending: VecDeque::new(),
        after,
        done: false,
    };
    Ok(Box::pin(stream::unfold(state, next)))
}

/// Fails with Compacted if etcd no longer has revision `from`.
async fn check_start(
    client: &etcd_client::Client,
    limit: Duration,
    prefix: &str,
    after: Revision,
    from: i64,
) -> Result<(), StoreError> {
    let mut kv_client = client.kv_client();
    let key = prefix.to_string();
    let read = deadline(limit, "range", async move {
        let opts = GetOptions::new().with_count_only().with_revision(from);
        kv_client.get(key, Some(opts)).await
    })
    .await;
    match read {
        Ok(_) | Err(StoreError::FutureRevision { .. }) => Ok(()),
        Err(e) => Err(kv::revision_error(e, client, limit, after).await),
    }
}

async fn next(mut s: State) -> Option<(Result<WatchEvent, StoreError>, State)> {
    loop {
        if let Some(event) = s.pending.pop_front() {
            return Some((Ok(event), s));
        }
        if s.done {
            return None;
        }
        let resp = match s.stream.message().await {
            Ok(Some(resp)) => resp,
            Ok(None) => return None,
            Err(e) => {
                s.done = true;
                return Some((Err(super::error::from_etcd("watch", e)), s));
            }
        };
        if resp.compact_revision() > 0 {
            s.done = true;
            let err = StoreError::Compacted {
                requested: s.after,
                oldest: to_rev(resp.compact_revision()),
            };
            return Some((Err(err), s));
        }
        if resp.canceled() {
            s.done = true;
            let reason = resp.cancel_reason().to_string();
            return Some((
                Err(StoreError::Backend(format!(
                    "etcd watch canceled: {reason}"
                ))),
                s,
            ));
        }
        for event in resp.events() {
            match convert(event) {
                Ok(e) => {
                    s.after = e.revision();
                    s.pending.push_back(e);
                }
                Err(e) => {
                    s.done = true;
                    s.pending.clear();
                    return Some((Err(e), s));
                }
            }
        }
    }
}

/// An etcd event in the store's shape: a delete carries the last value
/// with the delete's revision.
fn convert(event: &etcd_client::Event) -> Result<WatchEvent, StoreError> {
    let kv = event
        .kv()
        .ok_or_else(|| StoreError::Backend("etcd watch event without a key".into()))?;
    let now = kv::from_etcd(kv)?;
    let prev = event.prev_kv().map(kv::from_etcd).transpose()?;
    Ok(match event.event_type() {
        EventType::Put => WatchEvent {
            kind: EventKind::Put,
            kv: now,
            prev,
        },
        EventType::Delete => WatchEvent {
            kind: EventKind::Delete,
            kv: match &prev {
                Some(p) => crate::store::KeyValue {
                    mod_revision: now.mod_revision,
                    ..p.clone()
                },
                None => now,
            },
            prev,
        },
    })
}
