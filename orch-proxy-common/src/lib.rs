//! Map keys and values shared by the eBPF programs (`orch-proxy-ebpf`) and the
//! user-space proxy (`orch-proxy`).
//!
//! Every type here is `repr(C)`, has explicit padding, and carries a size
//! assertion, so both sides agree on the layout byte for byte. Addresses and
//! ports are kept in network byte order, exactly as the kernel hands them to
//! `sock_addr` programs in `user_ip4` / `user_port`.
#![no_std]

use core::mem::size_of;

/// IP protocol number for TCP.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number for UDP.
pub const PROTO_UDP: u8 = 17;

/// Name of the map: network-namespace cookie → [`ScopeValue`].
pub const MAP_SCOPE: &str = "ORCH_SCOPE";
/// Name of the map: [`ServiceKey`] → [`Backend`].
pub const MAP_SERVICES: &str = "ORCH_SERVICES";
/// Name of the `connect4` program in the object file.
pub const PROG_CONNECT4: &str = "orch_connect4";

/// Maximum number of entries in the scope map.
pub const SCOPE_MAX_ENTRIES: u32 = 4096;
/// Maximum number of entries in the service map.
pub const SERVICES_MAX_ENTRIES: u32 = 65_536;

/// Value of the scope map: which node a network namespace belongs to.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ScopeValue {
    /// Opaque node identifier chosen by user space (non-zero).
    pub node_id: u32,
}

/// Key of the service map: a virtual IP, port and protocol.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ServiceKey {
    /// IPv4 virtual address, network byte order.
    pub address: u32,
    /// Port, network byte order.
    pub port: u16,
    /// IP protocol number ([`PROTO_TCP`] or [`PROTO_UDP`]).
    pub protocol: u8,
    /// Explicit padding; always zero.
    pub pad: u8,
}

/// Value of the service map: where connections to the key are sent.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Backend {
    /// IPv4 backend address, network byte order.
    pub address: u32,
    /// Backend port, network byte order.
    pub port: u16,
    /// Explicit padding; always zero.
    pub pad: u16,
}

const _: () = assert!(size_of::<ScopeValue>() == 4);
const _: () = assert!(size_of::<ServiceKey>() == 8);
const _: () = assert!(size_of::<Backend>() == 8);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all three types are repr(C), Copy, contain only integers and
    // explicit padding fields, so every bit pattern is valid.
    unsafe impl aya::Pod for super::ScopeValue {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::ServiceKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::Backend {}
}

impl ServiceKey {
    /// Builds a key from host-order values.
    pub const fn new(address: [u8; 4], port: u16, protocol: u8) -> Self {
        Self {
            address: u32::from_ne_bytes(address),
            port: port.to_be(),
            protocol,
            pad: 0,
        }
    }
}

impl Backend {
    /// Builds a backend from host-order values.
    pub const fn new(address: [u8; 4], port: u16) -> Self {
        Self {
            address: u32::from_ne_bytes(address),
            port: port.to_be(),
            pad: 0,
        }
    }
}
