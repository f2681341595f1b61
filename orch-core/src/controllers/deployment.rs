//! Placeholder: the deployment controller is being written.
use super::{ControllerError, ControllerOptions};

/// Runs the deployment controller.
pub async fn run(_client: kube::Client, _opts: ControllerOptions) -> Result<(), ControllerError> {
    std::future::pending().await
}
