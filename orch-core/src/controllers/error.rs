//! Errors a controller loop can end with; `runtime::supervise` restarts it.
/// Why a controller loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// An API call failed.
    #[error("API call failed: {0}")]
    Kube(#[from] kube::Error),
    /// A watch failed.
    #[error("watch failed: {0}")]
    Watch(#[from] kube::runtime::watcher::Error),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}
