//! Map definitions shared by every hook. Logic lives in `lb.rs` and the hook
//! files. Sizes here are defaults; user space may resize before loading.
use aya_ebpf::{
    macros::map,
    maps::{HashMap, LruHashMap, PerCpuArray},
};
use orch_proxy_common::{
    Backend, RevNatKey, RevNatValue, ScopeValue, ServiceKey, ServiceValue, DEFAULT_CAPACITY,
    SCOPE_MAX_ENTRIES,
};

/// Network-namespace cookie → node. Only sockets in a listed namespace are
/// load-balanced; every other socket passes through untouched.
#[map(name = "ORCH_SCOPE")]
pub static ORCH_SCOPE: HashMap<u64, ScopeValue> = HashMap::with_max_entries(SCOPE_MAX_ENTRIES, 0);

/// (VIP, port, protocol, slot) → count and service id (slot 0) or backend
/// id (slots 1..=count).
#[map(name = "ORCH_SERVICES")]
pub static ORCH_SERVICES: HashMap<ServiceKey, ServiceValue> =
    HashMap::with_max_entries(DEFAULT_CAPACITY * 2, 0);

/// Backend id → address and port.
#[map(name = "ORCH_BACKENDS")]
pub static ORCH_BACKENDS: HashMap<u32, Backend> = HashMap::with_max_entries(DEFAULT_CAPACITY, 0);

/// (socket cookie, backend) → the VIP the socket asked for, so replies and
/// getpeername show the VIP.
#[map(name = "ORCH_REVNAT")]
pub static ORCH_REVNAT: LruHashMap<RevNatKey, RevNatValue> =
    LruHashMap::with_max_entries(DEFAULT_CAPACITY * 4, 0);

/// Service id → translated connections (per CPU).
#[map(name = "ORCH_STATS")]
pub static ORCH_STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(DEFAULT_CAPACITY, 0);
