//! Picks the data path: `ebpf`, `iptables`, or `auto` (eBPF, falling back to
//! iptables with a logged reason). Starting one mode removes the other
//! mode's programs or rules, so a switch leaves nothing behind.
use std::{path::Path, str::FromStr};

use crate::{
    dataplane::Dataplane,
    ebpf::{self, Ebpf, EbpfOptions, LogLevel},
    iptables::{self, Iptables},
    ProxyError,
};

/// The `--proxy-mode` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModeChoice {
    /// eBPF where it loads, else iptables.
    #[default]
    Auto,
    /// eBPF or fail.
    Ebpf,
    /// iptables.
    Iptables,
}

impl FromStr for ModeChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "ebpf" => Ok(Self::Ebpf),
            "iptables" => Ok(Self::Iptables),
            other => Err(format!(
                "proxy mode {other:?} is not one of auto, ebpf, iptables"
            )),
        }
    }
}

/// Starts the chosen data path for `node` whose namespace is `netns`
/// (`None`: the current one).
pub fn start(
    choice: ModeChoice,
    node: &str,
    netns: Option<&Path>,
    capacity: u32,
    log_level: LogLevel,
) -> Result<Box<dyn Dataplane>, ProxyError> {
    let opts = EbpfOptions {
        node: node.to_string(),
        capacity,
        cgroup: None,
        log_level,
    };
    match choice {
        ModeChoice::Ebpf => start_ebpf(&opts, netns),
        ModeChoice::Iptables => start_iptables(node, netns),
        ModeChoice::Auto => match start_ebpf(&opts, netns) {
            Ok(dp) => Ok(dp),
            Err(e) => {
                tracing::warn!(reason = %e, "eBPF mode unavailable, falling back to iptables");
                start_iptables(node, netns)
            }
        },
    }
}

fn start_ebpf(opts: &EbpfOptions, netns: Option<&Path>) -> Result<Box<dyn Dataplane>, ProxyError> {
    let dp = Ebpf::start(opts)?;
    iptables::cleanup_netns(netns)?;
    Ok(Box::new(dp))
}

fn start_iptables(node: &str, netns: Option<&Path>) -> Result<Box<dyn Dataplane>, ProxyError> {
    let dp = Iptables::new(netns.map(Path::to_path_buf))?;
    ebpf::cleanup_node(node)?;
    Ok(Box::new(dp))
}

/// Removes both modes' programs, pins, chains and rules of `node`.
pub fn cleanup(node: &str, netns: Option<&Path>) -> Result<(), ProxyError> {
    ebpf::cleanup_node(node)?;
    iptables::cleanup_netns(netns)
}
