//! Forgetting UDP flows: a UDP "connection" tracked to an endpoint that is
//! gone keeps its DNAT until the entry times out, so its packets would keep
//! going to the dead endpoint. TCP entries are left alone, as kube-proxy
//! does: the endpoint (or its absence) resets them.
use std::{net::Ipv4Addr, path::Path};

use super::tool::{self, Tools, CONNTRACK};
use crate::{model::Endpoint, ProxyError};

/// Deletes the UDP entries whose original destination is `vip:port`, only
/// those answered by `endpoint` when given.
pub(crate) fn flush_udp(
    tools: &Tools,
    netns: Option<&Path>,
    vip: Ipv4Addr,
    port: u16,
    endpoint: Option<Endpoint>,
) -> Result<(), ProxyError> {
    let (vip, port) = (vip.to_string(), port.to_string());
    let mut args = vec![
        "-D",
        "-p",
        "udp",
        "--orig-dst",
        &vip,
        "--orig-port-dst",
        &port,
    ];
    let ep = endpoint.map(|e| (e.ip.to_string(), e.port.to_string()));
    if let Some((ip, port)) = &ep {
        args.extend(["--reply-src", ip, "--reply-port-src", port]);
    }
    let out = tool::run(tools, netns, CONNTRACK, &args, None)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    // conntrack exits 1 when no entry matched.
    if out.status.success() || stderr.contains(" 0 flow entries") {
        return Ok(());
    }
    Err(ProxyError::Iptables {
        what: format!("conntrack {}", args.join(" ")),
        detail: tool::failure(&out),
    })
}
