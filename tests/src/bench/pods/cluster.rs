//! The cluster of the pods benchmark: the release `orch server` and one
//! `orch agent --simulate-node` on addresses of their own (host bridge
//! `obp<pid>`, underlay 10.253.0.0/24, pods 10.247.0.0/16, services
//! 10.99.0.0/16), so a cluster already running on the machine is left
//! alone. On drop the agent is killed, `orch agent teardown` removes its
//! pods, node namespace and routes, and the bridge and the host's
//! unreachable routes go too.
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{bail, Result};
use k8s_openapi::api::core::v1::Node;
use kube::Api;

use crate::{
    bench::{
        orch::OrchServer,
        process::{rss_kib, ChildGuard},
    },
    cmd,
};

const UNDERLAY: &str = "10.253.0.0/24";
const HOST_IP: &str = "10.253.0.1";
const NODE_IP: &str = "10.253.0.2";
const POD_CIDR: &str = "10.247.0.0/16";
const SERVICE_CIDR: &str = "10.99.0.0/16";

/// A running server and agent.
#[derive(Debug)]
pub struct Cluster {
    agent: Option<ChildGuard>,
    /// The node's name.
    pub node: String,
    agent_dir: tempfile::TempDir,
    bridge: String,
    bin: PathBuf,
    server: OrchServer,
}

fn layout(bridge: &str) -> Vec<String> {
    [
        "--host-bridge",
        bridge,
        "--underlay-cidr",
        UNDERLAY,
        "--host-ip",
        HOST_IP,
        "--cluster-pod-cidr",
        POD_CIDR,
        "--service-cidr",
        SERVICE_CIDR,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Cluster {
    /// Starts `bin server` and `bin agent`, and waits until the node has
    /// its pod CIDR.
    pub async fn start(bin: &Path) -> Result<Self> {
        let args: Vec<String> = [
            "--pod-cidr",
            POD_CIDR,
            "--service-cidr",
            SERVICE_CIDR,
            "--advertise-address",
            HOST_IP,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let server = OrchServer::start(bin, &args).await?;
        let id = format!("{:x}", std::process::id());
        let mut cluster = Self {
            agent: None,
            node: format!("bench-{id}"),
            agent_dir: tempfile::Builder::new()
                .prefix("orch-bench-agent")
                .tempdir()?,
            bridge: format!("obp{id}"),
            bin: bin.to_path_buf(),
            server,
        };
        let data = cluster.server.data_dir();
        let join = std::fs::read_to_string(data.join("join-token"))?;
        let mut cmd = Command::new(bin);
        cmd.arg("agent")
            .args(["--node-name", &cluster.node])
            .args(["--server", &format!("https://{}", cluster.server.addr)])
            .args(["--token", join.trim()])
            .arg("--ca-file")
            .arg(data.join("ca.crt"))
            .arg("--data-dir")
            .arg(cluster.agent_dir.path().join("data"))
            .args(["--simulate-node", "--node-ip", NODE_IP, "--max-pods", "250"])
            .args(layout(&cluster.bridge))
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            );
        let log = cluster.agent_dir.path().join("agent.log");
        cluster.agent = Some(ChildGuard::spawn("orch agent", &mut cmd, &log)?);
        cluster.wait_pod_cidr().await?;
        Ok(cluster)
    }

    async fn wait_pod_cidr(&mut self) -> Result<()> {
        let nodes: Api<Node> = Api::all(self.client()?);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(a) = self.agent.as_mut() {
                a.check_running()?;
            }
            let cidr = nodes
                .get_opt(&self.node)
                .await?
                .and_then(|n| n.spec?.pod_cidr);
            if cidr.is_some() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "node {} got no pod CIDR within 30 s; agent log:\n{}",
            self.node,
            self.agent_log_tail(20)
        )
    }

    /// A client of the server.
    pub fn client(&self) -> Result<kube::Client> {
        self.server.client()
    }

    /// The agent's process id.
    pub fn agent_pid(&self) -> Option<u32> {
        self.agent.as_ref().map(ChildGuard::pid)
    }

    /// `VmRSS` of the agent, in KiB.
    pub fn agent_rss_kib(&self) -> Result<u64> {
        match self.agent_pid() {
            Some(pid) => Ok(rss_kib(pid)?.0),
            None => bail!("the agent is not running"),
        }
    }

    /// Copies the agent's log (with `RUST_LOG=orch_core::agent=debug`, the
    /// time each pod's set-up took) to `to`.
    pub fn save_agent_log(&self, to: &Path) -> Result<()> {
        std::fs::copy(self.agent_dir.path().join("agent.log"), to)?;
        Ok(())
    }

    /// The end of the agent's log.
    pub fn agent_log_tail(&self, lines: usize) -> String {
        self.agent
            .as_ref()
            .map(|a| a.log_tail(lines))
            .unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        drop(self.agent.take());
        let mut args = vec![
            "agent".to_string(),
            "teardown".into(),
            "--node-name".into(),
            self.node.clone(),
            "--data-dir".into(),
            self.agent_dir.path().join("data").display().to_string(),
            "--simulate-node".into(),
        ];
        args.extend(layout(&self.bridge));
        let _ = Command::new(&self.bin)
            .args(&args)
            .stdout(std::process::Stdio::null())
            .status();
        cmd::quiet("ip", &["link", "del", &self.bridge]);
        for r in [POD_CIDR, SERVICE_CIDR] {
            cmd::quiet("ip", &["route", "del", "unreachable", r]);
        }
    }
}
