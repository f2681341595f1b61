//! etcd client errors as [`StoreError`]s. etcd names the two revision
//! errors only in its status message, so those are told apart by it; the
//! caller fills in the revisions etcd does not return.
use crate::store::StoreError;

/// What a failed etcd call means for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `mvcc: required revision has been compacted`.
    Compacted,
    /// `mvcc: required revision is a future revision`.
    Future,
    /// Anything else: connection, deadline, server failure.
    Other(String),
}

/// Classifies an etcd error message.
pub(crate) fn kind(message: &str) -> Kind {
    if message.contains("required revision has been compacted") {
        Kind::Compacted
    } else if message.contains("required revision is a future revision") {
        Kind::Future
    } else {
        Kind::Other(message.to_string())
    }
}

/// The store error for a failed call. Revision errors come back with the
/// revisions unknown (0); callers that can name them replace them.
pub(crate) fn from_etcd(what: &str, e: etcd_client::Error) -> StoreError {
    let message = match &e {
        etcd_client::Error::GRpcStatus(s) => s.message().to_string(),
        other => other.to_string(),
    };
    match kind(&message) {
        Kind::Compacted => StoreError::Compacted {
            requested: 0,
            oldest: 0,
        },
        Kind::Future => StoreError::FutureRevision {
            requested: 0,
            current: 0,
        },
        Kind::Other(m) => StoreError::Backend(format!("etcd {what}: {m}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_errors_are_told_apart_by_their_message() {
        assert_eq!(
            kind("etcdserver: mvcc: required revision has been compacted"),
            Kind::Compacted
        );
        assert_eq!(
            kind("etcdserver: mvcc: required revision is a future revision"),
            Kind::Future
        );
        assert!(matches!(
            kind("etcdserver: request timed out"),
            Kind::Other(_)
        ));
        let status =
            tonic::Status::out_of_range("etcdserver: mvcc: required revision has been compacted");
        assert!(matches!(
            from_etcd("range", etcd_client::Error::GRpcStatus(status)),
            StoreError::Compacted { .. }
        ));
        let down = tonic::Status::unavailable("connection refused");
        match from_etcd("txn", etcd_client::Error::GRpcStatus(down)) {
            StoreError::Backend(m) => {
                assert!(m.contains("etcd txn") && m.contains("refused"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
}
