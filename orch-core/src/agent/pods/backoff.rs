//! Restart backoff (CrashLoopBackOff): doubles from the initial delay up to
//! the maximum, and resets after a container ran long enough.
use std::time::Duration;

/// Backoff settings.
#[derive(Debug, Clone, Copy)]
pub struct BackoffConfig {
    /// First delay (Kubernetes: 10 s).
    pub initial: Duration,
    /// Cap (Kubernetes: 5 min).
    pub max: Duration,
    /// A run this long resets the backoff (Kubernetes: 10 min).
    pub reset_after: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
            reset_after: Duration::from_secs(600),
        }
    }
}

/// The delay before restart number `restarts` (1-based) after a run of
/// `ran`.
pub fn delay(cfg: &BackoffConfig, restarts: u32, ran: Duration) -> Duration {
    if ran >= cfg.reset_after || restarts == 0 {
        return Duration::ZERO;
    }
    let shift = (restarts - 1).min(16);
    cfg.initial.saturating_mul(1 << shift).min(cfg.max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_caps_and_resets() {
        let c = BackoffConfig::default();
        let short = Duration::from_secs(1);
        assert_eq!(delay(&c, 0, short), Duration::ZERO);
        assert_eq!(delay(&c, 1, short), Duration::from_secs(10));
        assert_eq!(delay(&c, 2, short), Duration::from_secs(20));
        assert_eq!(delay(&c, 6, short), Duration::from_secs(300));
        assert_eq!(delay(&c, 60, short), Duration::from_secs(300));
        assert_eq!(delay(&c, 5, Duration::from_secs(700)), Duration::ZERO);
    }
}
