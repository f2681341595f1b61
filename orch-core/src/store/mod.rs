//! The durable key-value store under the API server, shaped like etcd's KV +
//! Watch so that an etcd backend can drop in beside the embedded one.
//!
//! - Every write bumps one global revision; a key's `mod_revision` becomes
//!   the object's `resourceVersion`.
//! - `create`, `update` and `delete` are compare-and-swap.
//! - `list` reads one consistent snapshot at one revision, page by page.
//! - `watch` streams every change after a revision, in revision order, with
//!   a history window; older revisions answer [`StoreError::Compacted`].
//! - A write returns only after it is durable.
//!
//! Only the API server uses this module.
pub mod conformance;
pub mod embedded;
mod error;
pub mod etcd;
pub mod migrate;

use std::pin::Pin;

use futures::Stream;

pub use error::StoreError;

/// A global, strictly increasing write counter. Revision 0 means "nothing".
pub type Revision = u64;

/// One stored key and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The full key, for example `/registry/pods/default/web-1`.
    pub key: String,
    /// The value bytes (JSON for API objects).
    pub value: Vec<u8>,
    /// Revision of the write that created this key.
    pub create_revision: Revision,
    /// Revision of the last write to this key.
    pub mod_revision: Revision,
}

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Created or updated.
    Put,
    /// Deleted.
    Delete,
}

/// One change, as a watch reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    /// Put or delete.
    pub kind: EventKind,
    /// For a put: the new key-value. For a delete: the last value the key
    /// had, with `mod_revision` set to the revision of the delete.
    pub kv: KeyValue,
    /// The value before this change (`None` for a create).
    pub prev: Option<KeyValue>,
}

impl WatchEvent {
    /// The revision at which this change happened.
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    /// Items in key order.
    pub items: Vec<KeyValue>,
    /// The revision the whole list is read at.
    pub revision: Revision,
    /// Whether more items follow the last one returned.
    pub more: bool,
}

/// How to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Only keys that start with this prefix.
    pub prefix: String,
    /// Only keys strictly greater than this one (paging).
    pub start_after: Option<String>,
    /// At most this many items; 0 means no limit.
    pub limit: usize,
    /// Read at this revision (paging through one snapshot). `None` reads at
    /// the current revision. Too old → [`StoreError::Compacted`]; newer than
    /// current → [`StoreError::FutureRevision`].
    pub revision: Option<Revision>,
}

/// A stream of watch events. It ends only when the store shuts down or the
/// watcher falls too far behind (then it yields [`StoreError::Compacted`]).
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchEvent, StoreError>> + Send>>;

/// The store contract; the embedded (redb) and etcd backends implement it.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads one key at the current revision.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError>;

    /// Reads a page of keys at one revision.
    async fn list(&self, opts: &ListOptions) -> Result<ListPage, StoreError>;

    /// Creates `key`; [`StoreError::AlreadyExists`] if it exists.
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue, StoreError>;

    /// Replaces `key` if its `mod_revision` is still `expected`;
    /// [`StoreError::Conflict`] if not, [`StoreError::NotFound`] if absent.
    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expected: Revision,
    ) -> Result<KeyValue, StoreError>;

    /// Deletes `key`, if `expected` is `Some`, only while its mod_revision
    /// still matches. Returns the deleted value with `mod_revision` set to
    /// the revision of the delete.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue, StoreError>;

    /// Streams every change to keys under `prefix` with a revision strictly
    /// greater than `after`. [`StoreError::Compacted`] if `after` is older
    /// than the history kept.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream, StoreError>;

    /// The latest revision written.
    async fn current_revision(&self) -> Result<Revision, StoreError>;

    /// Writes a consistent copy of the whole store to `path` while serving.
    async fn snapshot(&self, path: &std::path::Path) -> Result<Revision, StoreError>;
}

/// Items per page when [`list_all`] pages through a store.
const LIST_ALL_PAGE: usize = 1000;

/// Every key under `prefix`, read page by page at one revision (the
/// revision of the first page), with that revision.
pub async fn list_all<S: Store + ?Sized>(
    store: &S,
    prefix: &str,
) -> Result<(Vec<KeyValue>, Revision), StoreError> {
    let mut opts = ListOptions {
        prefix: prefix.to_string(),
        limit: LIST_ALL_PAGE,
        ..Default::default()
    };
    let mut items = Vec::new();
    loop {
        let page = store.list(&opts).await?;
        let revision = page.revision;
        items.extend(page.items);
        match (page.more, items.last()) {
            (true, Some(last)) => {
                opts.start_after = Some(last.key.clone());
                opts.revision = Some(revision);
            }
            _ => return Ok((items, revision)),
        }
    }
}
