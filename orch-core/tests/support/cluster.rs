//! A small simulated cluster for root tests: unique addressing that can't
//! collide with a running cluster, `orch agent --simulate-node` processes
//! that are torn down (`orch agent teardown`) on drop, and helpers to build
//! pods and run commands inside namespaces.
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use super::TestServer;

pub const ORCH: &str = env!("CARGO_BIN_EXE_orch");

/// Cluster addressing that can't collide with a running cluster.
pub struct Net {
    pub id: String,
    pub bridge: String,
}

impl Net {
    pub fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{:x}{n}", std::process::id());
        Self {
            bridge: format!("oab{id}"),
            id,
        }
    }

    pub fn layout_args(&self) -> Vec<String> {
        [
            "--host-bridge",
            &self.bridge,
            "--underlay-cidr",
            "10.252.0.0/24",
            "--host-ip",
            "10.252.0.1",
            "--cluster-pod-cidr",
            "10.246.0.0/16",
            "--service-cidr",
            "10.98.0.0/16",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

pub struct Agent {
    pub name: String,
    pub dir: PathBuf,
    pub args: Vec<String>,
    child: Option<Child>,
}

impl Agent {
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
            format!("10.252.0.{}", n + 1),
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
            child: None,
        };
        a.spawn();
        a
    }

    pub fn spawn(&mut self) {
        self.child = Some(
            Command::new(ORCH)
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
        args.extend(
            Net {
                id: String::new(),
                bridge: String::new(),
            }
            .layout_args()
            .into_iter()
            .skip(2),
        );
        let _ = Command::new(ORCH).args(&args).status();
    }
}

pub struct HostCleanup(pub Net);

impl Drop for HostCleanup {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.0.bridge])
            .status();
        for r in ["10.246.0.0/16", "10.98.0.0/16"] {
            let _ = Command::new("ip")
                .args(["route", "del", "unreachable", r])
                .status();
        }
    }
}

pub fn server() -> TestServer {
    TestServer::start_with(&[
        "--pod-cidr",
        "10.246.0.0/16",
        "--service-cidr",
        "10.98.0.0/16",
        "--advertise-address",
        "10.252.0.1",
    ])
}

pub async fn wait_for<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

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

pub fn exec_in(netns: &str, script: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", netns, "timeout", "5", "bash", "-c", script])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
