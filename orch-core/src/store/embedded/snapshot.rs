//! Snapshots: a consistent copy of the store into a new redb file, taken from
//! one read transaction while writes go on.
//!
//! The copy holds the keys, the revision counters and the history, so it
//! opens as a store at the same revision.
use std::path::Path;

use redb::{Builder, Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::tables::{backend, EVENTS, KV, META, META_REVISION, META_WAL_EPOCH};
use super::wal;
use crate::store::{Revision, StoreError};

/// Writes the last committed state of `db` to a new file at `path` (which
/// must not exist) and returns the revision copied. A failed copy is removed.
pub(crate) fn write(db: &Database, path: &Path) -> Result<Revision, StoreError> {
    std::fs::File::create_new(path)
        .map_err(|e| StoreError::Backend(format!("create snapshot {}: {e}", path.display())))?;
    let result = copy(db, path);
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

fn copy(db: &Database, path: &Path) -> Result<Revision, StoreError> {
    let source = db.begin_read().map_err(backend("begin snapshot read"))?;
    let target = Builder::new()
        .set_cache_size(4 << 20)
        .create(path)
        .map_err(backend("create snapshot file"))?;
    let txn = target
        .begin_write()
        .map_err(backend("begin snapshot write"))?;
    copy_table(&source, &txn, KV)?;
    copy_table(&source, &txn, EVENTS)?;
    copy_table(&source, &txn, META)?;
    // The copy has no log of its own: give it an epoch no log file holds.
    txn.open_table(META)
        .map_err(backend("open snapshot meta"))?
        .insert(META_WAL_EPOCH, wal::new_epoch())
        .map_err(backend("write log epoch"))?;
    txn.commit().map_err(backend("commit snapshot"))?;
    let meta = source
        .open_table(META)
        .map_err(backend("open meta table"))?;
    let revision = meta
        .get(META_REVISION)
        .map_err(backend("read revision"))?
        .map_or(0, |g| g.value());
    Ok(revision)
}

fn copy_table<K, V>(
    source: &redb::ReadTransaction,
    target: &redb::WriteTransaction,
    table: TableDefinition<K, V>,
) -> Result<(), StoreError>
where
    K: redb::Key + 'static,
    V: redb::Value + 'static,
{
    let from = source
        .open_table(table)
        .map_err(backend("open source table"))?;
    let mut to = target
        .open_table(table)
        .map_err(backend("open snapshot table"))?;
    for row in from.iter().map_err(backend("scan table"))? {
        let (key, value) = row.map_err(backend("read row"))?;
        to.insert(key.value(), value.value())
            .map_err(backend("write row"))?;
    }
    Ok(())
}
