//! The benchmark's network: a client netns and a server netns routed through
//! a node netns (where iptables mode rewrites), like two pods on one node.
//! Everything is deleted on drop.
use std::path::PathBuf;

use crate::{cmd, netns::NetnsGuard};

/// Client address.
pub const CLIENT_IP: &str = "10.99.1.2";
/// Server address.
pub const SERVER_IP: &str = "10.99.2.2";

/// Client ↔ node ↔ server.
#[derive(Debug)]
pub struct Topology {
    /// The node (router) namespace.
    pub node: NetnsGuard,
    /// The client namespace.
    pub client: NetnsGuard,
    /// The server namespace.
    pub server: NetnsGuard,
}

impl Topology {
    /// Builds the namespaces, veth pairs, addresses and routes.
    pub fn new() -> Self {
        let t = Self {
            node: NetnsGuard::new("obn"),
            client: NetnsGuard::new("obc"),
            server: NetnsGuard::new("obs"),
        };
        for (ns, side, peer, addr, gw) in [
            (&t.client, "c0", "n0", CLIENT_IP, "10.99.1.1"),
            (&t.server, "s0", "n1", SERVER_IP, "10.99.2.1"),
        ] {
            cmd::run(
                "ip",
                &[
                    "link",
                    "add",
                    side,
                    "netns",
                    ns.name(),
                    "type",
                    "veth",
                    "peer",
                    "name",
                    peer,
                    "netns",
                    t.node.name(),
                ],
            );
            ns.exec_ok(&["ip", "addr", "add", &format!("{addr}/24"), "dev", side]);
            ns.exec_ok(&["ip", "link", "set", side, "up"]);
            ns.exec_ok(&["ip", "link", "set", "lo", "up"]);
            ns.exec_ok(&["ip", "route", "add", "default", "via", gw]);
            t.node
                .exec_ok(&["ip", "addr", "add", &format!("{gw}/24"), "dev", peer]);
            t.node.exec_ok(&["ip", "link", "set", peer, "up"]);
        }
        t.node.exec_ok(&["ip", "link", "set", "lo", "up"]);
        t.node
            .exec_ok(&["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        // As on a real node: untranslated VIPs fail at once.
        t.node
            .exec_ok(&["ip", "route", "add", "unreachable", "10.96.0.0/12"]);
        t
    }

    /// Path of the node namespace.
    pub fn node_path(&self) -> PathBuf {
        self.node.path()
    }
}

impl Default for Topology {
    fn default() -> Self {
        Self::new()
    }
}
