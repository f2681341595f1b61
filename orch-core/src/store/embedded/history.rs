//! The watch history: the recent events in revision order, each with its
//! previous value, kept for a time window and a minimum count.
//!
//! The history is contiguous: it holds every event from `compacted + 1` up
//! to the current revision. It serves watch replay and lists at an older
//! revision, which undo the newer events.
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::state::Event;
use crate::store::{Revision, StoreError};

/// The recent events, oldest first.
#[derive(Debug, Default)]
pub(crate) struct History {
    events: VecDeque<Arc<Event>>,
    /// Every event up to and including this revision has been pruned.
    compacted: Revision,
}

/// How long and how much history to keep.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retention {
    /// Keep every event younger than this.
    pub window: Duration,
    /// Keep at least this many of the newest events, however old.
    pub min_events: usize,
    /// Keep at most this many events, however young (a memory cap).
    pub max_events: Option<usize>,
}

impl History {
    /// A history holding `events` (contiguous after `compacted`).
    pub(crate) fn new(compacted: Revision, events: Vec<Arc<Event>>) -> Self {
        Self {
            events: events.into(),
            compacted,
        }
    }

    /// The newest pruned revision: the oldest revision still readable.
    pub(crate) fn compacted(&self) -> Revision {
        self.compacted
    }

    /// How many events are kept.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// Checks that the state at `revision` can be rebuilt, given the
    /// `current` revision.
    pub(crate) fn check(&self, revision: Revision, current: Revision) -> Result<(), StoreError> {
        if revision > current {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current,
            });
        }
        if revision < self.compacted {
            return Err(StoreError::Compacted {
                requested: revision,
                oldest: self.compacted,
            });
        }
        Ok(())
    }

    /// The events with a revision strictly greater than `after`, oldest
    /// first. `after` must have passed [`History::check`].
    pub(crate) fn since(&self, after: Revision) -> impl DoubleEndedIterator<Item = &Arc<Event>> {
        let start = self.events.partition_point(|e| e.revision() <= after);
        self.events.range(start..)
    }

    /// Appends an event (the next revision).
    pub(crate) fn push(&mut self, event: Arc<Event>) {
        self.events.push_back(event);
    }

    /// How many of the oldest events may go once `incoming` more events are
    /// appended at time `now_ms` (milliseconds since the Unix epoch).
    pub(crate) fn prunable(&self, incoming: usize, now_ms: u64, keep: Retention) -> usize {
        let window_ms = u64::try_from(keep.window.as_millis()).unwrap_or(u64::MAX);
        let cutoff = now_ms.saturating_sub(window_ms);
        let total = self.events.len() + incoming;
        let spare = total.saturating_sub(keep.min_events).min(self.events.len());
        let old = self
            .events
            .iter()
            .take(spare)
            .take_while(|e| e.unix_ms < cutoff)
            .count();
        let over = keep
            .max_events
            .map_or(0, |max| total.saturating_sub(max).min(self.events.len()));
        old.max(over)
    }

    /// The revisions that pruning `count` events removes.
    pub(crate) fn prune_range(&self, count: usize) -> std::ops::RangeInclusive<Revision> {
        let first = self.compacted + 1;
        first..=self.compacted + count as u64
    }

    /// Drops the `count` oldest events.
    pub(crate) fn prune(&mut self, count: usize) {
        let count = count.min(self.events.len());
        if let Some(last) = count.checked_sub(1).and_then(|i| self.events.get(i)) {
            self.compacted = last.revision();
            self.events.drain(..count);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::store::embedded::state::Entry;
    use crate::store::EventKind;

    fn event(rev: Revision, unix_ms: u64) -> Arc<Event> {
        Arc::new(Event {
            kind: EventKind::Put,
            key: Arc::from("/k"),
            kv: Entry {
                value: Bytes::new(),
                create_revision: 1,
                mod_revision: rev,
            },
            prev: None,
            unix_ms,
        })
    }

    #[test]
    fn prune_keeps_window_and_minimum() {
        let h = History::new(0, (1..=10).map(|r| event(r, r * 1000)).collect());
        let keep = Retention {
            window: Duration::from_secs(3),
            min_events: 2,
            max_events: None,
        };
        // now = 10s: events older than 7s (revisions 1..=6) may go.
        assert_eq!(h.prunable(0, 10_000, keep), 6);
        // The minimum count wins over the window.
        let keep_many = Retention {
            window: Duration::ZERO,
            min_events: 8,
            max_events: None,
        };
        assert_eq!(h.prunable(0, 10_000, keep_many), 2);
        assert_eq!(h.prunable(3, 10_000, keep_many), 5);
        // The cap wins over both.
        let capped = Retention {
            window: Duration::from_secs(60),
            min_events: 8,
            max_events: Some(4),
        };
        assert_eq!(h.prunable(1, 10_000, capped), 7);
    }

    #[test]
    fn since_and_check() {
        let mut h = History::new(0, (1..=5).map(|r| event(r, 0)).collect());
        assert_eq!(
            h.since(3).map(|e| e.revision()).collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert_eq!(h.prune_range(2), 1..=2);
        h.prune(2);
        assert_eq!(h.compacted(), 2);
        assert!(h.check(2, 5).is_ok());
        assert!(matches!(
            h.check(1, 5),
            Err(StoreError::Compacted {
                requested: 1,
                oldest: 2
            })
        ));
        assert!(matches!(
            h.check(6, 5),
            Err(StoreError::FutureRevision { .. })
        ));
        assert_eq!(h.since(2).count(), 3);
    }
}
