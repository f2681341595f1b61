//! Placeholder: the replicaset controller is being written.
use super::{ControllerError, ControllerOptions};

/// Runs the replicaset controller.
pub async fn run(_client: kube::Client, _opts: ControllerOptions) -> Result<(), ControllerError> {
    std::future::pending().await
}
