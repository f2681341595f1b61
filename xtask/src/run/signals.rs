//! Ctrl-C and SIGTERM: both only raise a flag (signal-hook), which every
//! wait of the run polls; the run then tears the cluster down and exits.
//! A second signal changes nothing: teardown always runs to its end.
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use anyhow::{Context, Result};
use signal_hook::consts::{SIGINT, SIGTERM};

/// Set once SIGINT or SIGTERM arrived.
#[derive(Debug, Clone)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Installs the handlers for SIGINT and SIGTERM.
    pub fn install() -> Result<Self> {
        let flag = Arc::new(AtomicBool::new(false));
        for sig in [SIGINT, SIGTERM] {
            signal_hook::flag::register(sig, Arc::clone(&flag))
                .with_context(|| format!("installing a handler for signal {sig}"))?;
        }
        Ok(Self(flag))
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
