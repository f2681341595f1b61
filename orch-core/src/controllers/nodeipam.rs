//! Placeholder: the nodeipam controller is being written.
use super::{ControllerError, ControllerOptions};

/// Runs the nodeipam controller.
pub async fn run(_client: kube::Client, _opts: ControllerOptions) -> Result<(), ControllerError> {
    std::future::pending().await
}
