//! Group commit: one thread owns every write.
//!
//! It takes all the requests waiting on its channel, checks each
//! compare-and-swap in order against the latest state (so a request sees the
//! ones before it in the same batch), appends the whole batch to the
//! write-ahead log with one `fdatasync`, writes it and the history pruning in
//! one redb transaction, then updates the mirror, publishes the events and
//! answers every request. Concurrent writers thus share one sync; a failed
//! compare-and-swap fails only its own request. Every so often the redb
//! commit is synced instead and the log starts again (a checkpoint).
use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use redb::Database;
use tokio::sync::{mpsc, oneshot};

use super::history::Retention;
use super::metrics::StoreMetrics;
use super::state::{Entry, Event};
use super::tables::{commit_batch, encode_event, no_prune};
use super::wal::{self, Wal};
use super::Shared;
use crate::store::{EventKind, KeyValue, Revision, StoreError};

/// One write, as the store methods describe it.
#[derive(Debug)]
pub(crate) enum WriteOp {
    /// Create `key`; fails if it exists.
    Create { key: String, value: Vec<u8> },
    /// Replace `key` if its mod_revision is `expected`.
    Update {
        key: String,
        value: Vec<u8>,
        expected: Revision,
    },
    /// Delete `key`, if `expected` is set only at that mod_revision.
    Delete {
        key: String,
        expected: Option<Revision>,
    },
}

impl WriteOp {
    fn key(&self) -> &str {
        match self {
            WriteOp::Create { key, .. }
            | WriteOp::Update { key, .. }
            | WriteOp::Delete { key, .. } => key,
        }
    }
}

/// A write and where to send its outcome.
#[derive(Debug)]
pub(crate) struct WriteRequest {
    /// The write.
    pub op: WriteOp,
    /// Gets the written key-value (for a delete, the deleted one) or the error.
    pub reply: oneshot::Sender<Result<KeyValue, StoreError>>,
}

/// The state of the writer thread.
#[derive(Debug)]
pub(crate) struct Writer {
    /// The file.
    pub db: Arc<Database>,
    /// The mirror and the event channel.
    pub shared: Arc<Shared>,
    /// Incoming writes.
    pub requests: mpsc::Receiver<WriteRequest>,
    /// How much history to keep.
    pub retention: Retention,
    /// At most this many writes per transaction.
    pub max_batch: usize,
    /// Commit latency and counters.
    pub metrics: StoreMetrics,
    /// The write-ahead log, replayed and reset by [`recover`].
    pub wal: Wal,
    /// When redb was last synced.
    pub last_checkpoint: Instant,
    /// Set after an I/O error that leaves the log and the file unsure.
    pub failed: Option<String>,
}

/// The longest time between two synced redb commits while writes come in.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(30);

/// The outcome of checking a batch against the current state.
#[derive(Debug)]
struct Plan {
    /// The changes to commit, in revision order.
    events: Vec<Arc<Event>>,
    /// Per request: the index of its event, or its error.
    outcomes: Vec<Result<usize, StoreError>>,
    /// How many of the oldest history events to prune.
    prune: usize,
}

impl Writer {
    /// Starts the writer thread. It runs until every sender is dropped.
    pub(crate) fn spawn(self) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("orch-store-writer".into())
            .spawn(move || self.run())
    }

    fn run(mut self) {
        let max = self.max_batch.max(1);
        while let Some(first) = self.requests.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < max {
                match self.requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            self.process(batch);
        }
        // A clean stop leaves nothing to replay.
        if self.failed.is_none() && self.wal.used() > 0 {
            if let Err(err) = self.commit(&[], &[], no_prune(), true) {
                tracing::warn!(error = %err, "store checkpoint at shutdown failed");
            }
        }
        tracing::debug!("store writer stopped");
    }

    fn process(&mut self, batch: Vec<WriteRequest>) {
        let (ops, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|r| (r.op, r.reply)).unzip();
        if let Some(message) = &self.failed {
            for reply in replies {
                let _ = reply.send(Err(StoreError::Backend(message.clone())));
            }
            return;
        }
        let plan = self.plan(ops, unix_ms());
        if plan.events.is_empty() {
            answer(replies, plan.outcomes, &plan.events);
            return;
        }
        let prune = self.shared.read().history.prune_range(plan.prune);
        let result = plan
            .events
            .iter()
            .map(|e| encode_event(e))
            .collect::<Result<Vec<_>, _>>()
            .and_then(|encoded| self.make_durable(&plan.events, &encoded, prune));
        match result {
            Ok(commit) => {
                self.metrics.observe_batch(plan.events.len(), commit);
                {
                    let mut state = self.shared.write();
                    for event in &plan.events {
                        state.apply(event);
                        // No receivers is fine: nobody is watching.
                        let _ = self.shared.events.send(event.clone());
                    }
                    state.history.prune(plan.prune);
                }
                answer(replies, plan.outcomes, &plan.events);
            }
            Err(err) => {
                tracing::error!(error = %err, writes = plan.events.len(), "store commit failed");
                let message = err.to_string();
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Backend(message.clone())));
                }
            }
        }
    }

    /// Makes a batch durable: normally one log append and `fdatasync`, then
    /// a redb commit that is not synced; every so often (log half full, a
    /// record that does not fit, or [`CHECKPOINT_EVERY`]) a synced redb
    /// commit instead, after which the log starts again. Returns how long
    /// the durable part took.
    fn make_durable(
        &mut self,
        events: &[Arc<Event>],
        encoded: &[Vec<u8>],
        prune: RangeInclusive<Revision>,
    ) -> Result<Duration, StoreError> {
        let size = Wal::record_size(encoded);
        let checkpoint = !self.wal.fits(size)
            || self.wal.used() >= self.wal.capacity() / 2
            || self.last_checkpoint.elapsed() >= CHECKPOINT_EVERY;
        if checkpoint {
            return self.commit(events, encoded, prune, true);
        }
        let start = Instant::now();
        let appended = self.wal.append(encoded).map(|()| start.elapsed());
        // Once a record may be in the log, the file and the log must not
        // drift apart: any failure from here on stops all writes.
        let result = appended.and_then(|took| {
            self.commit(events, encoded, prune, false)?;
            Ok(took)
        });
        if let Err(err) = &result {
            self.failed = Some(format!(
                "the store stopped taking writes after an I/O error ({err}); restart the server"
            ));
        }
        result
    }

    /// Writes the batch and the pruning in one redb transaction. With
    /// `checkpoint` it is synced and records a new log epoch, and the log
    /// starts again; without, it is not synced (the log made it durable).
    fn commit(
        &mut self,
        events: &[Arc<Event>],
        encoded: &[Vec<u8>],
        prune: RangeInclusive<Revision>,
        checkpoint: bool,
    ) -> Result<Duration, StoreError> {
        let epoch = checkpoint.then(wal::new_epoch);
        let start = Instant::now();
        commit_batch(&self.db, events, encoded, prune, epoch)?;
        let took = start.elapsed();
        if let Some(epoch) = epoch {
            self.wal.reset(epoch);
            self.last_checkpoint = Instant::now();
        }
        Ok(took)
    }

    /// Checks every request in order against the mirror plus the earlier
    /// requests of the batch, and assigns revisions to those that pass.
    fn plan(&self, ops: Vec<WriteOp>, now_ms: u64) -> Plan {
        let state = self.shared.read();
        let mut pending: HashMap<Arc<str>, Option<Entry>> = HashMap::new();
        let mut revision = state.revision;
        let mut events = Vec::new();
        let mut outcomes = Vec::with_capacity(ops.len());
        for op in ops {
            let (key, current) = match pending.get_key_value(op.key()) {
                Some((key, entry)) => (key.clone(), entry.clone()),
                None => match state.mirror.get_key_value(op.key()) {
                    Some((key, entry)) => (key.clone(), Some(entry.clone())),
                    None => (Arc::from(op.key()), None),
                },
            };
            match change(op, current, revision + 1) {
                Ok((kind, kv, prev)) => {
                    revision += 1;
                    pending.insert(key.clone(), (kind == EventKind::Put).then(|| kv.clone()));
                    events.push(Arc::new(Event {
                        kind,
                        key,
                        kv,
                        prev,
                        unix_ms: now_ms,
                    }));
                    outcomes.push(Ok(events.len() - 1));
                }
                Err(err) => outcomes.push(Err(err)),
            }
        }
        let prune = state.history.prunable(events.len(), now_ms, self.retention);
        Plan {
            events,
            outcomes,
            prune,
        }
    }
}

/// Applies the compare-and-swap of `op` to the key's `current` version.
/// Returns the event kind, the new version and the previous one.
fn change(
    op: WriteOp,
    current: Option<Entry>,
    revision: Revision,
) -> Result<(EventKind, Entry, Option<Entry>), StoreError> {
    match (op, current) {
        (WriteOp::Create { key, .. }, Some(_)) => Err(StoreError::AlreadyExists(key)),
        (WriteOp::Create { value, .. }, None) => {
            let kv = Entry {
                value: Bytes::from(value),
                create_revision: revision,
                mod_revision: revision,
            };
            Ok((EventKind::Put, kv, None))
        }
        (WriteOp::Update { key, .. } | WriteOp::Delete { key, .. }, None) => {
            Err(StoreError::NotFound(key))
        }
        (
            WriteOp::Update {
                key,
                value,
                expected,
            },
            Some(cur),
        ) => {
            if cur.mod_revision != expected {
                return Err(StoreError::Conflict {
                    key,
                    expected,
                    actual: cur.mod_revision,
                });
            }
            let kv = Entry {
                value: Bytes::from(value),
                create_revision: cur.create_revision,
                mod_revision: revision,
            };
            Ok((EventKind::Put, kv, Some(cur)))
        }
        (WriteOp::Delete { key, expected }, Some(cur)) => {
            if let Some(expected) = expected {
                if cur.mod_revision != expected {
                    return Err(StoreError::Conflict {
                        key,
                        expected,
                        actual: cur.mod_revision,
                    });
                }
            }
            let kv = Entry {
                mod_revision: revision,
                ..cur.clone()
            };
            Ok((EventKind::Delete, kv, Some(cur)))
        }
    }
}

/// Sends each request its outcome.
fn answer(
    replies: Vec<oneshot::Sender<Result<KeyValue, StoreError>>>,
    outcomes: Vec<Result<usize, StoreError>>,
    events: &[Arc<Event>],
) {
    for (reply, outcome) in replies.into_iter().zip(outcomes) {
        let result = outcome.map(|i| events[i].kv.to_kv(&events[i].key));
        // The caller may have gone away; the write stands anyway.
        let _ = reply.send(result);
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
