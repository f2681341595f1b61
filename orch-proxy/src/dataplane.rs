//! What every data-path mode (eBPF, iptables) offers the proxy loop.
use std::{fmt, path::Path};

use crate::{
    model::{Change, ServicePort},
    ProxyError,
};

/// The data-path mode in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Socket-level load-balancing at the cgroup `sock_addr` hooks.
    Ebpf,
    /// kube-proxy style nat chains.
    Iptables,
}

impl Mode {
    /// The name used in flags and metrics (`ebpf`, `iptables`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ebpf => "ebpf",
            Self::Iptables => "iptables",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A programmed data path. The proxy loop calls [`Dataplane::apply`] with
/// the changes of one Service at a time and [`Dataplane::resync`] with the
/// whole table at start and periodically.
pub trait Dataplane: Send {
    /// Which mode this is.
    fn mode(&self) -> Mode;

    /// Programs `changes`; touches nothing else.
    fn apply(&mut self, changes: &[Change]) -> Result<(), ProxyError>;

    /// Makes the data path hold exactly `table`, removing anything else it
    /// has (left over from an earlier run, or drifted).
    fn resync(&mut self, table: &[ServicePort]) -> Result<(), ProxyError>;

    /// Reads back the live service table from the kernel (maps or rules),
    /// sorted by frontend.
    fn dump(&mut self) -> Result<Vec<ServicePort>, ProxyError>;

    /// Puts the network namespace at `netns` under this proxy (eBPF scope);
    /// `key` names it for [`Dataplane::unscope`]. No-op where the mode
    /// does not need it.
    fn scope(&mut self, key: &str, netns: &Path) -> Result<(), ProxyError> {
        let _ = (key, netns);
        Ok(())
    }

    /// Removes the namespace scoped under `key`.
    fn unscope(&mut self, key: &str) -> Result<(), ProxyError> {
        let _ = key;
        Ok(())
    }

    /// Per-frontend counters of translated connections, where the mode
    /// keeps them.
    fn connection_counts(&mut self) -> Result<Vec<(ServicePort, u64)>, ProxyError> {
        Ok(Vec::new())
    }

    /// Forwards data-path diagnostics (eBPF logs) to the proxy's log.
    fn flush_diagnostics(&mut self) {}

    /// Removes every program, map, pin, chain and rule this mode installed.
    fn cleanup(self: Box<Self>) -> Result<(), ProxyError>;
}
