//! `cargo xtask run --no-build` as a child process with a unique layout.
//! On drop (also while a failing test unwinds) it is stopped with SIGTERM,
//! and `--clean` removes anything it still left.
use std::{
    io::{BufRead, BufReader},
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread::sleep,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::dns::bins;

/// What to start.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Short id making names unique (letters and digits, at most 6).
    pub id: String,
    /// Number of nodes.
    pub nodes: u8,
    /// `auto`, `ebpf` or `iptables`.
    pub proxy_mode: String,
    /// Second octet of the run's address ranges, one per concurrent
    /// cluster: underlay 10.<o>.0.0/24, pods 10.<o>.128.0/17 (a /24 per
    /// node), services 10.<o+1>.0.0/16.
    pub octet: u8,
    /// Extra `orch server` arguments.
    pub server_args: Vec<String>,
}

/// A running `cargo xtask run`.
#[derive(Debug)]
pub struct ClusterRun {
    child: Option<Child>,
    args: Vec<String>,
    /// Its state directory (`admin.kubeconfig`, `ready`, `logs/`, `run.json`).
    pub state: PathBuf,
    /// The options it was started with.
    pub opts: RunOptions,
    output: Arc<Mutex<Vec<String>>>,
}

impl ClusterRun {
    /// Builds (or finds up to date) `xtask`, `orch`, `orchctl` and
    /// `orch-dns`, then starts the run. Returns at once; see
    /// [`ClusterRun::wait_ready`].
    pub fn start(opts: RunOptions) -> Result<Self> {
        let xtask = bins::built("xtask", "xtask");
        for (package, bin) in [
            ("orch-core", "orch"),
            ("orch-core", "orchctl"),
            ("orch-dns", "orch-dns"),
        ] {
            bins::built(package, bin);
        }
        let state = std::env::temp_dir().join(format!("orch-e2e-{}", opts.id));
        let _ = std::fs::remove_dir_all(&state);
        let o = opts.octet;
        let mut args: Vec<String> = vec![
            "run".into(),
            "--no-build".into(),
            "--nodes".into(),
            opts.nodes.to_string(),
            "--proxy-mode".into(),
            opts.proxy_mode.clone(),
            "--node-prefix".into(),
            format!("{}n", opts.id),
            "--host-bridge".into(),
            format!("o{}", opts.id),
            "--underlay-cidr".into(),
            format!("10.{o}.0.0/24"),
            "--pod-cidr".into(),
            format!("10.{o}.128.0/17"),
            "--service-cidr".into(),
            format!("10.{}.0.0/16", o + 1),
            "--api-port".into(),
            free_port()?.to_string(),
            "--state-dir".into(),
            state.display().to_string(),
        ];
        for a in &opts.server_args {
            args.push(format!("--server-arg={a}"));
        }
        if bins::profile_dir().ends_with("release") {
            args.push("--release".into());
        }
        let mut child = Command::new(&xtask)
            .args(&args)
            .env("CARGO_TARGET_DIR", target_dir())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", xtask.display()))?;
        let output = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().context("xtask stdout")?;
        let sink = Arc::clone(&output);
        let tag = opts.id.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                eprintln!("xtask {tag}| {line}");
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        Ok(Self {
            child: Some(child),
            args,
            state,
            opts,
            output,
        })
    }

    /// Everything the run printed so far.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.state.join("admin.kubeconfig")
    }

    /// A client of the run's API server.
    pub async fn client(&self) -> Result<kube::Client> {
        orch_core::controlplane::client_from(&self.kubeconfig())
            .await
            .context("client from the run's kubeconfig")
    }

    /// Node names, in order.
    pub fn nodes(&self) -> Vec<String> {
        (1..=self.opts.nodes)
            .map(|k| format!("{}n{k}", self.opts.id))
            .collect()
    }

    /// The host bridge.
    pub fn bridge(&self) -> String {
        format!("o{}", self.opts.id)
    }

    /// The `n`th address of the underlay (1 is the host, K+1 node K).
    pub fn underlay_ip(&self, n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, self.opts.octet, 0, n)
    }

    /// The cluster DNS address (the service CIDR's tenth).
    pub fn dns_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.opts.octet + 1, 0, 10)
    }

    /// The network namespace of node `node`.
    pub fn node_netns(&self, node: &str) -> String {
        format!("orch-{node}")
    }

    /// Waits for the `ready` file and returns the demo's VIP; fails if the
    /// run exits first or `limit` passes.
    pub fn wait_ready(&mut self, limit: Duration) -> Result<String> {
        let ready = self.state.join("ready");
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(vip) = std::fs::read_to_string(&ready) {
                return Ok(vip.trim().to_string());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "xtask run exited ({status}) before ready:\n{}",
                    self.output()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "no ready file after {}s:\n{}",
                    limit.as_secs(),
                    self.output()
                );
            }
            sleep(Duration::from_millis(200));
        }
    }

    /// The pid of node `node`'s agent, from the run's record.
    pub fn agent_pid(&self, node: &str) -> Result<u32> {
        let path = self.state.join("run.json");
        let record: serde_json::Value = serde_json::from_slice(
            &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
        )?;
        record["agents"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a[0].as_str() == Some(node))
            .and_then(|a| a[1].as_u64())
            .map(|p| p as u32)
            .with_context(|| format!("no agent of {node} in {}", path.display()))
    }

    /// Whether the run is still going.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// SIGTERM, then waits (bounded) for the exit; None if it had to be
    /// killed or was already stopped.
    pub fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for ClusterRun {
    fn drop(&mut self) {
        self.terminate(Duration::from_secs(120));
        let _ = Command::new(bins::built("xtask", "xtask"))
            .args(&self.args)
            .arg("--clean")
            .env("CARGO_TARGET_DIR", target_dir())
            .stdout(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// The target directory of the running test's build.
fn target_dir() -> PathBuf {
    bins::profile_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
