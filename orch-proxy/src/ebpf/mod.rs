//! eBPF mode: the socket load-balancer object, its loader and its maps.
pub mod object;
pub mod socklb;

pub use socklb::{LoadOptions, SockLb};
