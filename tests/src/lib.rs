//! Helpers for orch's packet-path integration tests: RAII guards for network
//! namespaces, links and cgroups with unique names, and [`require_root`].
//!
//! Every guard removes what it created in `Drop`, which also runs while a
//! failing test unwinds, so a red test leaves nothing behind.
//!
//! [`dns`] runs and asks orch-dns (processes, dig, an upstream to forward
//! to).
//!
//! [`cluster`] starts a whole cluster as `cargo xtask run` does, for the
//! end-to-end suite.
//!
//! [`bench`] holds the benchmarks that `cargo xtask bench` runs through the
//! `orch-bench` binary.
pub mod bench;
pub mod bpf;
pub mod cgroup;
pub mod cluster;
pub mod dns;
pub mod link;
pub mod names;
pub mod netns;
pub mod server;

pub use bpf::SockLbGuard;
pub use cgroup::CgroupGuard;
pub use link::{BridgeGuard, VethGuard};
pub use names::unique_name;
pub use netns::NetnsGuard;
pub use orch_testkit::{cmd, root, root::require_root};
