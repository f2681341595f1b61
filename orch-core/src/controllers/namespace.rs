//! Placeholder: the namespace controller is being written.
use super::{ControllerError, ControllerOptions};

/// Runs the namespace controller.
pub async fn run(_client: kube::Client, _opts: ControllerOptions) -> Result<(), ControllerError> {
    std::future::pending().await
}
