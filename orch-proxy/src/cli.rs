//! Command-line flags of the proxy, shared by the `orch-proxy` binary and
//! `orch agent` (which runs the proxy in-process by default).
use std::{net::SocketAddr, path::PathBuf, time::Duration};

use crate::{
    ebpf::LogLevel,
    run::{ModeChoice, ProxyConfig},
};

/// Proxy flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ProxyFlags {
    /// Data path: `auto` (eBPF, falling back to iptables with a logged
    /// reason), `ebpf` or `iptables`.
    #[arg(long, default_value = "auto", value_parser = parse_mode)]
    pub proxy_mode: ModeChoice,
    /// Service ports and backends the eBPF maps hold.
    #[arg(long, default_value_t = orch_proxy_common::DEFAULT_CAPACITY)]
    pub map_capacity: u32,
    /// Seconds between full resyncs of the data path.
    #[arg(long, default_value_t = 30)]
    pub proxy_resync_seconds: u64,
    /// Where to serve the proxy's /metrics and /healthz, inside the node's
    /// network namespace (`none` to disable).
    #[arg(long, default_value = "0.0.0.0:10249", value_parser = parse_addr)]
    pub proxy_metrics_addr: MetricsAddr,
    /// eBPF-side diagnostics (aya-log) forwarded to the log: off, error,
    /// warn, info or debug (every refused connection).
    #[arg(long, default_value = "off", value_parser = parse_level)]
    pub ebpf_log_level: LogLevel,
}

fn parse_level(s: &str) -> Result<LogLevel, String> {
    s.parse()
}

/// An address to serve metrics on, or none.
#[derive(Debug, Clone, Copy)]
pub struct MetricsAddr(pub Option<SocketAddr>);

fn parse_mode(s: &str) -> Result<ModeChoice, String> {
    s.parse()
}

fn parse_addr(s: &str) -> Result<MetricsAddr, String> {
    if s == "none" {
        return Ok(MetricsAddr(None));
    }
    s.parse()
        .map(|a| MetricsAddr(Some(a)))
        .map_err(|e| format!("{s:?} is not an address like 0.0.0.0:10249 or `none`: {e}"))
}

impl ProxyFlags {
    /// The proxy configuration for `node` whose network namespace is
    /// `netns` (`None`: the current one).
    pub fn config(&self, node: &str, netns: Option<PathBuf>) -> ProxyConfig {
        ProxyConfig {
            netns,
            mode: self.proxy_mode,
            capacity: self.map_capacity,
            resync_interval: Duration::from_secs(self.proxy_resync_seconds.max(1)),
            metrics_addr: self.proxy_metrics_addr.0,
            ebpf_log_level: self.ebpf_log_level,
            ..ProxyConfig::new(node)
        }
    }
}
