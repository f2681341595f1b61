//! Moving a cluster from the embedded store to etcd (`orch server
//! migrate`): every key of a store no server holds, read at one revision,
//! is created unchanged in an etcd that has nothing under `/registry/`, a
//! bounded number of writes at a time; then both stores are listed again
//! and compared key by key and byte by byte ([`compare`]).
//!
//! Stored values carry no resourceVersion: the API server strips it
//! before a write and stamps the key's `mod_revision` when it reads, so
//! objects read through a server on etcd get etcd's revisions, and updates
//! with those work. Nothing else in a value refers to a store revision.
//! What clients still hold from the old store is dealt with by moving
//! etcd's revision past it ([`EtcdStore::bump_revision`]).
//!
//! [`EtcdStore::bump_revision`]: crate::store::etcd::EtcdStore::bump_revision
mod compare;

use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};

pub use self::compare::{compare, resource_of, Comparison, Counts, Difference};
use super::{
    embedded::{EmbeddedOptions, EmbeddedStore, FILE_NAME},
    list_all, Revision, Store, StoreError,
};

/// Where the API server keeps its objects; etcd must have nothing here.
pub const REGISTRY: &str = "/registry/";

/// Writes to etcd in flight at once by default.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// Why a migration stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The data directory has no store file.
    #[error("no embedded store in {}: {FILE_NAME} is missing", .0.display())]
    NoStore(PathBuf),
    /// A server holds the store.
    #[error(
        "the embedded store in {} is in use: stop the orch server running on this data directory first",
        .0.display()
    )]
    ServerRunning(PathBuf),
    /// The store file could not be opened.
    #[error("opening the embedded store in {}: {source}", dir.display())]
    Open {
        /// The data directory.
        dir: PathBuf,
        /// What the store said.
        source: StoreError,
    },
    /// etcd already holds objects.
    #[error(
        "etcd already holds {0} keys under {REGISTRY}; migrate only fills an empty etcd, so nothing there is overwritten"
    )]
    TargetNotEmpty(usize),
    /// A list failed.
    #[error("reading the {store} store: {source}")]
    Read {
        /// Which store: embedded or etcd.
        store: &'static str,
        /// What the store said.
        source: StoreError,
    },
    /// A create in etcd failed.
    #[error("writing {key} to etcd: {source}")]
    Write {
        /// The key.
        key: String,
        /// What etcd said.
        source: StoreError,
    },
}

/// What [`copy`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// The source revision every key was read at.
    pub revision: Revision,
    /// How many keys were created in the target.
    pub keys: usize,
}

/// Opens the embedded store in the data directory `dir` for a migration:
/// an error if it has none (nothing is created) or if a server holds it.
/// This blocks on file I/O (the write-ahead log is replayed as on a
/// server start).
pub fn open_embedded(dir: &Path) -> Result<EmbeddedStore, MigrateError> {
    if !dir.join(FILE_NAME).is_file() {
        return Err(MigrateError::NoStore(dir.to_owned()));
    }
    EmbeddedStore::open_dir(dir, EmbeddedOptions::default()).map_err(|e| match e {
        StoreError::InUse(_) => MigrateError::ServerRunning(dir.to_owned()),
        source => MigrateError::Open {
            dir: dir.to_owned(),
            source,
        },
    })
}

/// Copies every key of `source`, read at one revision, into `target`
/// with `create`, at most `concurrency` writes at a time. Refuses a target
/// with any key under [`REGISTRY`]; a key the target has elsewhere stops
/// the copy (create never overwrites).
pub async fn copy(
    source: &dyn Store,
    target: &dyn Store,
    concurrency: usize,
) -> Result<Copied, MigrateError> {
    let (existing, _) = list_all(target, REGISTRY).await.map_err(read("etcd"))?;
    if !existing.is_empty() {
        return Err(MigrateError::TargetNotEmpty(existing.len()));
    }
    let (items, revision) = list_all(source, "").await.map_err(read("embedded"))?;
    let keys = items.len();
    futures::stream::iter(items)
        .map(|kv| async move {
            target
                .create(&kv.key, kv.value)
                .await
                .map(drop)
                .map_err(|source| MigrateError::Write {
                    key: kv.key,
                    source,
                })
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<()>()
        .await?;
    Ok(Copied { revision, keys })
}

/// Lists both stores again and compares them (see [`compare`]).
pub async fn verify(source: &dyn Store, target: &dyn Store) -> Result<Comparison, MigrateError> {
    let (from, _) = list_all(source, "").await.map_err(read("embedded"))?;
    let (to, _) = list_all(target, "").await.map_err(read("etcd"))?;
    Ok(compare(&from, &to))
}

fn read(store: &'static str) -> impl Fn(StoreError) -> MigrateError {
    move |source| MigrateError::Read { store, source }
}

#[cfg(test)]
mod tests;
