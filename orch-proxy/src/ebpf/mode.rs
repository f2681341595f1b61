//! eBPF mode as a [`Dataplane`]: owns the loaded load-balancer, the mirror
//! of its maps, and the scoped network namespaces of one node.
use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
};

use crate::{
    cgroup,
    dataplane::{Dataplane, Mode},
    ebpf::{
        loader::{LoadOptions, LogLevel, SockLb},
        maps::Maps,
        sockdiag,
        table::Table,
    },
    model::{Change, Endpoint, Frontend, Protocol, ServicePort},
    sys, ProxyError,
};

/// Where a node's pins live under bpffs.
pub fn pin_dir(bpffs: &Path, node: &str) -> PathBuf {
    bpffs.join("orch").join(node)
}

/// How to start eBPF mode for one node.
#[derive(Debug, Clone)]
pub struct EbpfOptions {
    /// The node; pins go to `<bpffs>/orch/<node>/`.
    pub node: String,
    /// Service ports and backends the maps hold.
    pub capacity: u32,
    /// The cgroup v2 directory to attach at (default: the root).
    pub cgroup: Option<PathBuf>,
    /// The programs' own diagnostics (off by default).
    pub log_level: LogLevel,
}

/// The eBPF data path of one node.
#[derive(Debug)]
pub struct Ebpf {
    lb: SockLb,
    table: Table,
    /// Scope key → (netns path, netns cookie).
    scoped: HashMap<String, (PathBuf, u64)>,
}

impl Ebpf {
    /// Loads (reusing a previous run's pinned maps and state), attaches,
    /// and replaces a previous run's links.
    pub fn start(opts: &EbpfOptions) -> Result<Self, ProxyError> {
        let bpffs = cgroup::ensure_bpffs()?;
        let mut lb = SockLb::load(&LoadOptions {
            pin_dir: Some(pin_dir(&bpffs, &opts.node)),
            capacity: opts.capacity,
            log_level: opts.log_level,
        })?;
        let table = Table::read_back(lb.maps(), opts.capacity)?;
        let root = match &opts.cgroup {
            Some(c) => c.clone(),
            None => cgroup::cgroup2_root()?,
        };
        lb.attach(&root)?;
        Ok(Self {
            lb,
            table,
            scoped: HashMap::new(),
        })
    }

    /// The kernel ids of the attached programs.
    pub fn program_ids(&mut self) -> Result<Vec<u32>, ProxyError> {
        self.lb.program_ids()
    }

    /// Destroys connected UDP sockets to `gone` in every scoped namespace.
    fn forget_udp(&self, gone: &[Endpoint]) {
        if gone.is_empty() {
            return;
        }
        for (key, (path, _)) in &self.scoped {
            match sockdiag::destroy_udp_to(path, gone) {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(netns = %key, sockets = n, "destroyed UDP sockets to removed backends")
                }
                Err(e) => {
                    tracing::warn!(netns = %key, error = %e, "destroying UDP sockets to removed backends")
                }
            }
        }
    }
}

fn is_udp(fe: &Frontend) -> bool {
    fe.protocol == Protocol::Udp
}

impl Dataplane for Ebpf {
    fn mode(&self) -> Mode {
        Mode::Ebpf
    }

    fn apply(&mut self, changes: &[Change]) -> Result<(), ProxyError> {
        for c in changes {
            match c {
                Change::Upsert { port, removed } => {
                    self.table.upsert(self.lb.maps(), port)?;
                    if is_udp(&port.frontend) {
                        self.forget_udp(removed);
                    }
                }
                Change::Remove { port } => {
                    self.table.remove(self.lb.maps(), &port.frontend)?;
                    if is_udp(&port.frontend) {
                        self.forget_udp(&port.endpoints);
                    }
                }
            }
        }
        Ok(())
    }

    fn resync(&mut self, table: &[ServicePort]) -> Result<(), ProxyError> {
        let want: HashSet<Frontend> = table.iter().map(|p| p.frontend).collect();
        let stale: Vec<Frontend> = self
            .table
            .frontends()
            .filter(|f| !want.contains(f))
            .copied()
            .collect();
        for fe in &stale {
            self.table.remove(self.lb.maps(), fe)?;
        }
        for port in table {
            self.table.upsert(self.lb.maps(), port)?;
        }
        self.table.sweep(self.lb.maps())?;
        let live: HashSet<u64> = self.scoped.values().map(|(_, c)| *c).collect();
        for cookie in self.lb.maps().scoped()? {
            if !live.contains(&cookie) {
                self.lb.maps().unscope_netns(cookie)?;
            }
        }
        Ok(())
    }

    fn dump(&mut self) -> Result<Vec<ServicePort>, ProxyError> {
        Ok(self.table.ports())
    }

    fn scope(&mut self, key: &str, netns: &Path) -> Result<(), ProxyError> {
        let cookie = sys::netns_cookie(netns)
            .map_err(|e| ProxyError::io("reading the netns cookie of", netns, e))?;
        if let Some((_, old)) = self.scoped.get(key) {
            if *old == cookie {
                return Ok(());
            }
            let old = *old;
            self.lb.maps().unscope_netns(old)?;
        }
        self.lb.maps().scope_netns(cookie, 1)?;
        self.scoped
            .insert(key.to_string(), (netns.to_path_buf(), cookie));
        Ok(())
    }

    fn unscope(&mut self, key: &str) -> Result<(), ProxyError> {
        if let Some((_, cookie)) = self.scoped.remove(key) {
            self.lb.maps().unscope_netns(cookie)?;
        }
        Ok(())
    }

    fn connection_counts(&mut self) -> Result<Vec<(ServicePort, u64)>, ProxyError> {
        let ports = self.table.ports();
        let mut out = Vec::with_capacity(ports.len());
        for p in ports {
            let n = match self.table.service_id(&p.frontend) {
                Some(id) => self.lb.maps().connections(id)?,
                None => 0,
            };
            out.push((p, n));
        }
        Ok(out)
    }

    fn flush_diagnostics(&mut self) {
        self.lb.flush_logs();
    }

    fn cleanup(self: Box<Self>) -> Result<(), ProxyError> {
        self.lb.teardown()
    }
}

/// Reads a node's live service table straight from its pinned maps, with
/// each port's service id and translated-connection count.
pub fn dump_pinned(node: &str) -> Result<Vec<(ServicePort, u64)>, ProxyError> {
    let dir = pin_dir(Path::new(cgroup::BPFFS), node);
    let maps = Maps::open_pinned(&dir)?;
    let table = Table::read_back(&maps, u32::MAX)?;
    table
        .ports()
        .into_iter()
        .map(|p| {
            let n = match table.service_id(&p.frontend) {
                Some(id) => maps.connections(id)?,
                None => 0,
            };
            Ok((p, n))
        })
        .collect()
}

/// Removes a node's eBPF programs and pins without a running instance (for
/// `--cleanup` and switching to iptables mode). Missing is fine.
pub fn cleanup_node(node: &str) -> Result<(), ProxyError> {
    let bpffs = Path::new(cgroup::BPFFS);
    crate::ebpf::loader::remove_pins(&pin_dir(bpffs, node))?;
    // The shared parent goes with the last node (rmdir fails while another
    // node still has pins under it).
    let _ = std::fs::remove_dir(bpffs.join("orch"));
    Ok(())
}
