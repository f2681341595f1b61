//! What a cluster leaves on the host, and the check after teardown that
//! nothing is left: node and pod namespaces, the bridge and host veths,
//! bpf pins, cgroup directories, ORCH- iptables chains in the host,
//! `unreachable` routes, and processes. Only names of this cluster count,
//! so other clusters and tests on the same machine are never reported.
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use serde::{Deserialize, Serialize};

use super::{api::Api, layout::Layout};
use crate::step;

/// Where the eBPF proxy pins each node's maps and links.
const BPF_PINS: &str = "/sys/fs/bpf/orch";
/// Where the runtime bind-mounts pods' namespaces.
const POD_NS_DIR: &str = "/run/orch/ns";

/// What the running cluster had, noted while it runs and before teardown
/// (and kept in the run record, for the clean-up after a crash).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// Pod network namespaces.
    pub pod_netns: BTreeSet<String>,
    /// Pod uids (their namespaces are kept under /run/orch/ns/<uid>).
    pub pod_uids: BTreeSet<String>,
    /// Host links attached to the bridge.
    pub host_links: BTreeSet<String>,
}

impl Seen {
    /// Notes the cluster's pods (through the API) and the host veths on
    /// the bridge. Best effort: what can't be read is simply not noted.
    pub fn observe(&mut self, layout: &Layout, api: &Api) {
        if let Ok(pods) = api.pods(None, None) {
            for p in pods {
                if !p.netns.is_empty() {
                    self.pod_netns.insert(p.netns);
                }
                self.pod_uids.insert(p.uid);
            }
        }
        if let Some(out) =
            step::output(Command::new("ip").args(["-o", "link", "show", "master", &layout.bridge]))
        {
            self.host_links.extend(out.lines().filter_map(link_name));
        }
    }
}

/// `3: ovabc@if2: <...>` → `ovabc`.
fn link_name(line: &str) -> Option<String> {
    let name = line.split(':').nth(1)?.trim();
    Some(name.split('@').next()?.to_string())
}

/// Removes pod namespaces that a node's teardown did not: stops the
/// processes in the network namespace, deletes it and its `/etc/netns`
/// files, and unbinds the pod's UTS and IPC namespaces.
pub fn remove_pods(seen: &Seen) {
    let present = netns_names();
    for ns in seen.pod_netns.iter().filter(|ns| present.contains(ns)) {
        step::info(&format!("removing pod network namespace {ns}"));
        let pids = step::output(Command::new("ip").args(["netns", "pids", ns])).unwrap_or_default();
        for pid in pids.split_whitespace() {
            step::succeeds(Command::new("kill").args(["-KILL", pid]));
        }
        step::succeeds(Command::new("ip").args(["netns", "delete", ns]));
        let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(ns));
    }
    for uid in &seen.pod_uids {
        let dir = Path::new(POD_NS_DIR).join(uid);
        if uid.is_empty() || uid.contains('/') || !dir.is_dir() {
            continue;
        }
        step::info(&format!("removing pod namespaces {}", dir.display()));
        for kind in ["uts", "ipc"] {
            step::succeeds(Command::new("umount").arg("-l").arg(dir.join(kind)));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Names in `ip netns list`.
fn netns_names() -> Vec<String> {
    step::output(Command::new("ip").args(["netns", "list"]))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// The node named `name`, if it is one of this layout's (prefix + number).
fn node_of(layout: &Layout, name: &str) -> Option<String> {
    let n = name.strip_prefix(&layout.node_prefix)?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then(|| name.to_string())
}

fn dir_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The cgroup v2 mount point (`/sys/fs/cgroup` or, on hybrid hosts,
/// `/sys/fs/cgroup/unified`).
pub fn cgroup2_root() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let point = left.split_whitespace().nth(4)?;
            (right.split_whitespace().next()? == "cgroup2").then(|| PathBuf::from(point))
        })
        .min_by_key(|p| p.components().count())
}

/// Nodes of this layout that left a namespace, bpf pins, a cgroup or pod
/// sandboxes behind.
pub fn nodes_present(layout: &Layout) -> Vec<String> {
    let mut nodes = BTreeSet::new();
    for ns in netns_names() {
        if let Some(node) = ns.strip_prefix("orch-").and_then(|n| node_of(layout, n)) {
            nodes.insert(node);
        }
    }
    let mut dirs = vec![PathBuf::from(BPF_PINS)];
    dirs.extend(cgroup2_root().map(|c| c.join("orch")));
    for dir in dirs {
        nodes.extend(dir_names(&dir).iter().filter_map(|n| node_of(layout, n)));
    }
    for n in dir_names(&layout.state.join("agents")) {
        if let Some(node) = node_of(layout, &n) {
            if !dir_names(&layout.agent_dir(&node).join("pods")).is_empty() {
                nodes.insert(node);
            }
        }
    }
    nodes.into_iter().collect()
}

/// Whether the host still has the layout's bridge.
pub fn host_present(layout: &Layout) -> bool {
    step::succeeds(Command::new("ip").args(["link", "show", &layout.bridge]))
}

/// Everything of this cluster still on the host, one line each.
pub fn scan(layout: &Layout, seen: &Seen, nodes: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for ns in netns_names() {
        let node_ns = ns
            .strip_prefix("orch-")
            .and_then(|n| node_of(layout, n))
            .is_some();
        if node_ns || seen.pod_netns.contains(&ns) {
            found.push(format!("network namespace {ns}"));
        }
    }
    for ns in &seen.pod_netns {
        let etc = Path::new("/etc/netns").join(ns);
        if etc.exists() {
            found.push(format!("directory {}", etc.display()));
        }
    }
    for uid in &seen.pod_uids {
        let dir = Path::new(POD_NS_DIR).join(uid);
        if dir.exists() {
            found.push(format!("pod namespaces {}", dir.display()));
        }
    }
    let links = step::output(Command::new("ip").args(["-o", "link", "show"])).unwrap_or_default();
    for name in links.lines().filter_map(link_name) {
        if name == layout.bridge || seen.host_links.contains(&name) {
            found.push(format!("link {name}"));
        }
    }
    let cgroup = cgroup2_root().map(|c| c.join("orch"));
    let all_nodes: BTreeSet<String> = nodes.iter().cloned().chain(nodes_present(layout)).collect();
    for node in &all_nodes {
        let pins = Path::new(BPF_PINS).join(node);
        if pins.exists() {
            found.push(format!("bpf pins {}", pins.display()));
        }
        if let Some(cg) = cgroup.as_ref().map(|c| c.join(node)).filter(|c| c.exists()) {
            found.push(format!("cgroup {}", cg.display()));
        }
    }
    found.extend(host_chains());
    let routes = step::output(Command::new("ip").args(["route", "show", "type", "unreachable"]))
        .unwrap_or_default();
    for cidr in [layout.service_cidr, layout.pod_cidr] {
        let c = cidr.to_string();
        if routes
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(c.as_str()))
        {
            found.push(format!("route unreachable {c}"));
        }
    }
    found.extend(processes(layout, &all_nodes));
    if layout.ready_file().exists() {
        found.push(format!("file {}", layout.ready_file().display()));
    }
    found
}

/// ORCH- chains in the host's iptables (nodes keep theirs in their own
/// namespaces, which go with them; the host must have none).
fn host_chains() -> Vec<String> {
    let Some(dump) = step::output(&mut Command::new("iptables-save")) else {
        return Vec::new();
    };
    dump.lines()
        .filter_map(|l| l.strip_prefix(":ORCH-"))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(|c| format!("iptables chain ORCH-{c} in the host"))
        .collect()
}

/// Processes in a node's cgroup, or running with the state directory in
/// their command line (the server, agents, teardowns).
fn processes(layout: &Layout, nodes: &BTreeSet<String>) -> Vec<String> {
    let state = layout.state.display().to_string();
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for pid in dir_names(Path::new("/proc")) {
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
            continue;
        }
        let Some(argv) = pid.parse().ok().and_then(super::procs::cmdline) else {
            continue;
        };
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let in_node = nodes
            .iter()
            .any(|n| cgroup.contains(&format!("/orch/{n}/")));
        let with_state =
            argv.iter().skip(1).any(|a| a.starts_with(&state)) && !argv.iter().any(|a| a == "run");
        if in_node || with_state {
            found.push(format!("process {pid}: {}", argv.join(" ")));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_link_names() {
        assert_eq!(
            link_name("7: ov1a2b@if2: <BROADCAST,MULTICAST,UP> mtu 1500").as_deref(),
            Some("ov1a2b")
        );
        assert_eq!(link_name("3: orch0: <BROADCAST>").as_deref(), Some("orch0"));
    }

    #[test]
    fn only_this_layouts_nodes() {
        let l = Layout {
            state: PathBuf::from("/t"),
            node_prefix: "node-".into(),
            nodes: 2,
            bridge: "orch0".into(),
            underlay: "10.250.0.0/24".parse().unwrap(),
            pod_cidr: "10.244.0.0/16".parse().unwrap(),
            service_cidr: "10.96.0.0/16".parse().unwrap(),
            api_port: 6443,
        };
        assert_eq!(node_of(&l, "node-12").as_deref(), Some("node-12"));
        assert_eq!(node_of(&l, "node-"), None);
        assert_eq!(node_of(&l, "node-x"), None);
        assert_eq!(node_of(&l, "ta1n1"), None);
    }
}
