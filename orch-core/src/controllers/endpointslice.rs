//! Placeholder: the endpointslice controller is being written.
use super::{ControllerError, ControllerOptions};

/// Runs the endpointslice controller.
pub async fn run(_client: kube::Client, _opts: ControllerOptions) -> Result<(), ControllerError> {
    std::future::pending().await
}
