//! The redb file layout: table definitions, the binary record format, and
//! loading the whole file into memory on open.
//!
//! Three tables:
//! - `kv`: key → [`Entry`] (`create_revision`, `mod_revision`, value);
//! - `events`: revision → [`Event`] (the watch history, with prev values);
//! - `meta`: `format`, `revision` (the current revision), `compacted`
//!   (every event up to this revision has been pruned) and `wal_epoch` (the
//!   write-ahead log epoch that follows the last durable commit).
//!
//! Records start with a format byte. Anything that does not decode is
//! reported as [`StoreError::Backend`], never a panic.
use std::collections::{BTreeMap, HashMap};
use std::ops::RangeInclusive;
use std::sync::Arc;

use bytes::Bytes;
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};

use super::state::{Entry, Event};
use crate::store::{EventKind, Revision, StoreError};

/// Live keys and their values.
pub(crate) const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
/// The persisted watch history, keyed by revision.
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// Counters: see the `META_*` keys.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Meta key: the file format version.
pub(crate) const META_FORMAT: &str = "format";
/// Meta key: the latest revision written.
pub(crate) const META_REVISION: &str = "revision";
/// Meta key: the newest revision whose event has been pruned.
pub(crate) const META_COMPACTED: &str = "compacted";
/// The epoch of the write-ahead log records that follow this file's last
/// durable commit (see `wal`).
pub(crate) const META_WAL_EPOCH: &str = "wal_epoch";

/// The file format this code reads and writes.
const FORMAT: u64 = 1;
/// The first byte of every record.
const RECORD_VERSION: u8 = 1;

/// Maps any displayable error to [`StoreError::Backend`] with some context.
pub(crate) fn backend<E: std::fmt::Display>(context: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Backend(format!("{context}: {e}"))
}

/// Creates the tables and the format marker if the file is new, and checks
/// the format of an existing file.
pub(crate) fn init(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(backend("begin init"))?;
    {
        txn.open_table(KV).map_err(backend("open kv table"))?;
        txn.open_table(EVENTS)
            .map_err(backend("open events table"))?;
        let mut meta = txn.open_table(META).map_err(backend("open meta table"))?;
        let format = meta
            .get(META_FORMAT)
            .map_err(backend("read format"))?
            .map(|g| g.value());
        match format {
            None => {
                meta.insert(META_FORMAT, FORMAT)
                    .map_err(backend("write format"))?;
            }
            Some(FORMAT) => {}
            Some(other) => {
                return Err(StoreError::Backend(format!(
                    "unsupported store format {other} (this build reads {FORMAT})"
                )))
            }
        }
    }
    txn.commit().map_err(backend("commit init"))
}

/// Commits a batch of events and the pruning of the oldest history in one
/// transaction. With `epoch` (a checkpoint) the commit is synced and
/// records that log epoch as the one that follows it; without, it is not
/// synced (the write-ahead log made the batch durable). Each event's
/// encoding is in `encoded`, in the same order.
pub(crate) fn commit_batch(
    db: &Database,
    events: &[Arc<Event>],
    encoded: &[Vec<u8>],
    prune: RangeInclusive<Revision>,
    epoch: Option<u64>,
) -> Result<(), StoreError> {
    let mut txn = db.begin_write().map_err(backend("begin write"))?;
    let durability = match epoch {
        Some(_) => Durability::Immediate,
        None => Durability::None,
    };
    txn.set_durability(durability)
        .map_err(backend("set durability"))?;
    write_batch(&txn, events, encoded, prune, epoch)?;
    txn.commit().map_err(backend("commit"))
}

fn write_batch(
    txn: &WriteTransaction,
    events: &[Arc<Event>],
    encoded: &[Vec<u8>],
    prune: RangeInclusive<Revision>,
    epoch: Option<u64>,
) -> Result<(), StoreError> {
    let mut kv = txn.open_table(KV).map_err(backend("open kv table"))?;
    let mut history = txn
        .open_table(EVENTS)
        .map_err(backend("open events table"))?;
    let mut meta = txn.open_table(META).map_err(backend("open meta table"))?;
    for (event, record) in events.iter().zip(encoded) {
        match event.kind {
            EventKind::Put => {
                kv.insert(&*event.key, encode_entry(&event.kv).as_slice())
                    .map_err(backend("write key"))?;
            }
            EventKind::Delete => {
                kv.remove(&*event.key).map_err(backend("delete key"))?;
            }
        }
        history
            .insert(event.revision(), record.as_slice())
            .map_err(backend("write event"))?;
    }
    if !prune.is_empty() {
        for revision in prune.clone() {
            history.remove(revision).map_err(backend("prune event"))?;
        }
        meta.insert(META_COMPACTED, *prune.end())
            .map_err(backend("write compacted"))?;
    }
    if let Some(last) = events.last() {
        meta.insert(META_REVISION, last.revision())
            .map_err(backend("write revision"))?;
    }
    if let Some(epoch) = epoch {
        meta.insert(META_WAL_EPOCH, epoch)
            .map_err(backend("write log epoch"))?;
    }
    Ok(())
}

/// A prune range with nothing in it.
pub(crate) fn no_prune() -> RangeInclusive<Revision> {
    RangeInclusive::new(1, 0)
}

/// The revision and the log epoch of the last durable commit.
pub(crate) fn durable_point(db: &Database) -> Result<(Revision, u64), StoreError> {
    let txn = db.begin_read().map_err(backend("begin read"))?;
    let meta = txn.open_table(META).map_err(backend("open meta table"))?;
    let get = |name: &str| -> Result<u64, StoreError> {
        Ok(meta
            .get(name)
            .map_err(backend("read meta"))?
            .map_or(0, |g| g.value()))
    };
    Ok((get(META_REVISION)?, get(META_WAL_EPOCH)?))
}

/// Everything read back from the file on open.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The live keys.
    pub mirror: BTreeMap<Arc<str>, Entry>,
    /// The history, oldest first, contiguous after `compacted`.
    pub events: Vec<Arc<Event>>,
    /// The current revision.
    pub revision: Revision,
    /// The newest pruned revision.
    pub compacted: Revision,
}

/// Reads the whole store. Values that appear both in the history and in the
/// live keys are shared, not duplicated.
pub(crate) fn load(db: &Database) -> Result<Loaded, StoreError> {
    let txn = db.begin_read().map_err(backend("begin load"))?;
    let meta = txn.open_table(META).map_err(backend("open meta table"))?;
    let get_meta = |name: &str| -> Result<u64, StoreError> {
        Ok(meta
            .get(name)
            .map_err(backend("read meta"))?
            .map(|g| g.value())
            .unwrap_or(0))
    };
    let revision = get_meta(META_REVISION)?;
    let compacted = get_meta(META_COMPACTED)?;
    if compacted > revision {
        return Err(StoreError::Backend(format!(
            "corrupt meta: compacted revision {compacted} is after the current revision {revision}"
        )));
    }

    // The latest value seen per key while walking the history, to share
    // the bytes of `prev` and of the live entry with it.
    let mut latest: HashMap<Arc<str>, Entry> = HashMap::new();
    let mut events = Vec::new();
    let table = txn
        .open_table(EVENTS)
        .map_err(backend("open events table"))?;
    let mut expected = compacted + 1;
    for row in table.iter().map_err(backend("scan events"))? {
        let (rev, record) = row.map_err(backend("read event"))?;
        let rev = rev.value();
        if rev != expected {
            return Err(StoreError::Backend(format!(
                "corrupt history: expected event {expected}, found {rev}"
            )));
        }
        let mut event = decode_event(record.value())
            .map_err(|e| StoreError::Backend(format!("corrupt event {rev}: {e}")))?;
        if event.revision() != rev {
            return Err(StoreError::Backend(format!(
                "corrupt event {rev}: it carries revision {}",
                event.revision()
            )));
        }
        if let Some((key, last)) = latest.get_key_value(&*event.key) {
            event.key = key.clone();
            if let Some(prev) = &mut event.prev {
                share(prev, last);
            }
        }
        if event.kind == EventKind::Delete {
            if let Some(prev) = &event.prev {
                if prev.value == event.kv.value {
                    event.kv.value = prev.value.clone();
                }
            }
        }
        latest.insert(event.key.clone(), event.kv.clone());
        events.push(Arc::new(event));
        expected += 1;
    }
    if expected != revision + 1 {
        return Err(StoreError::Backend(format!(
            "corrupt history: events end at {}, the current revision is {revision}",
            expected - 1
        )));
    }

    let mut mirror = BTreeMap::new();
    let table = txn.open_table(KV).map_err(backend("open kv table"))?;
    for row in table.iter().map_err(backend("scan kv"))? {
        let (key, record) = row.map_err(backend("read kv"))?;
        let key = key.value();
        let mut entry = decode_entry(record.value())
            .map_err(|e| StoreError::Backend(format!("corrupt record for key {key}: {e}")))?;
        if entry.mod_revision > revision || entry.create_revision > entry.mod_revision {
            return Err(StoreError::Backend(format!(
                "corrupt record for key {key}: revisions {}/{} (current {revision})",
                entry.create_revision, entry.mod_revision
            )));
        }
        let key = match latest.get_key_value(key) {
            Some((shared, last)) => {
                share(&mut entry, last);
                shared.clone()
            }
            None => Arc::from(key),
        };
        mirror.insert(key, entry);
    }
    Ok(Loaded {
        mirror,
        events,
        revision,
        compacted,
    })
}

/// Makes `entry` reuse the bytes of `other` when both are the same version.
fn share(entry: &mut Entry, other: &Entry) {
    if entry.mod_revision == other.mod_revision && entry.value == other.value {
        entry.value = other.value.clone();
    }
}

/// Encodes a live entry: version, create_revision, mod_revision, value.
pub(crate) fn encode_entry(entry: &Entry) -> Vec<u8> {
    let mut out = Vec::with_capacity(17 + entry.value.len());
    out.push(RECORD_VERSION);
    out.extend_from_slice(&entry.create_revision.to_le_bytes());
    out.extend_from_slice(&entry.mod_revision.to_le_bytes());
    out.extend_from_slice(&entry.value);
    out
}

/// Decodes [`encode_entry`].
pub(crate) fn decode_entry(buf: &[u8]) -> Result<Entry, String> {
    let mut d = Decoder { buf };
    d.version()?;
    let create_revision = d.u64()?;
    let mod_revision = d.u64()?;
    let value = Bytes::copy_from_slice(d.buf);
    Ok(Entry {
        value,
        create_revision,
        mod_revision,
    })
}

/// Encodes a history event: version, kind, time, key, kv, optional prev.
pub(crate) fn encode_event(event: &Event) -> Result<Vec<u8>, StoreError> {
    let prev_len = event.prev.as_ref().map_or(0, |p| 20 + p.value.len());
    let mut out = Vec::with_capacity(43 + event.key.len() + event.kv.value.len() + prev_len);
    out.push(RECORD_VERSION);
    out.push(match event.kind {
        EventKind::Put => 0,
        EventKind::Delete => 1,
    });
    out.extend_from_slice(&event.unix_ms.to_le_bytes());
    put_bytes(&mut out, event.key.as_bytes())?;
    put_entry(&mut out, &event.kv)?;
    match &event.prev {
        None => out.push(0),
        Some(prev) => {
            out.push(1);
            put_entry(&mut out, prev)?;
        }
    }
    Ok(out)
}

/// Decodes [`encode_event`].
pub(crate) fn decode_event(buf: &[u8]) -> Result<Event, String> {
    let mut d = Decoder { buf };
    d.version()?;
    let kind = match d.u8()? {
        0 => EventKind::Put,
        1 => EventKind::Delete,
        other => return Err(format!("unknown event kind {other}")),
    };
    let unix_ms = d.u64()?;
    let key = std::str::from_utf8(d.bytes()?).map_err(|e| format!("key is not UTF-8: {e}"))?;
    let key: Arc<str> = Arc::from(key);
    let kv = d.entry()?;
    let prev = match d.u8()? {
        0 => None,
        1 => Some(d.entry()?),
        other => return Err(format!("bad prev marker {other}")),
    };
    if !d.buf.is_empty() {
        return Err(format!("{} trailing bytes", d.buf.len()));
    }
    Ok(Event {
        kind,
        key,
        kv,
        prev,
        unix_ms,
    })
}

fn put_entry(out: &mut Vec<u8>, entry: &Entry) -> Result<(), StoreError> {
    out.extend_from_slice(&entry.create_revision.to_le_bytes());
    out.extend_from_slice(&entry.mod_revision.to_le_bytes());
    put_bytes(out, &entry.value)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), StoreError> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| StoreError::Backend(format!("value of {} bytes is too large", bytes.len())))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// Reads a record front to back; every read checks the length left.
struct Decoder<'a> {
    buf: &'a [u8],
}

impl<'a> Decoder<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.buf.len() < n {
            return Err(format!(
                "truncated record: need {n} bytes, {} left",
                self.buf.len()
            ));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn version(&mut self) -> Result<(), String> {
        match self.u8()? {
            RECORD_VERSION => Ok(()),
            other => Err(format!("unknown record version {other}")),
        }
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, String> {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(raw))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let mut raw = [0u8; 4];
        raw.copy_from_slice(self.take(4)?);
        let len = usize::try_from(u32::from_le_bytes(raw)).map_err(|e| e.to_string())?;
        self.take(len)
    }

    fn entry(&mut self) -> Result<Entry, String> {
        let create_revision = self.u64()?;
        let mod_revision = self.u64()?;
        let value = Bytes::copy_from_slice(self.bytes()?);
        Ok(Entry {
            value,
            create_revision,
            mod_revision,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(value: &[u8], c: u64, m: u64) -> Entry {
        Entry {
            value: Bytes::copy_from_slice(value),
            create_revision: c,
            mod_revision: m,
        }
    }

    #[test]
    fn entry_round_trip() {
        let e = entry(b"hello", 3, 7);
        let d = decode_entry(&encode_entry(&e)).unwrap();
        assert_eq!(
            (d.value, d.create_revision, d.mod_revision),
            (e.value, 3, 7)
        );
    }

    #[test]
    fn event_round_trip() {
        let ev = Event {
            kind: EventKind::Delete,
            key: Arc::from("/a/b"),
            kv: entry(b"v", 2, 9),
            prev: Some(entry(b"v", 2, 5)),
            unix_ms: 1234,
        };
        let d = decode_event(&encode_event(&ev).unwrap()).unwrap();
        assert_eq!(d.kind, EventKind::Delete);
        assert_eq!(&*d.key, "/a/b");
        assert_eq!(d.kv.mod_revision, 9);
        assert_eq!(d.prev.unwrap().mod_revision, 5);
        assert_eq!(d.unix_ms, 1234);
    }

    #[test]
    fn corrupt_records_are_errors() {
        assert!(decode_entry(&[]).is_err());
        assert!(decode_entry(&[9; 20]).is_err());
        assert!(decode_entry(&[1, 0, 0]).is_err());
        let ev = Event {
            kind: EventKind::Put,
            key: Arc::from("/k"),
            kv: entry(b"value", 1, 1),
            prev: None,
            unix_ms: 0,
        };
        let raw = encode_event(&ev).unwrap();
        for cut in 0..raw.len() {
            assert!(decode_event(&raw[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad_kind = raw.clone();
        bad_kind[1] = 7;
        assert!(decode_event(&bad_kind).is_err());
        let mut huge_len = raw;
        huge_len[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_event(&huge_len).is_err());
    }
}
