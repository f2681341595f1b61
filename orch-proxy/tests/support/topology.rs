//! A simulated node laid out like orch's: a node namespace with the pod
//! bridge `cbr0` holding the gateway 10.244.1.1/24, IP forwarding on, and
//! the service and pod CIDRs routed to `unreachable`; pods are namespaces
//! attached to `cbr0` by a veth pair, with hairpin mode on the bridge port
//! (as kubelet's `hairpin-veth` sets it) and a default route via the
//! gateway. Everything is deleted on drop.
use std::{
    net::Ipv4Addr,
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
};

use super::{quiet, run};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The gateway address of the pod bridge.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 1);

/// A named network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `oi<role><pid>x<n>` with `lo` up.
    pub fn new(role: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("oi{role}{}x{n}", std::process::id());
        run("ip", &["netns", "add", &name]);
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// The name `ip netns` knows it by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its bind mount, as the data path and `in_netns` take it.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// `ip -n <ns> args...`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all);
    }

    /// Runs a command inside the namespace; it must succeed. Returns stdout.
    pub fn exec(&self, argv: &[&str]) -> String {
        let mut all = vec!["netns", "exec", &self.name];
        all.extend_from_slice(argv);
        String::from_utf8_lossy(&run("ip", &all).stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // The veth pairs go with the namespaces.
        quiet("ip", &["netns", "del", &self.name]);
    }
}

/// A pod: its namespace and address.
#[derive(Debug)]
pub struct Pod {
    /// Its name (also what its echo servers answer).
    pub name: String,
    /// Its address in 10.244.1.0/24.
    pub ip: Ipv4Addr,
    /// Its namespace.
    pub ns: Netns,
}

/// A node with pods. Pods are dropped before the node.
#[derive(Debug)]
pub struct Node {
    /// The pods, in the order they were added.
    pub pods: Vec<Pod>,
    /// The node's namespace.
    pub ns: Netns,
}

impl Node {
    /// A node with no pods yet.
    pub fn new() -> Self {
        let ns = Netns::new("n");
        ns.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        ns.ip(&["link", "add", "cbr0", "type", "bridge"]);
        ns.ip(&["addr", "add", "10.244.1.1/24", "dev", "cbr0"]);
        ns.ip(&["link", "set", "cbr0", "up"]);
        for cidr in ["10.96.0.0/16", "10.244.0.0/16"] {
            ns.ip(&["route", "add", "unreachable", cidr]);
        }
        Self {
            pods: Vec::new(),
            ns,
        }
    }

    /// Adds a pod `name` at 10.244.1.`last`.
    pub fn add_pod(&mut self, name: &str, last: u8) -> &Pod {
        let ns = Netns::new("p");
        let ip = Ipv4Addr::new(10, 244, 1, last);
        let host = format!("veth{last}");
        self.ns.ip(&[
            "link",
            "add",
            &host,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ns.name(),
        ]);
        self.ns.ip(&["link", "set", &host, "master", "cbr0"]);
        self.ns.ip(&[
            "link",
            "set",
            &host,
            "type",
            "bridge_slave",
            "hairpin",
            "on",
        ]);
        self.ns.ip(&["link", "set", &host, "up"]);
        ns.ip(&["addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
        ns.ip(&["link", "set", "eth0", "up"]);
        ns.ip(&["route", "add", "default", "via", &GATEWAY.to_string()]);
        self.pods.push(Pod {
            name: name.to_string(),
            ip,
            ns,
        });
        self.pods.last().expect("just pushed")
    }

    /// The pod called `name`.
    pub fn pod(&self, name: &str) -> &Pod {
        self.pods
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no pod {name}"))
    }

    /// `iptables-save` of the node (both tables), without comment lines.
    pub fn iptables_save(&self) -> String {
        self.ns
            .exec(&["iptables-save"])
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// The node's UDP conntrack entries whose reply comes from `ip`.
    pub fn udp_flows_from(&self, ip: Ipv4Addr) -> usize {
        let out = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                self.ns.name(),
                "conntrack",
                "-L",
                "-p",
                "udp",
                "--reply-src",
                &ip.to_string(),
            ])
            .output()
            .expect("running conntrack -L");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("udp"))
            .count()
    }
}
