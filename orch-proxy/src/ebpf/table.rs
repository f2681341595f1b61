//! The user-space mirror of what the service and backend maps hold, and the
//! ordered map writes that change one Service port without a moment in
//! which a connection could pick a missing slot:
//! - growing: new slots first, then the count;
//! - shrinking: the count first, then the extra slots;
//! - backends are written before any slot points at them and removed only
//!   after no slot does.
use std::{
    collections::{BTreeMap, HashMap},
    net::Ipv4Addr,
};

use orch_proxy_common::{Backend, ServiceKey, ServiceValue, PROTO_TCP, PROTO_UDP};

use crate::{
    ebpf::maps::Maps,
    model::{Endpoint, Frontend, PortName, Protocol, ServicePort},
    ProxyError,
};

/// One programmed Service port.
#[derive(Debug, Clone)]
struct Entry {
    id: u32,
    name: PortName,
    backends: Vec<(Endpoint, u32)>,
}

/// What is in the maps, as user space knows it.
#[derive(Debug, Default)]
pub struct Table {
    services: BTreeMap<Frontend, Entry>,
    /// Backend → (id, number of slots pointing at it).
    backend_ids: HashMap<Endpoint, (u32, u32)>,
    free_service_ids: Vec<u32>,
    next_service_id: u32,
    free_backend_ids: Vec<u32>,
    next_backend_id: u32,
    capacity: u32,
}

/// The map key of a frontend at slot 0.
pub fn key(fe: &Frontend) -> ServiceKey {
    let proto = match fe.protocol {
        Protocol::Tcp => PROTO_TCP,
        Protocol::Udp => PROTO_UDP,
    };
    ServiceKey::new(fe.ip.octets(), fe.port, proto, 0)
}

fn frontend(k: &ServiceKey) -> Option<Frontend> {
    let protocol = match k.protocol {
        PROTO_TCP => Protocol::Tcp,
        PROTO_UDP => Protocol::Udp,
        _ => return None,
    };
    Some(Frontend {
        ip: Ipv4Addr::from(k.address.to_ne_bytes()),
        port: u16::from_be(k.port),
        protocol,
    })
}

fn endpoint(b: &Backend) -> Endpoint {
    Endpoint {
        ip: Ipv4Addr::from(b.address.to_ne_bytes()),
        port: u16::from_be(b.port),
    }
}

impl Table {
    /// An empty table for maps of `capacity` service ports and backends.
    pub fn new(capacity: u32) -> Self {
        Self {
            next_service_id: 1,
            next_backend_id: 1,
            capacity,
            ..Self::default()
        }
    }

    /// Rebuilds the mirror from maps a previous run left pinned, so the
    /// first resync changes only what differs.
    pub fn read_back(maps: &Maps, capacity: u32) -> Result<Self, ProxyError> {
        let mut t = Self::new(capacity);
        let backends: HashMap<u32, Endpoint> = maps
            .backends()?
            .into_iter()
            .map(|(id, b)| (id, endpoint(&b)))
            .collect();
        let mut slots: BTreeMap<Frontend, (Option<ServiceValue>, BTreeMap<u16, u32>)> =
            BTreeMap::new();
        for (k, v) in maps.slots()? {
            let Some(fe) = frontend(&k) else { continue };
            let e = slots.entry(fe).or_default();
            if k.slot == 0 {
                e.0 = Some(v);
            } else {
                e.1.insert(k.slot, v.backend_id);
            }
        }
        for (fe, (head, by_slot)) in slots {
            let Some(head) = head else { continue };
            let mut list = Vec::new();
            for slot in 1..=head.count {
                if let Some(ep) = by_slot
                    .get(&slot)
                    .and_then(|id| backends.get(id).map(|ep| (*ep, *id)))
                {
                    list.push(ep);
                }
            }
            for (ep, id) in &list {
                t.backend_ids.entry(*ep).or_insert((*id, 0)).1 += 1;
            }
            t.services.insert(
                fe,
                Entry {
                    id: head.service_id,
                    name: PortName::default(),
                    backends: list,
                },
            );
        }
        t.next_service_id = t.services.values().map(|e| e.id).max().unwrap_or(0) + 1;
        let used: std::collections::HashSet<u32> = t.services.values().map(|e| e.id).collect();
        t.free_service_ids = (1..t.next_service_id)
            .filter(|i| !used.contains(i))
            .collect();
        t.next_backend_id = backends.keys().max().copied().unwrap_or(0) + 1;
        // Backends no slot points at are stale: forget them (the caller's
        // resync removes them from the map through `sweep`).
        let referenced: std::collections::HashSet<u32> =
            t.backend_ids.values().map(|(id, _)| *id).collect();
        t.free_backend_ids = (1..t.next_backend_id)
            .filter(|i| !referenced.contains(i) && !backends.contains_key(i))
            .collect();
        Ok(t)
    }

    /// Removes backends in the map that no slot points at.
    pub fn sweep(&mut self, maps: &mut Maps) -> Result<(), ProxyError> {
        let referenced: std::collections::HashSet<u32> =
            self.backend_ids.values().map(|(id, _)| *id).collect();
        for (id, _) in maps.backends()? {
            if !referenced.contains(&id) {
                maps.remove_backend(id)?;
                self.free_backend_ids.push(id);
            }
        }
        Ok(())
    }

    /// The frontends programmed.
    pub fn frontends(&self) -> impl Iterator<Item = &Frontend> {
        self.services.keys()
    }

    /// The table as Service ports (names are known only for ports this
    /// process programmed).
    pub fn ports(&self) -> Vec<ServicePort> {
        self.services
            .iter()
            .map(|(fe, e)| ServicePort {
                frontend: *fe,
                name: e.name.clone(),
                endpoints: e.backends.iter().map(|(ep, _)| *ep).collect(),
            })
            .collect()
    }

    /// The service id of a programmed frontend.
    pub fn service_id(&self, fe: &Frontend) -> Option<u32> {
        self.services.get(fe).map(|e| e.id)
    }

    /// Programs `port`, adding it or replacing its backends.
    pub fn upsert(&mut self, maps: &mut Maps, port: &ServicePort) -> Result<(), ProxyError> {
        let fe = port.frontend;
        if port.endpoints.len() > usize::from(u16::MAX) {
            return Err(ProxyError::Config(format!(
                "{}: {} endpoints exceed the 65535 a Service port can hold",
                port.name,
                port.endpoints.len()
            )));
        }
        if let Some(e) = self.services.get_mut(&fe) {
            if e.backends
                .iter()
                .map(|(ep, _)| ep)
                .eq(port.endpoints.iter())
            {
                e.name = port.name.clone();
                return Ok(());
            }
        }
        let (id, old, fresh) = match self.services.get(&fe) {
            Some(e) => (e.id, e.backends.clone(), false),
            None => (self.alloc_service_id(maps)?, Vec::new(), true),
        };
        let mut new = Vec::with_capacity(port.endpoints.len());
        for ep in &port.endpoints {
            new.push((*ep, self.acquire_backend(maps, ep)?));
        }
        let k = key(&fe);
        let count = new.len() as u16;
        let head = ServiceValue {
            count,
            pad: 0,
            service_id: id,
            backend_id: 0,
        };
        let slot = |b: u32| ServiceValue {
            count: 0,
            pad: 0,
            service_id: id,
            backend_id: b,
        };
        let shrinking = new.len() < old.len() || fresh && new.is_empty();
        if shrinking {
            maps.set_slot(k, head)?;
        }
        for (i, (_, b)) in new.iter().enumerate() {
            let changed = old.get(i).map(|(_, ob)| ob) != Some(b);
            if changed {
                maps.set_slot(k.at(i as u16 + 1), slot(*b))?;
            }
        }
        if !shrinking {
            maps.set_slot(k, head)?;
        }
        for i in new.len()..old.len() {
            maps.remove_slot(&k.at(i as u16 + 1))?;
        }
        for (ep, _) in &old {
            self.release_backend(maps, ep)?;
        }
        self.services.insert(
            fe,
            Entry {
                id,
                name: port.name.clone(),
                backends: new,
            },
        );
        Ok(())
    }

    /// Removes a frontend: the head first, so no connection picks a slot
    /// that is about to go.
    pub fn remove(&mut self, maps: &mut Maps, fe: &Frontend) -> Result<(), ProxyError> {
        let Some(e) = self.services.remove(fe) else {
            return Ok(());
        };
        let k = key(fe);
        maps.remove_slot(&k)?;
        for i in 0..e.backends.len() {
            maps.remove_slot(&k.at(i as u16 + 1))?;
        }
        for (ep, _) in &e.backends {
            self.release_backend(maps, ep)?;
        }
        self.free_service_ids.push(e.id);
        Ok(())
    }

    fn alloc_service_id(&mut self, maps: &mut Maps) -> Result<u32, ProxyError> {
        let id = match self.free_service_ids.pop() {
            Some(id) => id,
            None if self.next_service_id < self.capacity => {
                self.next_service_id += 1;
                self.next_service_id - 1
            }
            None => {
                return Err(ProxyError::Config(format!(
                    "the service map is full ({} Service ports); raise --map-capacity",
                    self.capacity
                )))
            }
        };
        maps.reset_connections(id)?;
        Ok(id)
    }

    fn acquire_backend(&mut self, maps: &mut Maps, ep: &Endpoint) -> Result<u32, ProxyError> {
        if let Some((id, refs)) = self.backend_ids.get_mut(ep) {
            *refs += 1;
            return Ok(*id);
        }
        let id = match self.free_backend_ids.pop() {
            Some(id) => id,
            None if self.next_backend_id < self.capacity => {
                self.next_backend_id += 1;
                self.next_backend_id - 1
            }
            None => {
                return Err(ProxyError::Config(format!(
                    "the backend map is full ({} backends); raise --map-capacity",
                    self.capacity
                )))
            }
        };
        maps.set_backend(id, Backend::new(ep.ip.octets(), ep.port))?;
        self.backend_ids.insert(*ep, (id, 1));
        Ok(id)
    }

    fn release_backend(&mut self, maps: &mut Maps, ep: &Endpoint) -> Result<(), ProxyError> {
        let Some((id, refs)) = self.backend_ids.get_mut(ep) else {
            return Ok(());
        };
        *refs -= 1;
        if *refs == 0 {
            let id = *id;
            self.backend_ids.remove(ep);
            maps.remove_backend(id)?;
            self.free_backend_ids.push(id);
        }
        Ok(())
    }
}
