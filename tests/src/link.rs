//! Links created by tests: veth pairs and bridges in the host namespace,
//! deleted on drop.
use crate::{cmd, names::unique_name, netns::NetnsGuard};

/// A veth pair whose host end stays in the host namespace and whose peer
/// end was moved into a test namespace.
#[derive(Debug)]
pub struct VethGuard {
    host: String,
    peer: String,
}

impl VethGuard {
    /// Creates a veth pair, moves the peer into `ns`, gives it `cidr`
    /// (for example `10.213.7.2/24`) and brings both ends up.
    pub fn new(ns: &NetnsGuard, cidr: &str) -> Self {
        let host = unique_name("vh");
        let peer = unique_name("vp");
        cmd::run(
            "ip",
            &["link", "add", &host, "type", "veth", "peer", "name", &peer],
        );
        let guard = Self { host, peer };
        cmd::run("ip", &["link", "set", &guard.peer, "netns", ns.name()]);
        ns.exec_ok(&["ip", "addr", "add", cidr, "dev", &guard.peer]);
        ns.exec_ok(&["ip", "link", "set", &guard.peer, "up"]);
        cmd::run("ip", &["link", "set", &guard.host, "up"]);
        guard
    }

    /// The host end's name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The namespace end's name.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Enslaves the host end to `bridge`.
    pub fn attach_to(&self, bridge: &BridgeGuard) {
        self.attach_to_bridge(bridge.name());
    }

    /// Enslaves the host end to the bridge named `bridge` (one the test
    /// did not create, such as a cluster's host bridge).
    pub fn attach_to_bridge(&self, bridge: &str) {
        cmd::run("ip", &["link", "set", &self.host, "master", bridge]);
    }
}

impl Drop for VethGuard {
    fn drop(&mut self) {
        // Deleting one end deletes both; the peer may already be gone with
        // its namespace.
        cmd::quiet("ip", &["link", "del", &self.host]);
    }
}

/// A Linux bridge in the host namespace without an address: namespaces on it
/// share one L2 segment and nothing is routed through the host.
#[derive(Debug)]
pub struct BridgeGuard {
    name: String,
}

impl BridgeGuard {
    /// Creates and brings up a bridge.
    pub fn new() -> Self {
        let name = unique_name("ob");
        cmd::run("ip", &["link", "add", &name, "type", "bridge"]);
        cmd::run("ip", &["link", "set", &name, "up"]);
        Self { name }
    }

    /// The bridge's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Default for BridgeGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for BridgeGuard {
    fn drop(&mut self) {
        cmd::quiet("ip", &["link", "del", &self.name]);
    }
}

/// Whether a link of this name exists in the host namespace.
pub fn exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}
