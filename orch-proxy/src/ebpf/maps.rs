//! Typed handles on the load-balancer's maps, with the few operations the
//! proxy needs. Keys and values are the shared `repr(C)` types.
use aya::{
    maps::{HashMap, MapData, PerCpuArray, PerCpuValues},
    Ebpf,
};
use orch_proxy_common::{
    Backend, RevNatKey, RevNatValue, ScopeValue, ServiceKey, ServiceValue, MAP_BACKENDS,
    MAP_REVNAT, MAP_SCOPE, MAP_SERVICES, MAP_STATS,
};

use crate::ProxyError;

/// The maps of one loaded object.
pub struct Maps {
    scope: HashMap<MapData, u64, ScopeValue>,
    services: HashMap<MapData, ServiceKey, ServiceValue>,
    backends: HashMap<MapData, u32, Backend>,
    revnat: HashMap<MapData, RevNatKey, RevNatValue>,
    stats: PerCpuArray<MapData, u64>,
}

impl std::fmt::Debug for Maps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Maps").finish_non_exhaustive()
    }
}

fn map_err(name: &'static str) -> impl FnOnce(aya::maps::MapError) -> ProxyError {
    move |source| ProxyError::Map { name, source }
}

impl Maps {
    /// Takes the maps out of a loaded object.
    pub fn take(ebpf: &mut Ebpf) -> Result<Self, ProxyError> {
        let mut take = |name: &'static str| ebpf.take_map(name).ok_or(ProxyError::Missing(name));
        Ok(Self {
            scope: HashMap::try_from(take(MAP_SCOPE)?).map_err(map_err(MAP_SCOPE))?,
            services: HashMap::try_from(take(MAP_SERVICES)?).map_err(map_err(MAP_SERVICES))?,
            backends: HashMap::try_from(take(MAP_BACKENDS)?).map_err(map_err(MAP_BACKENDS))?,
            revnat: HashMap::try_from(take(MAP_REVNAT)?).map_err(map_err(MAP_REVNAT))?,
            stats: PerCpuArray::try_from(take(MAP_STATS)?).map_err(map_err(MAP_STATS))?,
        })
    }

    /// Opens the maps a running (or earlier) proxy pinned in `dir`,
    /// without loading any program: for reading the live table back.
    pub fn open_pinned(dir: &std::path::Path) -> Result<Self, ProxyError> {
        let open = |name: &'static str| {
            let data = MapData::from_pin(dir.join(name)).map_err(map_err(name))?;
            aya::maps::Map::from_map_data(data).map_err(map_err(name))
        };
        Ok(Self {
            scope: HashMap::try_from(open(MAP_SCOPE)?).map_err(map_err(MAP_SCOPE))?,
            services: HashMap::try_from(open(MAP_SERVICES)?).map_err(map_err(MAP_SERVICES))?,
            backends: HashMap::try_from(open(MAP_BACKENDS)?).map_err(map_err(MAP_BACKENDS))?,
            revnat: HashMap::try_from(open(MAP_REVNAT)?).map_err(map_err(MAP_REVNAT))?,
            stats: PerCpuArray::try_from(open(MAP_STATS)?).map_err(map_err(MAP_STATS))?,
        })
    }

    /// Puts the network namespace with `cookie` under this load-balancer.
    pub fn scope_netns(&mut self, cookie: u64, node_id: u32) -> Result<(), ProxyError> {
        self.scope
            .insert(cookie, ScopeValue { node_id }, 0)
            .map_err(map_err(MAP_SCOPE))
    }

    /// Stops load-balancing for the namespace with `cookie`.
    pub fn unscope_netns(&mut self, cookie: u64) -> Result<(), ProxyError> {
        ignore_missing(self.scope.remove(&cookie)).map_err(map_err(MAP_SCOPE))
    }

    /// Every scoped namespace cookie.
    pub fn scoped(&self) -> Result<Vec<u64>, ProxyError> {
        self.scope
            .keys()
            .collect::<Result<_, _>>()
            .map_err(map_err(MAP_SCOPE))
    }

    /// Writes one service-map entry.
    pub fn set_slot(&mut self, key: ServiceKey, value: ServiceValue) -> Result<(), ProxyError> {
        self.services
            .insert(key, value, 0)
            .map_err(map_err(MAP_SERVICES))
    }

    /// Removes one service-map entry (missing is fine).
    pub fn remove_slot(&mut self, key: &ServiceKey) -> Result<(), ProxyError> {
        ignore_missing(self.services.remove(key)).map_err(map_err(MAP_SERVICES))
    }

    /// Every service-map entry.
    pub fn slots(&self) -> Result<Vec<(ServiceKey, ServiceValue)>, ProxyError> {
        self.services
            .iter()
            .collect::<Result<_, _>>()
            .map_err(map_err(MAP_SERVICES))
    }

    /// Writes a backend.
    pub fn set_backend(&mut self, id: u32, backend: Backend) -> Result<(), ProxyError> {
        self.backends
            .insert(id, backend, 0)
            .map_err(map_err(MAP_BACKENDS))
    }

    /// Removes a backend (missing is fine).
    pub fn remove_backend(&mut self, id: u32) -> Result<(), ProxyError> {
        ignore_missing(self.backends.remove(&id)).map_err(map_err(MAP_BACKENDS))
    }

    /// Every backend.
    pub fn backends(&self) -> Result<Vec<(u32, Backend)>, ProxyError> {
        self.backends
            .iter()
            .collect::<Result<_, _>>()
            .map_err(map_err(MAP_BACKENDS))
    }

    /// Connections translated for service `id`, summed over CPUs.
    pub fn connections(&self, id: u32) -> Result<u64, ProxyError> {
        let per_cpu = self.stats.get(&id, 0).map_err(map_err(MAP_STATS))?;
        Ok(per_cpu.iter().sum())
    }

    /// Zeroes the counter of service `id` (when the id is reused).
    pub fn reset_connections(&mut self, id: u32) -> Result<(), ProxyError> {
        let cpus = aya::util::nr_cpus().map_err(|(_, e)| {
            ProxyError::io("counting CPUs", "/sys/devices/system/cpu/possible", e)
        })?;
        let zeros = PerCpuValues::try_from(vec![0u64; cpus])
            .map_err(|e| ProxyError::io("zeroing counters", MAP_STATS, e))?;
        self.stats.set(id, zeros, 0).map_err(map_err(MAP_STATS))
    }

    /// Reverse-NAT entries (socket cookie, backend) → VIP, for diagnostics.
    pub fn revnat_len(&self) -> usize {
        self.revnat.keys().count()
    }
}

/// Removing a key that is not there is not an error for the proxy.
fn ignore_missing(r: Result<(), aya::maps::MapError>) -> Result<(), aya::maps::MapError> {
    match r {
        Err(aya::maps::MapError::KeyNotFound) => Ok(()),
        other => other,
    }
}
