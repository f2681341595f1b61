//! Placeholder: the scheduler is being written.
use std::time::Duration;

/// Scheduler settings.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Name of this scheduler (`spec.schedulerName` it serves).
    pub name: String,
    /// Initial backoff of unschedulable pods.
    pub initial_backoff: Duration,
    /// Maximum backoff of unschedulable pods.
    pub max_backoff: Duration,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self { name: "default-scheduler".into(), initial_backoff: Duration::from_secs(1), max_backoff: Duration::from_secs(10) }
    }
}

/// Runs the scheduler.
pub async fn run(_client: kube::Client, _opts: SchedulerOptions) -> Result<(), crate::controllers::ControllerError> {
    std::future::pending().await
}
