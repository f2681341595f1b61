//! The write-ahead log that makes a write durable with one small
//! sequential append and one `fdatasync`, instead of a full redb commit.
//!
//! The log is one preallocated, zero-filled file beside the redb file, so an
//! append never changes the file's size and `fdatasync` flushes data only.
//! Records are appended from offset 0 and each carries the log's *epoch*, a
//! random number that the redb file stores at its last durable commit (a
//! checkpoint). After a checkpoint the log starts again at offset 0 with a
//! new epoch; older records left in the file then no longer match and are
//! ignored. On open, the records of the current epoch (up to the first one
//! whose checksum or epoch does not match: a torn or older write) are
//! replayed into redb.
//!
//! Record layout, little-endian: `crc32 u32 | len u32 | epoch u64 |
//! payload[len]`; the checksum covers len, epoch and the payload. The
//! payload is `count u32` then `count` times `len u32 | encoded event`.
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::store::StoreError;

/// Bytes before a record's payload.
const HEADER: usize = 16;
/// Zeros written per call while preallocating.
const FILL_CHUNK: usize = 1 << 20;

/// An open log.
#[derive(Debug)]
pub(crate) struct Wal {
    file: File,
    path: PathBuf,
    capacity: u64,
    /// Where the next record goes.
    offset: u64,
    /// The epoch new records carry.
    epoch: u64,
}

impl Wal {
    /// Opens the log at `path`, creating (and zero-filling) it at
    /// `capacity` bytes if it is missing or has another size.
    pub(crate) fn open(path: &Path, capacity: u64) -> Result<Self, StoreError> {
        let io = |what: &str, e: std::io::Error| {
            StoreError::Backend(format!("{what} {}: {e}", path.display()))
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| io("open log", e))?;
        let len = file.metadata().map_err(|e| io("stat log", e))?.len();
        if len != capacity {
            preallocate(&file, capacity).map_err(|e| io("preallocate log", e))?;
            if let Some(dir) = path.parent() {
                File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| io("sync directory of log", e))?;
            }
        }
        Ok(Self {
            file,
            path: path.to_owned(),
            capacity,
            offset: 0,
            epoch: 0,
        })
    }

    /// The payloads of the records of `epoch`, in order, from offset 0 up
    /// to the first record that is torn or of another epoch.
    pub(crate) fn read(&self, epoch: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let all = std::fs::read(&self.path)
            .map_err(|e| StoreError::Backend(format!("read log {}: {e}", self.path.display())))?;
        let mut records = Vec::new();
        let mut at = 0usize;
        while let Some(header) = all.get(at..at + HEADER) {
            let crc = u32::from_le_bytes(header[0..4].try_into().unwrap_or_default());
            let len = u32::from_le_bytes(header[4..8].try_into().unwrap_or_default()) as usize;
            let rec_epoch = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
            let Some(payload) = all.get(at + HEADER..at + HEADER + len) else {
                break;
            };
            if len == 0 || rec_epoch != epoch || checksum(&header[4..16], payload) != crc {
                break;
            }
            records.push(payload.to_vec());
            at += HEADER + len;
        }
        Ok(records)
    }

    /// Starts the log again at offset 0 with `epoch` (after a checkpoint
    /// that recorded it).
    pub(crate) fn reset(&mut self, epoch: u64) {
        self.epoch = epoch;
        self.offset = 0;
    }

    /// Bytes a record holding these encoded events takes.
    pub(crate) fn record_size(events: &[Vec<u8>]) -> u64 {
        (HEADER + 4 + events.iter().map(|e| 4 + e.len()).sum::<usize>()) as u64
    }

    /// Whether a record of `size` bytes still fits.
    pub(crate) fn fits(&self, size: u64) -> bool {
        self.offset + size <= self.capacity
    }

    /// Bytes used since the last reset.
    pub(crate) fn used(&self) -> u64 {
        self.offset
    }

    /// The size of the file.
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Appends one record with `events` and waits until it is on disk. The
    /// caller checks [`Wal::fits`] first.
    pub(crate) fn append(&mut self, events: &[Vec<u8>]) -> Result<(), StoreError> {
        let record = encode(self.epoch, events)?;
        let io = |what: &str, e: std::io::Error| {
            StoreError::Backend(format!("{what} {}: {e}", self.path.display()))
        };
        self.file
            .write_all_at(&record, self.offset)
            .map_err(|e| io("append to log", e))?;
        self.file.sync_data().map_err(|e| io("sync log", e))?;
        self.offset += record.len() as u64;
        Ok(())
    }
}

/// A fresh, non-zero epoch.
pub(crate) fn new_epoch() -> u64 {
    rand::random::<u64>().max(1)
}

/// Splits a record payload back into encoded events.
pub(crate) fn events(payload: &[u8]) -> Result<Vec<&[u8]>, String> {
    let take = |at: usize, n: usize| payload.get(at..at + n).ok_or("truncated record");
    let count = u32::from_le_bytes(take(0, 4)?.try_into().unwrap_or_default());
    let mut at = 4;
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let len = u32::from_le_bytes(take(at, 4)?.try_into().unwrap_or_default()) as usize;
        out.push(take(at + 4, len)?);
        at += 4 + len;
    }
    if at != payload.len() {
        return Err(format!("{} trailing bytes in record", payload.len() - at));
    }
    Ok(out)
}

fn encode(epoch: u64, events: &[Vec<u8>]) -> Result<Vec<u8>, StoreError> {
    let too_big = || StoreError::Backend("a log record over 4 GiB".into());
    let size = Wal::record_size(events) as usize;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&[0; 4]);
    let len = u32::try_from(size - HEADER).map_err(|_| too_big())?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&epoch.to_le_bytes());
    let count = u32::try_from(events.len()).map_err(|_| too_big())?;
    out.extend_from_slice(&count.to_le_bytes());
    for event in events {
        let len = u32::try_from(event.len()).map_err(|_| too_big())?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(event);
    }
    let crc = checksum(&out[4..HEADER], &out[HEADER..]);
    out[0..4].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

fn checksum(header: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header);
    h.update(payload);
    h.finalize()
}

/// Writes `capacity` zero bytes from the start and syncs them, so later
/// appends overwrite allocated blocks in place.
fn preallocate(file: &File, capacity: u64) -> std::io::Result<()> {
    file.set_len(0)?;
    let zeros = vec![0u8; FILL_CHUNK];
    let mut at = 0u64;
    while at < capacity {
        let n = (capacity - at).min(FILL_CHUNK as u64) as usize;
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> Wal {
        Wal::open(&dir.join("store.wal"), 4096).unwrap()
    }

    #[test]
    fn records_of_the_epoch_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = open(dir.path());
        wal.reset(7);
        wal.append(&[b"a".to_vec(), b"bc".to_vec()]).unwrap();
        wal.append(&[b"d".to_vec()]).unwrap();
        let again = open(dir.path());
        let records = again.read(7).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(events(&records[0]).unwrap(), [&b"a"[..], &b"bc"[..]]);
        assert_eq!(events(&records[1]).unwrap(), [&b"d"[..]]);
        assert!(again.read(8).unwrap().is_empty(), "another epoch");
    }

    #[test]
    fn after_a_reset_older_records_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = open(dir.path());
        wal.reset(1);
        for _ in 0..3 {
            wal.append(&[vec![1; 100]]).unwrap();
        }
        wal.reset(2);
        wal.append(&[vec![2; 10]]).unwrap();
        let records = open(dir.path()).read(2).unwrap();
        assert_eq!(records.len(), 1, "stops at the first record of epoch 1");
    }

    #[test]
    fn a_torn_record_ends_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = open(dir.path());
        wal.reset(3);
        wal.append(&[vec![1; 50]]).unwrap();
        let second = wal.used();
        wal.append(&[vec![2; 50]]).unwrap();
        wal.append(&[vec![3; 50]]).unwrap();
        // Flip one payload byte of the second record.
        wal.file.write_all_at(&[9], second + 30).unwrap();
        assert_eq!(open(dir.path()).read(3).unwrap().len(), 1);
    }

    #[test]
    fn a_file_of_another_size_is_preallocated_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.wal");
        std::fs::write(&path, b"junk").unwrap();
        let wal = Wal::open(&path, 8192).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 8192);
        assert!(wal.read(0).unwrap().is_empty(), "zeros are no record");
        assert!(wal.fits(8192) && !wal.fits(8193));
    }

    #[test]
    fn garbage_payloads_are_errors_not_panics() {
        assert!(events(&[]).is_err());
        assert!(events(&[1, 0, 0, 0, 5, 0, 0, 0, 1]).is_err());
        assert!(events(&[0, 0, 0, 0, 1]).is_err());
        assert_eq!(events(&[0, 0, 0, 0]).unwrap().len(), 0);
    }
}
