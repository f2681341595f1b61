//! Running long-lived reconcile loops: restart with capped exponential
//! backoff when a loop ends with an error, and log why.
use std::{future::Future, time::Duration};

/// Runs `make()` forever, restarting it (1 s, 2 s, ... 30 s apart) when it
/// returns. A loop that ran for a minute before failing restarts at once.
pub async fn supervise<F, Fut, E>(name: &'static str, make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut backoff = Duration::from_secs(1);
    loop {
        let started = tokio::time::Instant::now();
        match make().await {
            Ok(()) => tracing::warn!(controller = name, "loop ended; restarting"),
            Err(e) => tracing::warn!(controller = name, error = %e, "loop failed; restarting"),
        }
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
