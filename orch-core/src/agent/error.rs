//! Errors of the node agent.
/// Why an agent step failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// An API call failed.
    #[error("API call failed: {0}")]
    Kube(#[from] kube::Error),
    /// A watch failed.
    #[error("watch failed: {0}")]
    Watch(#[from] kube::runtime::watcher::Error),
    /// A host operation (netlink, namespaces, files) failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Bad configuration or an unexpected answer.
    #[error("{0}")]
    Config(String),
}
