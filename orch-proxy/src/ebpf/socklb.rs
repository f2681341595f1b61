//! Socket-level load-balancer: loads the `connect4` program, attaches it at a
//! cgroup v2 root, and programs its scope and service maps.
use std::{
    fs::File,
    path::{Path, PathBuf},
};

use aya::{
    maps::{HashMap, MapData},
    programs::{CgroupAttachMode, CgroupSockAddr},
    Ebpf, EbpfLoader,
};
use orch_proxy_common::{Backend, ScopeValue, ServiceKey, MAP_SCOPE, MAP_SERVICES, PROG_CONNECT4};

use crate::{ebpf::object::OBJECT, ProxyError};

/// How to load the object.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// When set, maps are pinned in this bpffs directory (created if
    /// missing), so their state outlives the process.
    pub pin_dir: Option<PathBuf>,
}

/// A loaded (and possibly attached) socket load-balancer.
#[derive(Debug)]
pub struct SockLb {
    ebpf: Ebpf,
    scope: HashMap<MapData, u64, ScopeValue>,
    services: HashMap<MapData, ServiceKey, Backend>,
    pin_dir: Option<PathBuf>,
}

impl SockLb {
    /// Loads the embedded object into the kernel and verifies the programs.
    pub fn load(opts: &LoadOptions) -> Result<Self, ProxyError> {
        let mut loader = EbpfLoader::new();
        let pins: Vec<(&str, PathBuf)> = match &opts.pin_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| ProxyError::io("creating pin directory", dir, e))?;
                [MAP_SCOPE, MAP_SERVICES]
                    .iter()
                    .map(|m| (*m, dir.join(m)))
                    .collect()
            }
            None => Vec::new(),
        };
        for (name, path) in &pins {
            loader.map_pin_path(name, path.as_path());
        }
        let mut ebpf = loader.load(OBJECT)?;
        connect4(&mut ebpf)?
            .load()
            .map_err(|source| ProxyError::Program {
                name: PROG_CONNECT4,
                source,
            })?;
        let scope = take_map(&mut ebpf, MAP_SCOPE)?;
        let services = take_map(&mut ebpf, MAP_SERVICES)?;
        Ok(Self {
            ebpf,
            scope,
            services,
            pin_dir: opts.pin_dir.clone(),
        })
    }

    /// Attaches `connect4` to the cgroup v2 directory `cgroup`. Sockets in
    /// that cgroup and below whose namespace is scoped are load-balanced.
    pub fn attach(&mut self, cgroup: &Path) -> Result<(), ProxyError> {
        let dir = File::open(cgroup).map_err(|e| ProxyError::io("opening cgroup", cgroup, e))?;
        let prog = self.connect4()?;
        // On kernels with bpf_link (5.7+) aya attaches through a link, which
        // always coexists with other programs and takes no mode flags.
        prog.attach(&dir, CgroupAttachMode::Single)
            .map_err(|source| ProxyError::Program {
                name: PROG_CONNECT4,
                source,
            })?;
        Ok(())
    }

    /// The kernel's id of the loaded `connect4` program.
    pub fn program_id(&mut self) -> Result<u32, ProxyError> {
        let info = self
            .connect4()?
            .info()
            .map_err(|source| ProxyError::Program {
                name: PROG_CONNECT4,
                source,
            })?;
        Ok(info.id())
    }

    /// Puts the network namespace with `cookie` under this load-balancer.
    pub fn scope_netns(&mut self, cookie: u64, node_id: u32) -> Result<(), ProxyError> {
        self.scope
            .insert(cookie, ScopeValue { node_id }, 0)
            .map_err(|source| ProxyError::Map {
                name: MAP_SCOPE,
                source,
            })
    }

    /// Stops load-balancing for the namespace with `cookie`.
    pub fn unscope_netns(&mut self, cookie: u64) -> Result<(), ProxyError> {
        self.scope
            .remove(&cookie)
            .map_err(|source| ProxyError::Map {
                name: MAP_SCOPE,
                source,
            })
    }

    /// Sends new connections to `key` to `backend`.
    pub fn set_service(&mut self, key: ServiceKey, backend: Backend) -> Result<(), ProxyError> {
        self.services
            .insert(key, backend, 0)
            .map_err(|source| ProxyError::Map {
                name: MAP_SERVICES,
                source,
            })
    }

    /// Removes the service `key`.
    pub fn remove_service(&mut self, key: &ServiceKey) -> Result<(), ProxyError> {
        self.services.remove(key).map_err(|source| ProxyError::Map {
            name: MAP_SERVICES,
            source,
        })
    }

    /// Detaches and unloads everything, and removes the pinned maps and the
    /// pin directory. Dropping a `SockLb` detaches too but keeps the pins.
    pub fn teardown(self) -> Result<(), ProxyError> {
        let Self {
            ebpf,
            scope,
            services,
            pin_dir,
        } = self;
        drop((scope, services, ebpf));
        if let Some(dir) = pin_dir {
            for m in [MAP_SCOPE, MAP_SERVICES] {
                let p = dir.join(m);
                match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(ProxyError::io("unpinning", p, e)),
                }
            }
            match std::fs::remove_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ProxyError::io("removing pin directory", dir, e)),
            }
        }
        Ok(())
    }

    fn connect4(&mut self) -> Result<&mut CgroupSockAddr, ProxyError> {
        connect4(&mut self.ebpf)
    }
}

fn connect4(ebpf: &mut Ebpf) -> Result<&mut CgroupSockAddr, ProxyError> {
    ebpf.program_mut(PROG_CONNECT4)
        .ok_or(ProxyError::Missing(PROG_CONNECT4))?
        .try_into()
        .map_err(|source| ProxyError::Program {
            name: PROG_CONNECT4,
            source,
        })
}

fn take_map<K: aya::Pod, V: aya::Pod>(
    ebpf: &mut Ebpf,
    name: &'static str,
) -> Result<HashMap<MapData, K, V>, ProxyError> {
    let map = ebpf.take_map(name).ok_or(ProxyError::Missing(name))?;
    HashMap::try_from(map).map_err(|source| ProxyError::Map { name, source })
}
