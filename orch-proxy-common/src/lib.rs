//! Map keys and values shared by the eBPF programs (`orch-proxy-ebpf`) and the
//! user-space proxy (`orch-proxy`).
//!
//! Every type here is `repr(C)`, has explicit padding, and carries a size
//! assertion, so both sides agree on the layout byte for byte. Addresses and
//! ports are kept in network byte order, exactly as the kernel hands them to
//! `sock_addr` programs in `user_ip4` / `user_port`.
//!
//! A Service port is stored as consecutive slots of the service map:
//! slot 0 holds the backend count and the service id, slots `1..=count`
//! each hold one backend id, which the backend map resolves to an address.
#![no_std]

use core::mem::size_of;

/// IP protocol number for TCP.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number for UDP.
pub const PROTO_UDP: u8 = 17;

/// Name of the map: network-namespace cookie → [`ScopeValue`].
pub const MAP_SCOPE: &str = "ORCH_SCOPE";
/// Name of the map: [`ServiceKey`] → [`ServiceValue`].
pub const MAP_SERVICES: &str = "ORCH_SERVICES";
/// Name of the map: backend id → [`Backend`].
pub const MAP_BACKENDS: &str = "ORCH_BACKENDS";
/// Name of the LRU map: [`RevNatKey`] → [`RevNatValue`].
pub const MAP_REVNAT: &str = "ORCH_REVNAT";
/// Name of the per-CPU array: service id → translated connections.
pub const MAP_STATS: &str = "ORCH_STATS";
/// Every map, in pin order.
pub const MAPS: [&str; 5] = [MAP_SCOPE, MAP_SERVICES, MAP_BACKENDS, MAP_REVNAT, MAP_STATS];

/// Name of the `connect4` program in the object file.
pub const PROG_CONNECT4: &str = "orch_connect4";
/// Name of the `sendmsg4` program.
pub const PROG_SENDMSG4: &str = "orch_sendmsg4";
/// Name of the `recvmsg4` program.
pub const PROG_RECVMSG4: &str = "orch_recvmsg4";
/// Name of the `getpeername4` program.
pub const PROG_GETPEERNAME4: &str = "orch_getpeername4";
/// Every program, in attach order.
pub const PROGRAMS: [&str; 4] = [
    PROG_CONNECT4,
    PROG_SENDMSG4,
    PROG_RECVMSG4,
    PROG_GETPEERNAME4,
];

/// Default number of entries in the scope map.
pub const SCOPE_MAX_ENTRIES: u32 = 4096;
/// Default capacity: Service ports, and backends. The service map holds
/// twice as many entries (slot 0 plus backend slots), the reverse-NAT map
/// four times as many.
pub const DEFAULT_CAPACITY: u32 = 65_536;

/// Value of the scope map: which node a network namespace belongs to.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ScopeValue {
    /// Opaque node identifier chosen by user space (non-zero).
    pub node_id: u32,
}

/// Key of the service map: a virtual IP, port and protocol, and a slot.
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
    /// 0 for the service entry, `1..=count` for backend slots.
    pub slot: u16,
    /// Explicit padding; always zero.
    pub pad2: u16,
}

/// Value of the service map.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ServiceValue {
    /// Slot 0: number of backends (0 = refuse connections).
    pub count: u16,
    /// Explicit padding; always zero.
    pub pad: u16,
    /// Slot 0: the service id (index in the stats map).
    pub service_id: u32,
    /// Slots `1..=count`: the backend id.
    pub backend_id: u32,
}

/// Value of the backend map: where connections are sent.
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

/// Key of the reverse-NAT map: a socket and the backend it was sent to.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct RevNatKey {
    /// The socket cookie.
    pub cookie: u64,
    /// Backend address, network byte order.
    pub address: u32,
    /// Backend port, network byte order.
    pub port: u16,
    /// Explicit padding; always zero.
    pub pad: u16,
}

/// Value of the reverse-NAT map: the VIP the socket asked for.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct RevNatValue {
    /// The VIP, network byte order.
    pub address: u32,
    /// The Service port, network byte order.
    pub port: u16,
    /// Explicit padding; always zero.
    pub pad: u16,
}

const _: () = assert!(size_of::<ScopeValue>() == 4);
const _: () = assert!(size_of::<ServiceKey>() == 12);
const _: () = assert!(size_of::<ServiceValue>() == 12);
const _: () = assert!(size_of::<Backend>() == 8);
const _: () = assert!(size_of::<RevNatKey>() == 16);
const _: () = assert!(size_of::<RevNatValue>() == 8);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: every type below is repr(C), Copy, and contains only integers
    // and explicit padding fields, so every bit pattern is valid.
    unsafe impl aya::Pod for super::ScopeValue {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::ServiceKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::ServiceValue {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::Backend {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::RevNatKey {}
    // SAFETY: see above.
    unsafe impl aya::Pod for super::RevNatValue {}
}

impl ServiceKey {
    /// Builds a key from host-order values.
    pub const fn new(address: [u8; 4], port: u16, protocol: u8, slot: u16) -> Self {
        Self {
            address: u32::from_ne_bytes(address),
            port: port.to_be(),
            protocol,
            pad: 0,
            slot,
            pad2: 0,
        }
    }

    /// The same frontend at another slot.
    pub const fn at(self, slot: u16) -> Self {
        Self { slot, ..self }
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
