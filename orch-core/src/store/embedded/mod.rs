//! The embedded store: one durable redb file, no set-up.
//!
//! Reads are served from an in-memory mirror of the file; writes go through
//! one writer thread that commits them in groups, one fsync per group (see
//! [`writer`]). The watch history is kept in memory and in the file, so
//! watchers resume across restarts.
mod history;
mod metrics;
mod recover;
mod snapshot;
mod state;
mod tables;
#[cfg(test)]
mod tests;
mod wal;
mod watch;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};

use self::history::{History, Retention};
pub use self::metrics::StoreMetrics;
use self::state::{Event, State};
use self::tables::backend;
use self::writer::{WriteOp, WriteRequest, Writer};
use super::{KeyValue, ListOptions, ListPage, Revision, Store, StoreError, WatchStream};

/// The file name [`EmbeddedStore::open_dir`] uses inside a data directory.
pub const FILE_NAME: &str = "store.redb";

/// Tuning of the embedded store.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Keep every watch event younger than this (default 5 minutes).
    pub history: Duration,
    /// Keep at least this many of the newest events, however old
    /// (default 10 000).
    pub min_history_events: usize,
    /// Keep at most this many events, however young: a memory cap that
    /// overrides the two settings above (default none).
    pub max_history_events: Option<usize>,
    /// Live events buffered per store for watchers; a watcher further behind
    /// gets [`StoreError::Compacted`] (default 65 536).
    pub watch_buffer: usize,
    /// At most this many writes per commit (default 1 024).
    pub max_batch: usize,
    /// Writes waiting for the writer before callers wait (default 4 096).
    pub queue: usize,
    /// Memory for redb's page cache, in bytes (default 4 MiB). Reads are
    /// served from the in-memory mirror, so the cache only holds the pages
    /// commits rewrite; the kernel's page cache keeps the file warm.
    pub cache_size: usize,
    /// Verify every page checksum when opening (default true), so a damaged
    /// file is an error rather than trusted.
    pub check_integrity_on_open: bool,
    /// Size of the preallocated write-ahead log beside the file; a synced
    /// redb commit happens at the latest when it is half full.
    pub wal_capacity: u64,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            history: Duration::from_secs(5 * 60),
            min_history_events: 10_000,
            max_history_events: None,
            watch_buffer: 65_536,
            max_batch: 1024,
            queue: 4096,
            cache_size: 4 << 20,
            check_integrity_on_open: true,
            wal_capacity: 64 << 20,
        }
    }
}

/// What the store methods and the writer thread share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The mirror, the history and the revision.
    state: RwLock<State>,
    /// Every committed event, in revision order, sent under the state's
    /// write lock.
    events: broadcast::Sender<Arc<Event>>,
}

impl Shared {
    /// The state for reading. A poisoned lock is still consistent: the
    /// writer changes the state only with operations that do not panic.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state for the writer.
    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The embedded, durable, single-file store.
///
/// Dropping it stops the writer thread (after the writes already queued)
/// and closes the file; open watch streams then end.
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    db: Arc<redb::Database>,
    requests: Option<mpsc::Sender<WriteRequest>>,
    writer: Option<std::thread::JoinHandle<()>>,
    metrics: StoreMetrics,
    path: PathBuf,
    replayed: usize,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .field("revision", &self.shared.read().revision)
            .finish_non_exhaustive()
    }
}

impl EmbeddedStore {
    /// Opens (or creates) the store file at `path`, loads it into memory and
    /// starts the writer thread. This blocks on file I/O.
    pub fn open(path: &Path, opts: EmbeddedOptions) -> Result<Self, StoreError> {
        let db = redb::Builder::new()
            .set_cache_size(opts.cache_size)
            .set_check_integrity_on_open(opts.check_integrity_on_open)
            .create(path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse(path.to_owned()),
                e => StoreError::Backend(format!("open {}: {e}", path.display())),
            })?;
        tables::init(&db)?;
        let (wal, replayed) =
            recover::recover(&db, &path.with_extension("wal"), opts.wal_capacity)?;
        let loaded = tables::load(&db)?;
        tracing::info!(
            path = %path.display(),
            revision = loaded.revision,
            keys = loaded.mirror.len(),
            history = loaded.events.len(),
            replayed,
            "opened embedded store"
        );
        let state = State {
            mirror: loaded.mirror,
            history: History::new(loaded.compacted, loaded.events),
            revision: loaded.revision,
        };
        let (events, _) = broadcast::channel(opts.watch_buffer.max(1));
        let shared = Arc::new(Shared {
            state: RwLock::new(state),
            events,
        });
        let db = Arc::new(db);
        let metrics = StoreMetrics::default();
        let (requests, incoming) = mpsc::channel(opts.queue.max(1));
        let writer = Writer {
            db: db.clone(),
            shared: shared.clone(),
            requests: incoming,
            retention: Retention {
                window: opts.history,
                min_events: opts.min_history_events,
                max_events: opts.max_history_events,
            },
            max_batch: opts.max_batch,
            metrics: metrics.clone(),
            wal,
            last_checkpoint: std::time::Instant::now(),
            failed: None,
        }
        .spawn()
        .map_err(backend("start store writer"))?;
        Ok(Self {
            shared,
            db,
            requests: Some(requests),
            writer: Some(writer),
            metrics,
            path: path.to_owned(),
            replayed,
        })
    }

    /// Opens the store in `dir` (created if missing), in the file
    /// [`FILE_NAME`].
    pub fn open_dir(dir: &Path, opts: EmbeddedOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(format!("create {}: {e}", dir.display())))?;
        Self::open(&dir.join(FILE_NAME), opts)
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The commit metrics (also readable directly, for tests).
    pub fn metrics(&self) -> &StoreMetrics {
        &self.metrics
    }

    /// Registers the commit metrics in `registry`.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.metrics.register(registry);
    }

    /// The oldest revision still readable: lists and watches from an older
    /// revision answer [`StoreError::Compacted`].
    /// How many writes were replayed from the write-ahead log on open
    /// (those acknowledged after the file's last synced commit).
    pub fn replayed_on_open(&self) -> usize {
        self.replayed
    }

    pub fn compacted_revision(&self) -> Revision {
        self.shared.read().history.compacted()
    }

    /// How many events the watch history holds.
    pub fn history_len(&self) -> usize {
        self.shared.read().history.len()
    }

    async fn write(&self, op: WriteOp) -> Result<KeyValue, StoreError> {
        let closed = || StoreError::Backend("the store is closed".into());
        let requests = self.requests.as_ref().ok_or_else(closed)?;
        let (reply, outcome) = oneshot::channel();
        requests
            .send(WriteRequest { op, reply })
            .await
            .map_err(|_| closed())?;
        outcome.await.map_err(|_| closed())?
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish the queue and stop;
        // joining it releases the file before this returns.
        self.requests.take();
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!("store writer thread panicked");
            }
        }
    }
}

#[async_trait::async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        let entry = self.shared.read().mirror.get(key).cloned();
        Ok(entry.map(|e| e.to_kv(key)))
    }

    async fn list(&self, opts: &ListOptions) -> Result<ListPage, StoreError> {
        let page = self.shared.read().list(opts)?;
        Ok(ListPage {
            items: page
                .items
                .iter()
                .map(|(key, entry)| entry.to_kv(key))
                .collect(),
            revision: page.revision,
            more: page.more,
        })
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue, StoreError> {
        self.write(WriteOp::Create {
            key: key.to_owned(),
            value,
        })
        .await
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Revision,
    ) -> Result<KeyValue, StoreError> {
        self.write(WriteOp::Update {
            key: key.to_owned(),
            value,
            expected,
        })
        .await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue, StoreError> {
        self.write(WriteOp::Delete {
            key: key.to_owned(),
            expected,
        })
        .await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError> {
        let (replay, events) = {
            let state = self.shared.read();
            state
                .history
                .check(after, state.revision)
                .or_else(|err| match err {
                    // Watching from a revision not written yet is allowed; the
                    // stream starts when it is.
                    StoreError::FutureRevision { .. } => Ok(()),
                    other => Err(other),
                })?;
            let events = self.shared.events.subscribe();
            let replay: Vec<_> = state
                .history
                .since(after)
                .filter(|e| e.key.starts_with(prefix))
                .cloned()
                .collect();
            (replay, events)
        };
        Ok(watch::stream(replay, events, prefix.to_owned(), after))
    }

    async fn current_revision(&self) -> Result<Revision, StoreError> {
        Ok(self.shared.read().revision)
    }

    async fn snapshot(&self, path: &Path) -> Result<Revision, StoreError> {
        let db = self.db.clone();
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || snapshot::write(&db, &path))
            .await
            .map_err(backend("snapshot task"))?
    }
}
