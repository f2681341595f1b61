//! Bringing the redb file up to date on open: the writes that were made
//! durable by the write-ahead log after the file's last synced commit are
//! written into the file again, then the file is synced with a new log
//! epoch and the log starts empty.
use std::path::Path;
use std::sync::Arc;

use redb::Database;

use super::tables::{commit_batch, decode_event, durable_point, no_prune};
use super::wal::{self, Wal};
use crate::store::StoreError;

/// Opens the log at `path`, replays it into `db` and returns it ready for
/// appends, with how many writes were replayed.
pub(crate) fn recover(
    db: &Database,
    path: &Path,
    capacity: u64,
) -> Result<(Wal, usize), StoreError> {
    let mut log = Wal::open(path, capacity)?;
    let (revision, epoch) = durable_point(db)?;
    let mut events = Vec::new();
    let mut encoded = Vec::new();
    if epoch != 0 {
        let corrupt = |what: String| {
            StoreError::Backend(format!(
                "corrupt write-ahead log {}: {what}",
                path.display()
            ))
        };
        for record in log.read(epoch)? {
            for bytes in wal::events(&record).map_err(corrupt)? {
                let event = decode_event(bytes).map_err(corrupt)?;
                if event.revision() <= revision {
                    continue;
                }
                let expected = revision + events.len() as u64 + 1;
                if event.revision() != expected {
                    return Err(corrupt(format!(
                        "expected revision {expected}, found {}",
                        event.revision()
                    )));
                }
                events.push(Arc::new(event));
                encoded.push(bytes.to_vec());
            }
        }
    }
    let next = wal::new_epoch();
    commit_batch(db, &events, &encoded, no_prune(), Some(next))?;
    log.reset(next);
    Ok((log, events.len()))
}
