//! Loads the embedded object, attaches its four `sock_addr` programs at a
//! cgroup v2 directory, and pins maps and links so that state and service
//! outlive the process. A restart loads the programs again, attaches them,
//! and only then detaches the previous run's links: there is no moment
//! without a program and never two copies left behind.
use std::{
    fs::File,
    path::{Path, PathBuf},
};

use aya::{
    programs::{links::FdLink, links::PinnedLink, CgroupAttachMode, CgroupSockAddr},
    Ebpf, EbpfLoader,
};
use orch_proxy_common::{
    DEFAULT_CAPACITY, MAPS, MAP_BACKENDS, MAP_REVNAT, MAP_SERVICES, MAP_STATS, PROGRAMS,
};

use crate::{ebpf::maps::Maps, ebpf::object::OBJECT, ProxyError};

/// How to load the object.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// When set, maps and links are pinned in this bpffs directory
    /// (created if missing) and reused by the next load.
    pub pin_dir: Option<PathBuf>,
    /// Service ports and backends the maps hold.
    pub capacity: u32,
    /// eBPF-side diagnostics (aya-log) at this level and above; off by
    /// default.
    pub log_level: LogLevel,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            pin_dir: None,
            capacity: DEFAULT_CAPACITY,
            log_level: LogLevel::Off,
        }
    }
}

/// Level of the programs' own diagnostics (aya-log), forwarded to the
/// proxy's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    /// Nothing (the default): the programs skip every log statement.
    #[default]
    Off = 0,
    /// Errors.
    Error = 1,
    /// Warnings: inconsistent maps.
    Warn = 2,
    /// Information.
    Info = 3,
    /// Debug: every refused connection.
    Debug = 4,
}

impl std::str::FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "off" => Self::Off,
            "error" => Self::Error,
            "warn" => Self::Warn,
            "info" => Self::Info,
            "debug" => Self::Debug,
            other => {
                return Err(format!(
                    "eBPF log level {other:?} is not one of off, error, warn, info, debug"
                ))
            }
        })
    }
}

/// A loaded (and possibly attached) socket load-balancer.
pub struct SockLb {
    ebpf: Ebpf,
    maps: Maps,
    pin_dir: Option<PathBuf>,
    logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
}

impl std::fmt::Debug for SockLb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SockLb")
            .field("pin_dir", &self.pin_dir)
            .field("logging", &self.logger.is_some())
            .finish_non_exhaustive()
    }
}

impl SockLb {
    /// Loads the embedded object into the kernel (reusing pinned maps) and
    /// verifies the programs.
    pub fn load(opts: &LoadOptions) -> Result<Self, ProxyError> {
        if opts.capacity == 0 || opts.capacity > (1 << 24) {
            return Err(ProxyError::Config(format!(
                "capacity {} is out of range: expected 1..=16777216",
                opts.capacity
            )));
        }
        let mut loader = EbpfLoader::new();
        loader
            .map_max_entries(MAP_SERVICES, opts.capacity * 2)
            .map_max_entries(MAP_BACKENDS, opts.capacity)
            .map_max_entries(MAP_REVNAT, opts.capacity * 4)
            .map_max_entries(MAP_STATS, opts.capacity);
        let pins: Vec<(&str, PathBuf)> = match &opts.pin_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| ProxyError::io("creating pin directory", dir, e))?;
                MAPS.iter().map(|m| (*m, dir.join(m))).collect()
            }
            None => Vec::new(),
        };
        for (name, path) in &pins {
            loader.map_pin_path(name, path.as_path());
        }
        let level = opts.log_level as u8;
        loader.override_global("AYA_LOG_LEVEL", &level, false);
        let mut ebpf = loader.load(OBJECT)?;
        let logger = match opts.log_level {
            LogLevel::Off => None,
            _ => Some(
                aya_log::EbpfLogger::init(&mut ebpf).map_err(|e| ProxyError::Link {
                    name: "AYA_LOGS",
                    detail: format!("starting the eBPF logger: {e}"),
                })?,
            ),
        };
        for name in PROGRAMS {
            program(&mut ebpf, name)?
                .load()
                .map_err(|source| ProxyError::Program { name, source })?;
        }
        let maps = Maps::take(&mut ebpf)?;
        Ok(Self {
            ebpf,
            maps,
            pin_dir: opts.pin_dir.clone(),
            logger,
        })
    }

    /// Attaches every program to the cgroup v2 directory `cgroup`. Sockets
    /// in that cgroup and below whose namespace is scoped are balanced.
    /// With a pin directory the links are pinned there, replacing (after
    /// the new one is attached) any link a previous run pinned.
    pub fn attach(&mut self, cgroup: &Path) -> Result<(), ProxyError> {
        let dir = File::open(cgroup).map_err(|e| ProxyError::io("opening cgroup", cgroup, e))?;
        for name in PROGRAMS {
            let prog = program(&mut self.ebpf, name)?;
            // On kernels with bpf_link (5.7+) aya attaches through a link,
            // which coexists with other programs and takes no mode flags.
            let id = prog
                .attach(&dir, CgroupAttachMode::Single)
                .map_err(|source| ProxyError::Program { name, source })?;
            let Some(pin_dir) = &self.pin_dir else {
                continue;
            };
            let link = prog
                .take_link(id)
                .map_err(|source| ProxyError::Program { name, source })?;
            let link = FdLink::try_from(link).map_err(|e| ProxyError::Link {
                name,
                detail: e.to_string(),
            })?;
            let path = link_pin(pin_dir, name);
            unpin_link(&path, name)?;
            link.pin(&path).map_err(|e| ProxyError::Link {
                name,
                detail: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// The kernel's ids of the loaded programs, in [`PROGRAMS`] order.
    pub fn program_ids(&mut self) -> Result<Vec<u32>, ProxyError> {
        PROGRAMS
            .iter()
            .map(|name| {
                let info = program(&mut self.ebpf, name)?
                    .info()
                    .map_err(|source| ProxyError::Program { name, source })?;
                Ok(info.id())
            })
            .collect()
    }

    /// Forwards the programs' pending diagnostics to the proxy's log.
    pub fn flush_logs(&mut self) {
        if let Some(l) = &mut self.logger {
            l.flush();
        }
    }

    /// The maps.
    pub fn maps(&mut self) -> &mut Maps {
        &mut self.maps
    }

    /// Detaches and unloads everything, and removes the pins and the pin
    /// directory. Dropping a `SockLb` instead keeps pinned links attached
    /// and pinned maps alive, for the next run.
    pub fn teardown(self) -> Result<(), ProxyError> {
        let Self {
            ebpf,
            maps,
            pin_dir,
            logger,
        } = self;
        drop((logger, maps, ebpf));
        match pin_dir {
            Some(dir) => remove_pins(&dir),
            None => Ok(()),
        }
    }
}

/// Removes a pin directory left by an earlier run: detaches its links and
/// drops its maps (once nothing else holds them). Missing is fine.
pub fn remove_pins(dir: &Path) -> Result<(), ProxyError> {
    for name in PROGRAMS {
        unpin_link(&link_pin(dir, name), name)?;
    }
    for m in MAPS {
        let p = dir.join(m);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ProxyError::io("unpinning", p, e)),
        }
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ProxyError::io("removing pin directory", dir, e)),
    }
}

/// Where the link of program `name` is pinned.
fn link_pin(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("link_{name}"))
}

/// Unpins (and so detaches) a pinned link, if there is one.
fn unpin_link(path: &Path, name: &'static str) -> Result<(), ProxyError> {
    if !path.exists() {
        return Ok(());
    }
    let old = PinnedLink::from_pin(path).map_err(|e| ProxyError::Link {
        name,
        detail: format!("opening {}: {e}", path.display()),
    })?;
    let old = old.unpin().map_err(|e| ProxyError::Link {
        name,
        detail: format!("unpinning {}: {e}", path.display()),
    })?;
    drop(old);
    Ok(())
}

fn program<'a>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
) -> Result<&'a mut CgroupSockAddr, ProxyError> {
    ebpf.program_mut(name)
        .ok_or(ProxyError::Missing(name))?
        .try_into()
        .map_err(|source| ProxyError::Program { name, source })
}
