//! Map definitions shared by every hook. Logic lives in the hook files.
use aya_ebpf::{macros::map, maps::HashMap};
use orch_proxy_common::{Backend, ScopeValue, ServiceKey, SCOPE_MAX_ENTRIES, SERVICES_MAX_ENTRIES};

/// Network-namespace cookie → node. Only sockets in a listed namespace are
/// load-balanced; every other socket passes through untouched.
#[map(name = "ORCH_SCOPE")]
pub static ORCH_SCOPE: HashMap<u64, ScopeValue> = HashMap::with_max_entries(SCOPE_MAX_ENTRIES, 0);

/// (VIP, port, protocol) → backend.
#[map(name = "ORCH_SERVICES")]
pub static ORCH_SERVICES: HashMap<ServiceKey, Backend> =
    HashMap::with_max_entries(SERVICES_MAX_ENTRIES, 0);
