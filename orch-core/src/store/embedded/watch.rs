//! Watch streams: the history replay, then the live events, with no gap and
//! no duplicate.
//!
//! The caller subscribes to the event channel and copies the replay under the
//! same read lock that the writer's publishing takes for writing, so every
//! event is either in the replay or arrives live. Live events at or below
//! the last revision delivered are skipped all the same. A watcher that
//! falls a whole channel buffer behind gets [`StoreError::Compacted`] and
//! its stream ends, so that its client re-lists.
use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::broadcast;

use super::state::Event;
use crate::store::{Revision, StoreError, WatchStream};

/// The live half of a watch.
struct Live {
    events: broadcast::Receiver<Arc<Event>>,
    prefix: String,
    last: Revision,
}

/// Builds the stream: `replay` (already filtered, in order), then every live
/// event under `prefix` newer than both `after` and the replay.
pub(crate) fn stream(
    replay: Vec<Arc<Event>>,
    events: broadcast::Receiver<Arc<Event>>,
    prefix: String,
    after: Revision,
) -> WatchStream {
    let last = replay.last().map_or(after, |e| e.revision()).max(after);
    let replay = futures::stream::iter(replay).map(|e| Ok(e.to_public()));
    let live = futures::stream::unfold(
        Some(Live {
            events,
            prefix,
            last,
        }),
        |live| async move {
            let mut live = live?;
            loop {
                match live.events.recv().await {
                    Ok(event) => {
                        if event.revision() <= live.last || !event.key.starts_with(&live.prefix) {
                            continue;
                        }
                        live.last = event.revision();
                        return Some((Ok(event.to_public()), Some(live)));
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(
                            last = live.last,
                            missed,
                            "watcher fell behind; ending its stream"
                        );
                        let err = StoreError::Compacted {
                            requested: live.last,
                            oldest: live.last.saturating_add(missed).saturating_add(1),
                        };
                        return Some((Err(err), None));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    Box::pin(replay.chain(live))
}
