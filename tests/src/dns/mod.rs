//! Helpers for tests and benchmarks of orch-dns: building the workspace's
//! binaries ([`bins`]), running orch-dns as a process ([`process`]), asking
//! it with `dig` ([`dig`]) or with single UDP queries ([`query`]), and a
//! small upstream server to forward to ([`upstream`]). Every query goes to
//! a server the test started on 127.0.0.1.
pub mod bins;
pub mod dig;
pub mod process;
pub mod query;
pub mod upstream;
