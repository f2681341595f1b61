//! orch-proxy: the Service proxy of orch.
//!
//! It programs Service ClusterIP load-balancing into the kernel: socket-level
//! eBPF programs at the cgroup v2 `sock_addr` hooks ([`ebpf`]), scoped by
//! network-namespace cookie to one node's namespaces; or, as a fallback,
//! kube-proxy–style nat chains ([`iptables`]).
pub mod cgroup;
pub mod cli;
pub mod dataplane;
pub mod ebpf;
pub mod error;
pub mod iptables;
pub mod model;
pub mod run;
pub mod sys;

pub use error::ProxyError;
