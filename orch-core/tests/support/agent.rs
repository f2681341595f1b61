//! Node agents for integration tests (root): `orch agent --simulate-node`
//! processes against a [`TestServer`], on a host bridge and address ranges
//! of their own (one [`Net`] slot per test file: agent 0, logs 1, probes 2,
//! proxy 3, ha 4; so test binaries never
//! share addresses), torn down with `orch agent teardown` on drop, also
//! when a test panics.
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use super::{orch, TestServer};

/// Cluster addressing that can't collide with a running cluster or with
/// another test file: slot `s` has the underlay `10.252.s.0/24` and its
/// own pod and service CIDRs.
pub struct Net {
    pub id: String,
    pub bridge: String,
    slot: u8,
}

/// (pod CIDR, service CIDR) of each slot.
const SLOTS: [(&str, &str); 5] = [
    ("10.246.0.0/16", "10.98.0.0/16"),
    ("10.241.0.0/16", "10.91.0.0/16"),
    ("10.240.0.0/16", "10.90.0.0/16"),
    ("10.239.0.0/16", "10.89.0.0/16"),
    ("10.238.0.0/16", "10.88.0.0/16"),
];

impl Net {
    /// The addressing of `slot` (0..=2), with names unique to this process.
    pub fn new(slot: u8) -> Self {
        assert!(usize::from(slot) < SLOTS.len(), "no address slot {slot}");
        let id = format!("{:x}", std::process::id());
        Self {
            bridge: format!("oab{id}"),
            id,
            slot,
        }
    }

    /// The host's address on the underlay.
    pub fn host_ip(&self) -> String {
        format!("10.252.{}.1", self.slot)
    }

    /// The underlay address of node `n`.
    pub fn node_ip(&self, n: u8) -> String {
        format!("10.252.{}.{}", self.slot, n + 1)
    }

    /// The cluster pod CIDR.
    pub fn pod_cidr(&self) -> &'static str {
        SLOTS[usize::from(self.slot)].0
    }

    /// The service CIDR.
    pub fn service_cidr(&self) -> &'static str {
        SLOTS[usize::from(self.slot)].1
    }

    /// Addressing flags of `orch agent` (and of `orch agent teardown`).
    pub fn layout_args(&self) -> Vec<String> {
        [
            "--host-bridge",
            &self.bridge,
            "--underlay-cidr",
            &format!("10.252.{}.0/24", self.slot),
            "--host-ip",
            &self.host_ip(),
            "--cluster-pod-cidr",
            self.pod_cidr(),
            "--service-cidr",
            self.service_cidr(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// An API server for this addressing.
    pub fn server(&self) -> TestServer {
        self.server_with(&[])
    }

    /// An API server for this addressing, with extra flags.
    pub fn server_with(&self, extra: &[&str]) -> TestServer {
        let host_ip = self.host_ip();
        let mut args = vec![
            "--pod-cidr",
            self.pod_cidr(),
            "--service-cidr",
            self.service_cidr(),
            "--advertise-address",
            &host_ip,
        ];
        args.extend(extra);
        TestServer::start_with(&args)
    }
}

/// Removes the host bridge and the host's unreachable routes on drop.
pub struct HostCleanup {
    bridge: String,
    routes: [&'static str; 2],
}

impl HostCleanup {
    /// Cleans up after `net`'s nodes.
    pub fn new(net: &Net) -> Self {
        Self {
            bridge: net.bridge.clone(),
            routes: [net.pod_cidr(), net.service_cidr()],
        }
    }
}

impl Drop for HostCleanup {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
        for r in self.routes {
            let _ = Command::new("ip")
                .args(["route", "del", "unreachable", r])
                .status();
        }
    }
}

/// A running `orch agent --simulate-node`.
pub struct Agent {
    pub name: String,
    pub dir: PathBuf,
    pub args: Vec<String>,
    layout: Vec<String>,
    child: Option<Child>,
}

impl Agent {
    /// Starts node `n` of `net` against `s` with short restart backoffs.
    pub fn start(s: &TestServer, net: &Net, n: u8) -> Self {
        Self::start_with(s, net, n, &[])
    }

    /// Starts node `n` with extra agent flags.
    pub fn start_with(s: &TestServer, net: &Net, n: u8, extra: &[&str]) -> Self {
        let name = format!("ta{}n{n}", net.id);
        let dir = s.data_dir().join(format!("agent-{n}"));
        let mut args: Vec<String> = vec![
            "agent".into(),
            "--node-name".into(),
            name.clone(),
            "--server".into(),
            s.url(),
            "--token".into(),
            std::fs::read_to_string(s.data_dir().join("join-token"))
                .unwrap()
                .trim()
                .into(),
            "--ca-file".into(),
            s.data_dir().join("ca.crt").display().to_string(),
            "--data-dir".into(),
            dir.display().to_string(),
            "--simulate-node".into(),
            "--node-ip".into(),
            net.node_ip(n),
            "--backoff-initial-ms".into(),
            "200".into(),
            "--backoff-max-ms".into(),
            "1000".into(),
        ];
        args.extend(net.layout_args());
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut a = Self {
            name,
            dir,
            args,
            // Teardown keeps the host bridge (HostCleanup removes it).
            layout: net.layout_args().into_iter().skip(2).collect(),
            child: None,
        };
        a.spawn();
        a
    }

    /// Starts the agent process (again).
    pub fn spawn(&mut self) {
        self.child = Some(
            Command::new(orch())
                .args(&self.args)
                .env(
                    "RUST_LOG",
                    std::env::var("ORCH_TEST_AGENT_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }

    /// kill -9 and wait.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill9();
        let mut args = vec![
            "agent".to_string(),
            "teardown".into(),
            "--node-name".into(),
            self.name.clone(),
            "--data-dir".into(),
            self.dir.display().to_string(),
            "--simulate-node".into(),
        ];
        args.extend(self.layout.iter().cloned());
        let _ = Command::new(orch()).args(&args).status();
    }
}

/// Polls `f` every 200 ms until it gives a value; panics after `secs`.
pub async fn wait_for<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs * super::time_scale());
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A pod bound to `node` with one container `main` running `command`;
/// `extra` fields are merged into the container.
pub fn pod(name: &str, node: &str, command: serde_json::Value, extra: serde_json::Value) -> Pod {
    let mut container = json!({"name": "main", "image": "host", "command": command});
    if let Some(m) = extra.as_object() {
        for (k, v) in m {
            container[k] = v.clone();
        }
    }
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 5, "containers": [container]}
    }))
    .unwrap()
}

/// Runs a bash script in the network namespace `netns`; its stdout.
pub fn exec_in(netns: &str, script: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", netns, "timeout", "5", "bash", "-c", script])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
