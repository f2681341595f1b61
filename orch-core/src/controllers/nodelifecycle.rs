//! Placeholder: the nodelifecycle controller is being written.
use super::{ControllerError, ControllerOptions};

/// Runs the nodelifecycle controller.
pub async fn run(_client: kube::Client, _opts: ControllerOptions) -> Result<(), ControllerError> {
    std::future::pending().await
}
