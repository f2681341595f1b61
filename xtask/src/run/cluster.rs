//! Bringing the cluster's processes up: the host bridge with the API
//! server's underlay address, `orch server`, and one `orch agent
//! --simulate-node` per node, each logging to `logs/<name>.log`, with the
//! run record kept current; and stopping them again (agents first, so they
//! never see the server vanish mid-work).
use std::{net::TcpListener, path::PathBuf, process::Command, time::Duration};

use anyhow::{bail, Context, Result};

use super::{
    api::Api,
    layout::{short, Layout},
    leftovers::Seen,
    procs::Proc,
    record::Record,
    signals::Stop,
    wait,
};
use crate::step;

/// How long `orch server` may take to answer.
const SERVER_LIMIT: Duration = Duration::from_secs(30);
/// How long the nodes may take to be Ready.
const NODES_LIMIT: Duration = Duration::from_secs(60);
/// Grace period of SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The built binaries the cluster runs.
#[derive(Debug, Clone)]
pub struct Bins {
    /// `orch` (server, agents, and the demo's echo server).
    pub orch: PathBuf,
    /// `orchctl`.
    pub orchctl: PathBuf,
}

impl Bins {
    /// The binaries of the debug or release build, or those in
    /// `ORCH_BIN_DIR` when that is set (prebuilt binaries, as inside
    /// `cargo xtask vm`); fails if one is missing.
    pub fn locate(release: bool) -> Result<Self> {
        let dir = match std::env::var_os("ORCH_BIN_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => step::target_dir().join(if release { "release" } else { "debug" }),
        };
        let bins = Self {
            orch: dir.join("orch"),
            orchctl: dir.join("orchctl"),
        };
        for b in [&bins.orch, &bins.orchctl] {
            if !b.is_file() {
                bail!(
                    "{} is missing: build it (`cargo xtask build{}`) or drop --no-build",
                    b.display(),
                    if release { " --release" } else { "" }
                );
            }
        }
        Ok(bins)
    }
}

/// The running cluster's processes.
#[derive(Debug)]
pub struct Cluster {
    pub layout: Layout,
    pub bins: Bins,
    pub api: Api,
    pub proxy_mode: String,
    /// Extra arguments of `orch server`.
    pub server_args: Vec<String>,
    record: Record,
    server: Option<Proc>,
    agents: Vec<Proc>,
}

impl Cluster {
    pub fn new(layout: Layout, bins: Bins, proxy_mode: &str) -> Self {
        Self {
            api: Api::new(&bins.orchctl, &layout.kubeconfig()),
            record: Record::new(&bins.orch, &layout),
            layout,
            bins,
            proxy_mode: proxy_mode.to_string(),
            server_args: Vec::new(),
            server: None,
            agents: Vec::new(),
        }
    }

    /// Fails if the API port is taken (by something that is not a
    /// previous run, which has been stopped by now).
    pub fn check_port(&self) -> Result<()> {
        let port = self.layout.api_port;
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            bail!(
                "port {port} on 127.0.0.1 is taken: another API server runs here \
                 (`ss -ltnp 'sport = :{port}'` shows which); stop it or pick --api-port"
            );
        }
        Ok(())
    }

    /// Fresh state directories, the run record, and the host bridge holding
    /// the host's underlay address (so the API server can listen on it
    /// before the first agent joins; agents find the bridge and keep it).
    pub fn prepare(&mut self) -> Result<()> {
        let l = &self.layout;
        for dir in [l.server_dir(), l.state.join("agents"), l.state.join("logs")] {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("removing {}", dir.display())),
            }
            std::fs::create_dir_all(&dir)?;
        }
        let _ = std::fs::remove_file(l.kubeconfig());
        self.record.save()?;
        let host = format!("{}/{}", l.host_ip(), l.underlay.prefix);
        if !step::succeeds(Command::new("ip").args(["link", "show", &l.bridge])) {
            step::run(Command::new("ip").args(["link", "add", &l.bridge, "type", "bridge"]))?;
        }
        let addrs = step::output(Command::new("ip").args(["-o", "addr", "show", "dev", &l.bridge]))
            .unwrap_or_default();
        if !addrs.contains(&format!(" {host} ")) {
            step::run(Command::new("ip").args(["addr", "add", &host, "dev", &l.bridge]))?;
        }
        step::run(Command::new("ip").args(["link", "set", &l.bridge, "up"]))
    }

    /// Starts `orch server` and waits until it answers; publishes its admin
    /// kubeconfig.
    pub fn start_server(&mut self, stop: &Stop) -> Result<()> {
        let l = self.layout.clone();
        let t = step::start(&format!(
            "server: orch server on {} and https://{}:{}",
            l.server_url(),
            l.host_ip(),
            l.api_port
        ));
        let mut cmd = Command::new(&self.bins.orch);
        cmd.arg("server")
            .arg("--data-dir")
            .arg(l.server_dir())
            .args(["--listen", &format!("127.0.0.1:{}", l.api_port)])
            .args(["--listen", &format!("{}:{}", l.host_ip(), l.api_port)])
            .args(["--advertise-address", &l.host_ip().to_string()])
            .args(["--service-cidr", &l.service_cidr.to_string()])
            .args(["--pod-cidr", &l.pod_cidr.to_string()])
            .args(&self.server_args);
        log_level(&mut cmd);
        let log = l.log("server");
        let server = Proc::spawn("orch server", &mut cmd, &log)?;
        self.record.server = Some(server.pid());
        self.record.save()?;
        self.server = Some(server);
        let kc = l.server_dir().join("admin.kubeconfig");
        let hint = format!("read the server's log: {}", log.display());
        let port = l.api_port;
        wait::until("the API server", SERVER_LIMIT, stop, &hint, |_| {
            self.check_running()?;
            Ok((kc.is_file()
                && l.server_dir().join("join-token").is_file()
                && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
            .then_some(()))
        })?;
        std::fs::copy(&kc, l.kubeconfig())
            .with_context(|| format!("copying {} to {}", kc.display(), l.kubeconfig().display()))?;
        wait::until("the API server", SERVER_LIMIT, stop, &hint, |last| {
            self.check_running()?;
            match self.api.get(&["namespaces"]) {
                Ok(_) => Ok(Some(())),
                Err(e) => {
                    *last = format!("{e:#}");
                    Ok(None)
                }
            }
        })?;
        step::info(&format!("log: {}", short(&log)));
        step::finish("API server answers", t);
        Ok(())
    }

    /// Starts every node agent.
    pub fn start_agents(&mut self) -> Result<()> {
        let l = self.layout.clone();
        let t = step::start(&format!(
            "nodes: {} agent(s) with --simulate-node, proxy mode {}",
            l.nodes, self.proxy_mode
        ));
        let token = std::fs::read_to_string(l.server_dir().join("join-token"))
            .context("reading the server's join token")?;
        for k in 1..=l.nodes {
            let node = l.node(k);
            let mut cmd = Command::new(&self.bins.orch);
            cmd.arg("agent")
                .args(["--node-name", &node])
                .args(["--server", &l.server_url()])
                .arg("--ca-file")
                .arg(l.server_dir().join("ca.crt"))
                .arg("--data-dir")
                .arg(l.agent_dir(&node))
                .arg("--simulate-node")
                .args(["--node-ip", &l.node_ip(k)?.to_string()])
                .args(["--cluster-dns", &l.dns_ip()?.to_string()])
                .args(["--proxy-mode", &self.proxy_mode])
                .args(l.agent_layout_args())
                .env("ORCH_TOKEN", token.trim());
            log_level(&mut cmd);
            let log = l.log(&node);
            let agent = Proc::spawn(&format!("agent {node}"), &mut cmd, &log)?;
            step::info(&format!(
                "{node}: {} in netns orch-{node}, pid {}, log {}",
                l.node_ip(k)?,
                agent.pid(),
                short(&log)
            ));
            self.record.agents.push((node, agent.pid()));
            self.record.save()?;
            self.agents.push(agent);
        }
        step::finish("agents started", t);
        Ok(())
    }

    /// Waits until every node is Ready.
    pub fn wait_nodes(&mut self, stop: &Stop) -> Result<()> {
        let t = step::start("nodes: waiting until every node is Ready");
        let want = self.layout.node_names();
        let hint = format!(
            "read the agents' logs: {}",
            short(&self.layout.state.join("logs"))
        );
        wait::until("every node", NODES_LIMIT, stop, &hint, |last| {
            self.check_running()?;
            let (ready, not) = match self.api.nodes_ready() {
                Ok(r) => r,
                Err(e) => {
                    *last = format!("{e:#}");
                    return Ok(None);
                }
            };
            let missing: Vec<&String> = want.iter().filter(|n| !ready.contains(n)).collect();
            *last = format!("not Ready: {missing:?} (registered but not Ready: {not:?})");
            Ok(missing.is_empty().then_some(()))
        })?;
        step::finish(&format!("{} node(s) Ready", want.len()), t);
        Ok(())
    }

    /// Notes the pods' namespaces and host veths in the run record (best
    /// effort: while the API answers).
    pub fn observe(&mut self) {
        let before = self.record.seen.clone();
        self.record.seen.observe(&self.layout, &self.api);
        if self.record.seen != before {
            let _ = self.record.save();
        }
    }

    /// What the run has seen.
    pub fn seen(&self) -> &Seen {
        &self.record.seen
    }

    /// Keeps the run record (after a teardown that left something).
    pub fn keep_record(&self) {
        let _ = self.record.save();
    }

    /// Once the cluster is up, a node agent that exits is a node that died:
    /// the cluster carries on (the node turns NotReady and its pods move
    /// elsewhere). Reports each such agent once; fails, naming the log, only
    /// if the server has exited.
    pub fn check_serving(&mut self) -> Result<()> {
        if let Some(s) = self.server.as_mut() {
            s.check_running()?;
        }
        for a in &mut self.agents {
            if let Err(e) = a.check_running() {
                if !std::mem::replace(&mut a.reported, true) {
                    step::info(&format!(
                        "{e:#}; the cluster carries on without the node (it turns NotReady, \
                         its pods are rescheduled); it is cleaned up at teardown"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Fails, naming the log, if the server or an agent has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(s) = self.server.as_mut() {
            s.check_running()?;
        }
        for a in &mut self.agents {
            a.check_running()?;
        }
        Ok(())
    }

    /// Stops the agents, then the server. Agents get SIGKILL: their pods
    /// (processes, sandboxes) stay exactly as they are for `orch agent
    /// teardown`, which removes them from the agent's data directory; a
    /// SIGTERM'd agent starts removing pods on its way out and can be cut
    /// off halfway. The server gets SIGTERM (then SIGKILL after a grace
    /// period) so its store closes cleanly.
    pub fn stop_processes(&mut self) {
        for a in &mut self.agents {
            a.kill();
        }
        if let Some(s) = self.server.as_mut() {
            s.stop(STOP_GRACE);
        }
    }
}

/// `RUST_LOG` for the cluster's processes: the caller's, else `info`.
fn log_level(cmd: &mut Command) {
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "info");
    }
}
