//! The errors of orch-dns. Each names the flag, file or address at fault.
use std::{net::SocketAddr, path::PathBuf};

/// Everything that can stop orch-dns from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// A command-line value is not valid.
    #[error("--{flag}: {value:?} is not valid: {reason}")]
    BadFlag {
        /// The flag, without dashes.
        flag: &'static str,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The kubeconfig could not be loaded.
    #[error("kubeconfig {path}: {reason}")]
    Kubeconfig {
        /// The file, or `in-cluster` for the inferred configuration.
        path: String,
        /// The cause.
        reason: String,
    },
    /// The Kubernetes client failed.
    #[error("kubernetes client: {0}")]
    Kube(#[from] kube::Error),
    /// A socket could not be set up.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The forwarder could not be built.
    #[error("forwarder: {0}")]
    Forwarder(String),
}

impl DnsError {
    /// A [`DnsError::BadFlag`].
    pub fn flag(flag: &'static str, value: impl Into<String>, reason: impl ToString) -> Self {
        Self::BadFlag {
            flag,
            value: value.into(),
            reason: reason.to_string(),
        }
    }
}
