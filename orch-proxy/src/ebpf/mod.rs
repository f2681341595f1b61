//! eBPF mode: the socket load-balancer object, its loader, its maps, the
//! user-space mirror of the maps, and the [`Dataplane`](crate::dataplane::Dataplane)
//! built from them.
pub mod loader;
pub mod maps;
pub mod mode;
pub mod object;
pub mod sockdiag;
pub mod table;

pub use loader::{LoadOptions, LogLevel, SockLb};
pub use mode::{cleanup_node, dump_pinned, Ebpf, EbpfOptions};
