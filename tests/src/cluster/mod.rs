//! A whole cluster for end-to-end tests, started as users start it:
//! `cargo xtask run --no-build` with a layout of its own (node names,
//! bridge, address ranges, API port, state directory), so it never meets a
//! cluster or test already running on the machine. [`run`] owns the
//! process and its teardown; [`netns`] runs commands inside pods' network
//! namespaces (curl, dig, request loops); [`api`] waits on the objects the
//! tests change.
pub mod api;
pub mod netns;
pub mod run;

pub use run::{ClusterRun, RunOptions};
