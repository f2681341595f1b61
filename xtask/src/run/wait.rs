//! Bounded waits: poll a check until it yields a value, the time limit
//! passes (an error naming what did not come up and where to look), or a
//! stop is requested.
use std::{
    thread::sleep,
    time::{Duration, Instant},
};

use anyhow::{bail, Result};

use super::signals::Stop;

/// Poll interval of every wait.
const POLL: Duration = Duration::from_millis(100);

/// Why a wait ended without a value.
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted by a signal")
    }
}

impl std::error::Error for Interrupted {}

/// Polls `check` until it returns `Some`. An error from `check` ends the
/// wait at once. On timeout the error says `what` did not come up within
/// the limit, followed by `hint` (which log to read). `last` keeps the
/// latest reason the check gave, shown on timeout.
pub fn until<T>(
    what: &str,
    limit: Duration,
    stop: &Stop,
    hint: &str,
    mut check: impl FnMut(&mut String) -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + limit;
    let mut last = String::new();
    loop {
        if stop.requested() {
            return Err(Interrupted.into());
        }
        if let Some(v) = check(&mut last)? {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            let detail = if last.is_empty() {
                String::new()
            } else {
                format!(" (last seen: {last})")
            };
            bail!(
                "{what} did not come up within {}s{detail}; {hint}",
                limit.as_secs()
            );
        }
        sleep(POLL);
    }
}
