//! Store errors, one variant per outcome the API server maps to a Status.
use super::Revision;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The key does not exist.
    #[error("key {0} not found")]
    NotFound(String),
    /// The key already exists (create).
    #[error("key {0} already exists")]
    AlreadyExists(String),
    /// The key's mod_revision is not the one expected.
    #[error("key {key}: expected revision {expected}, found {actual}")]
    Conflict {
        /// The key.
        key: String,
        /// The revision the caller expected.
        expected: Revision,
        /// The key's current revision.
        actual: Revision,
    },
    /// The revision asked for is older than the history kept.
    #[error("revision {requested} is compacted; the oldest kept is {oldest}")]
    Compacted {
        /// The revision asked for.
        requested: Revision,
        /// The oldest revision still available.
        oldest: Revision,
    },
    /// The revision asked for has not been written yet.
    #[error("revision {requested} is newer than the current revision {current}")]
    FutureRevision {
        /// The revision asked for.
        requested: Revision,
        /// The current revision.
        current: Revision,
    },
    /// The store file is open in another process (a running server).
    #[error("{0} is open in another process (is an orch server running on it?)")]
    InUse(std::path::PathBuf),
    /// The backend failed (I/O, corruption, connection).
    #[error("store backend: {0}")]
    Backend(String),
}
