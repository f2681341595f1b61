//! `orch`: the cluster binary. `orch server` runs the control plane.
// Submodules live in `orch/`, beside this file, so cargo does not take
// them for binaries of their own.
#[path = "orch/etcd_flags.rs"]
mod etcd_flags;
#[path = "orch/migrate.rs"]
mod migrate;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use orch_core::apiserver::{
    ipalloc::Cidr,
    secrets,
    server::{self, ServerConfig, StoreConfig},
};
use orch_core::store::embedded::EmbeddedOptions;

use self::etcd_flags::EtcdArgs;

#[derive(Parser)]
#[command(
    name = "orch",
    version,
    about = "orch: a compact Kubernetes-style orchestrator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane (API server and store, plus the scheduler and
    /// controllers unless disabled).
    Server(ServerCmd),
    /// Run only the controller manager, against an API server.
    ControllerManager {
        /// Kubeconfig of the API server.
        #[arg(long)]
        kubeconfig: PathBuf,
        #[command(flatten)]
        loops: LoopArgs,
    },
    /// Run only the scheduler, against an API server.
    Scheduler {
        /// Kubeconfig of the API server.
        #[arg(long)]
        kubeconfig: PathBuf,
        #[command(flatten)]
        loops: LoopArgs,
    },
    /// Run a node agent (kubelet): register the node and run its pods.
    Agent(Box<AgentCmd>),
    /// Helper programs run by orch itself.
    #[command(subcommand)]
    Tools(ToolsCmd),
    /// Run the cluster DNS (orch-dns) for `cluster.local`.
    Dns(orch_dns::Args),
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct AgentCmd {
    #[command(subcommand)]
    tool: Option<AgentTool>,
    #[command(flatten)]
    args: AgentArgs,
}

#[derive(Subcommand)]
enum AgentTool {
    /// Remove everything of a node: pods' processes, cgroups, namespaces,
    /// sandboxes, and (simulated) its node namespace and routes.
    Teardown {
        /// Node name.
        #[arg(long = "node-name", alias = "node")]
        node_name: String,
        /// The agent's data directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The node was simulated.
        #[arg(long)]
        simulate_node: bool,
        #[command(flatten)]
        layout: LayoutArgs,
    },
}

/// Addressing of simulated nodes.
#[derive(clap::Args, Clone)]
struct LayoutArgs {
    /// Host bridge linking simulated nodes.
    #[arg(long, default_value = "orch0")]
    host_bridge: String,
    /// Underlay network of simulated nodes.
    #[arg(long, default_value = "10.250.0.0/24")]
    underlay_cidr: String,
    /// The host's address on the underlay.
    #[arg(long, default_value = "10.250.0.1")]
    host_ip: std::net::Ipv4Addr,
    /// Cluster pod CIDR.
    #[arg(long, default_value = "10.244.0.0/16")]
    cluster_pod_cidr: String,
    /// Service CIDR.
    #[arg(long, default_value = "10.96.0.0/16")]
    service_cidr: String,
}

impl LayoutArgs {
    fn layout(&self) -> Result<orch_core::agent::nodenet::Layout> {
        let p = |flag: &str, v: &str| Cidr::parse(v).map_err(|e| anyhow::anyhow!("--{flag}: {e}"));
        Ok(orch_core::agent::nodenet::Layout {
            bridge: self.host_bridge.clone(),
            underlay: p("underlay-cidr", &self.underlay_cidr)?,
            host_ip: self.host_ip,
            pod_cidr: p("cluster-pod-cidr", &self.cluster_pod_cidr)?,
            service_cidr: p("service-cidr", &self.service_cidr)?,
        })
    }
}

#[derive(clap::Args)]
struct AgentArgs {
    /// This node's name.
    #[arg(long, required = false, default_value = "")]
    node_name: String,
    /// API server URL; repeat (or separate with commas) to fail over
    /// between several servers.
    #[arg(
        long = "server",
        value_name = "URL",
        value_delimiter = ',',
        default_value = "https://127.0.0.1:6443"
    )]
    servers: Vec<String>,
    /// Join token (or a node token).
    #[arg(long, env = "ORCH_TOKEN", default_value = "")]
    token: String,
    /// The cluster CA certificate.
    #[arg(long, default_value = "/var/lib/orch/ca.crt")]
    ca_file: PathBuf,
    /// Where the agent keeps pod state (default /var/lib/orch/agent-<node>).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Simulate this node in its own network namespace on the host bridge.
    #[arg(long)]
    simulate_node: bool,
    /// The node's address (default for node-N: 10.250.0.(N+1)).
    #[arg(long)]
    node_ip: Option<std::net::Ipv4Addr>,
    /// Cluster DNS address written into pods' resolv.conf.
    #[arg(long, default_value = "10.96.0.10")]
    cluster_dns: std::net::Ipv4Addr,
    /// Cluster domain.
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
    /// First restart backoff of crashing containers, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    backoff_initial_ms: u64,
    /// Maximum restart backoff, in milliseconds.
    #[arg(long, default_value_t = 300_000)]
    backoff_max_ms: u64,
    /// Pods this node accepts.
    #[arg(long, default_value_t = 110)]
    max_pods: u32,
    /// Don't run the Service proxy in this agent (run `orch-proxy`
    /// separately, or none).
    #[arg(long)]
    no_proxy: bool,
    #[command(flatten)]
    proxy: orch_proxy::cli::ProxyFlags,
    /// Port of the agent's HTTPS endpoint (container logs) on the node's
    /// address.
    #[arg(long, default_value_t = orch_core::agent::server::DEFAULT_KUBELET_PORT)]
    kubelet_port: u16,
    #[command(flatten)]
    layout: LayoutArgs,
}

fn agent_dir(node: &str, dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| PathBuf::from(format!("/var/lib/orch/agent-{node}")))
}

async fn run_agent(a: AgentArgs) -> Result<()> {
    if a.node_name.is_empty() {
        anyhow::bail!("--node-name is required");
    }
    if a.token.is_empty() {
        anyhow::bail!("--token is required (the join token printed by `orch server`)");
    }
    let cfg = orch_core::agent::AgentConfig {
        data_dir: agent_dir(&a.node_name, a.data_dir.clone()),
        node_name: a.node_name.clone(),
        servers: a.servers.clone(),
        token: a.token.clone(),
        ca_file: a.ca_file.clone(),
        simulate: a.simulate_node,
        node_ip: a.node_ip,
        layout: a.layout.layout()?,
        dns: orch_core::agent::sandbox::DnsConfig {
            nameserver: a.cluster_dns,
            domain: a.cluster_domain.clone(),
        },
        backoff: orch_core::agent::pods::backoff::BackoffConfig {
            initial: Duration::from_millis(a.backoff_initial_ms),
            max: Duration::from_millis(a.backoff_max_ms.max(a.backoff_initial_ms)),
            ..Default::default()
        },
        max_pods: a.max_pods,
        kubelet_port: a.kubelet_port,
        init_binary: std::env::current_exe().context("locating the orch binary")?,
        proxy: (!a.no_proxy).then(|| a.proxy.clone()),
    };
    tokio::select! {
        r = orch_core::agent::run(cfg) => r.context("the agent stopped"),
        _ = shutdown_signal() => {
            tracing::info!("stopping; pods keep running until the next start or `orch agent teardown`");
            Ok(())
        }
    }
}

/// `orch tools ...`: helpers that orch runs, not meant for direct use.
#[derive(Subcommand)]
enum ToolsCmd {
    /// HTTP/TCP/UDP echo server answering with its pod name and IP.
    EchoServer {
        /// HTTP port (0: off).
        #[arg(long, default_value_t = 8080)]
        http: u16,
        /// TCP echo port (0: off).
        #[arg(long, default_value_t = 9000)]
        tcp: u16,
        /// UDP echo port (0: off).
        #[arg(long, default_value_t = 9001)]
        udp: u16,
        /// Seconds to keep serving after SIGTERM, with /healthz failing.
        #[arg(long, default_value_t = 0)]
        delay_shutdown: u64,
        /// Name to answer with (default: $POD_NAME or the host name).
        #[arg(long)]
        name: Option<String>,
    },
    /// The container init shim: `orch tools init -- CMD ARGS...`.
    Init {
        /// Run the command in the running container whose namespaces the
        /// shim was started in (exec probes), not as a new container.
        #[arg(long)]
        exec: bool,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
}

/// Settings of the scheduler and controllers.
#[derive(clap::Args, Clone)]
struct LoopArgs {
    /// Seconds without a Lease renewal before a node is Ready=Unknown.
    #[arg(long, default_value_t = 40)]
    node_monitor_grace_period_seconds: u64,
    /// Default tolerationSeconds for the not-ready and unreachable taints.
    #[arg(long, default_value_t = 300)]
    default_toleration_seconds: i64,
    /// Cluster pod CIDR; nodes get a /24 each.
    #[arg(long, default_value = "10.244.0.0/16")]
    pod_cidr: String,
    /// Leader election Lease duration in seconds.
    #[arg(long, default_value_t = 15)]
    leader_lease_seconds: u64,
    /// Initial backoff for unschedulable pods, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    scheduler_backoff_ms: u64,
}

impl LoopArgs {
    fn options(
        &self,
        controllers: bool,
        scheduler: bool,
    ) -> Result<orch_core::controlplane::LoopOptions> {
        let mut o = orch_core::controlplane::LoopOptions {
            controllers,
            scheduler,
            ..Default::default()
        };
        o.controller.node_monitor_grace_period =
            Duration::from_secs(self.node_monitor_grace_period_seconds);
        o.controller.default_toleration_seconds = self.default_toleration_seconds;
        o.controller.pod_cidr =
            Cidr::parse(&self.pod_cidr).map_err(|e| anyhow::anyhow!("--pod-cidr: {e}"))?;
        o.lease_duration = Duration::from_secs(self.leader_lease_seconds.max(1));
        o.sched.initial_backoff = Duration::from_millis(self.scheduler_backoff_ms);
        Ok(o)
    }
}

async fn run_loops(
    kubeconfig: &std::path::Path,
    o: orch_core::controlplane::LoopOptions,
) -> Result<()> {
    let client = orch_core::controlplane::client_from(kubeconfig).await?;
    let tasks = orch_core::controlplane::spawn(client, o);
    shutdown_signal().await;
    for t in tasks {
        t.abort();
    }
    Ok(())
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct ServerCmd {
    #[command(subcommand)]
    tool: Option<ServerTool>,
    #[command(flatten)]
    args: ServerArgs,
}

#[derive(Subcommand)]
enum ServerTool {
    /// Back up the store of a running server to a file.
    Snapshot {
        /// The server's data directory (for its admin kubeconfig).
        #[arg(long, default_value = "/var/lib/orch")]
        data_dir: PathBuf,
        /// Where to write the snapshot.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a token: read-only for a component, or a node's own token.
    Token {
        /// The server's data directory (for its token key).
        #[arg(long, default_value = "/var/lib/orch")]
        data_dir: PathBuf,
        /// A read-only token for this subject (for example system:orch-dns).
        #[arg(long, conflicts_with = "node")]
        read_only: Option<String>,
        /// The token of this node.
        #[arg(long)]
        node: Option<String>,
    },
    /// Move a stopped server's objects from its embedded store into an
    /// empty etcd, then compare the two.
    Migrate(Box<migrate::MigrateArgs>),
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Where the store, CA, tokens and admin.kubeconfig live.
    #[arg(long, default_value = "/var/lib/orch")]
    data_dir: PathBuf,
    /// Address to serve HTTPS on; repeat for several.
    #[arg(long = "listen", default_value = "127.0.0.1:6443")]
    listen: Vec<SocketAddr>,
    /// Address other nodes and pods use to reach this server.
    #[arg(long, default_value = "127.0.0.1")]
    advertise_address: std::net::Ipv4Addr,
    /// Service ClusterIP range.
    #[arg(long, default_value = "10.96.0.0/16")]
    service_cidr: String,
    /// Seconds between watch BOOKMARK events.
    #[arg(long, default_value_t = 60)]
    bookmark_interval_seconds: u64,
    /// Seconds of watch history kept (watchers older than this re-list).
    #[arg(long, default_value_t = 300)]
    watch_history_seconds: u64,
    /// Events of watch history always kept, whatever their age.
    #[arg(long, default_value_t = 10_000)]
    watch_history_min_events: usize,
    /// Where objects are kept: the embedded store in --data-dir, or etcd.
    #[arg(long, value_enum, default_value_t = StoreKind::Embedded)]
    store: StoreKind,
    // With --store etcd: how to reach it.
    #[command(flatten)]
    etcd: EtcdArgs,
    /// The server token: joins this server to the cluster already in the
    /// store (the first server's DATA_DIR/server-token). Not needed by the
    /// first server, which makes one.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "ORCH_SERVER_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// Do not run the controller manager in this process.
    #[arg(long)]
    no_controllers: bool,
    /// Do not run the scheduler in this process.
    #[arg(long)]
    no_scheduler: bool,
    /// Do not install the cluster DNS (Deployment orch-dns and Service
    /// kube-dns in kube-system).
    #[arg(long)]
    no_cluster_dns: bool,
    /// Cluster domain served by the cluster DNS.
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
    /// Where the cluster DNS forwards names outside the cluster
    /// (repeatable) [default: the nameservers of this host's
    /// /etc/resolv.conf, loopback ones left out].
    #[arg(long, value_name = "IP")]
    cluster_dns_upstream: Vec<std::net::IpAddr>,
    #[command(flatten)]
    loops: LoopArgs,
}

/// `--store`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StoreKind {
    /// The embedded store (redb) in the data directory.
    Embedded,
    /// An etcd v3 cluster (--etcd-endpoints).
    Etcd,
}

impl ServerArgs {
    /// The store the flags ask for, or an error naming the flag at fault.
    fn store_config(&self) -> Result<StoreConfig> {
        if self.store == StoreKind::Etcd {
            return Ok(StoreConfig::Etcd(self.etcd.options(" with --store etcd")?));
        }
        if let Some(flag) = self.etcd.first_given() {
            anyhow::bail!("{flag} needs --store etcd");
        }
        Ok(StoreConfig::Embedded(EmbeddedOptions {
            history: Duration::from_secs(self.watch_history_seconds),
            min_history_events: self.watch_history_min_events,
            ..EmbeddedOptions::default()
        }))
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // hickory logs every DNS query at info.
    let default_filter = match cli.command {
        Command::Dns(_) => orch_dns::run::DEFAULT_LOG_FILTER,
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .init();
    // The init shim stays single-threaded: in exec mode it was started in
    // a container's PID namespace, after which no thread can be created.
    if let Command::Tools(ToolsCmd::Init { exec, argv }) = cli.command {
        run_init(exec, argv)
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the Tokio runtime")?
        .block_on(run_command(cli.command))
}

/// `orch tools init`: never returns.
fn run_init(exec: bool, argv: Vec<String>) -> ! {
    use orch_core::agent::runtime::init::{run, Mode};
    run(argv, if exec { Mode::Exec } else { Mode::Container })
}

async fn run_command(command: Command) -> Result<()> {
    match command {
        Command::Dns(args) => orch_dns::run(args).await.context("orch-dns"),
        Command::Server(ServerCmd { tool: None, args }) => run_server(args).await,
        Command::ControllerManager { kubeconfig, loops } => {
            run_loops(&kubeconfig, loops.options(true, false)?).await
        }
        Command::Scheduler { kubeconfig, loops } => {
            run_loops(&kubeconfig, loops.options(false, true)?).await
        }
        Command::Tools(ToolsCmd::Init { exec, argv }) => run_init(exec, argv),
        Command::Tools(ToolsCmd::EchoServer {
            http,
            tcp,
            udp,
            name,
            delay_shutdown,
        }) => orch_core::tools::echo::run(orch_core::tools::echo::EchoConfig {
            http,
            tcp,
            udp,
            name,
            delay_shutdown: Duration::from_secs(delay_shutdown),
        })
        .await
        .context("echo server"),
        Command::Agent(a) => match a.tool {
            None => run_agent(a.args).await,
            Some(AgentTool::Teardown {
                node_name,
                data_dir,
                simulate_node,
                layout,
            }) => {
                let dir = agent_dir(&node_name, data_dir);
                orch_core::agent::teardown(&node_name, &dir, simulate_node, &layout.layout()?)
                    .await?;
                println!("node {node_name}: everything removed");
                Ok(())
            }
        },
        Command::Server(ServerCmd {
            tool: Some(ServerTool::Snapshot { data_dir, out }),
            ..
        }) => snapshot(&data_dir, &out).await,
        Command::Server(ServerCmd {
            tool: Some(ServerTool::Migrate(args)),
            ..
        }) => migrate::run(*args).await,
        Command::Server(ServerCmd {
            tool:
                Some(ServerTool::Token {
                    data_dir,
                    read_only,
                    node,
                }),
            ..
        }) => {
            let auth = orch_core::apiserver::auth::Auth::load_or_create(&data_dir)
                .with_context(|| format!("reading tokens in {}", data_dir.display()))?;
            match (read_only, node) {
                (Some(subject), None) => println!("{}", auth.read_only_token(&subject)),
                (None, Some(node)) => println!("{}", auth.node_token(&node)),
                _ => anyhow::bail!("give --read-only SUBJECT or --node NAME"),
            }
            Ok(())
        }
    }
}

async fn run_server(a: ServerArgs) -> Result<()> {
    let service_cidr =
        Cidr::parse(&a.service_cidr).map_err(|e| anyhow::anyhow!("--service-cidr: {e}"))?;
    let store = a.store_config()?;
    let cfg = ServerConfig {
        data_dir: a.data_dir.clone(),
        listen: a.listen,
        advertise: a.advertise_address,
        service_cidr,
        bookmark_interval: Duration::from_secs(a.bookmark_interval_seconds.max(1)),
        store,
        token: a.token.clone(),
    };
    let running = server::start(&cfg)
        .await
        .context("starting the API server")?;
    let join = std::fs::read_to_string(a.data_dir.join("join-token")).unwrap_or_default();
    for addr in &running.bound {
        tracing::info!(%addr, "serving the API over HTTPS");
    }
    println!(
        "admin kubeconfig: {}",
        a.data_dir.join("admin.kubeconfig").display()
    );
    println!(
        "join a node: orch agent --node-name NAME --server https://{}:{} --token {}",
        a.advertise_address,
        running.bound.first().map_or(6443, SocketAddr::port),
        join.trim()
    );
    if a.store == StoreKind::Etcd {
        println!(
            "add a server: orch server --store etcd --etcd-endpoints {} --token \"$(cat {})\"",
            a.etcd.etcd_endpoints.join(","),
            a.data_dir.join(secrets::TOKEN_FILE).display()
        );
    }
    let loops = a.loops.options(!a.no_controllers, !a.no_scheduler)?;
    let client = orch_core::controlplane::client_from(&a.data_dir.join("admin.kubeconfig")).await?;
    if !a.no_cluster_dns {
        let names = [&a.cluster_domain, &a.service_cidr, &a.loops.pod_cidr];
        let upstreams = if a.cluster_dns_upstream.is_empty() {
            orch_core::addons::dns::host_upstreams(
                &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            )
        } else {
            a.cluster_dns_upstream.clone()
        };
        install_cluster_dns(names, service_cidr, upstreams, client.clone()).await;
    }
    let tasks = orch_core::controlplane::spawn(client, loops);
    shutdown_signal().await;
    tracing::info!("stopping");
    for t in tasks {
        t.abort();
    }
    running.shutdown().await;
    Ok(())
}

/// Installs the cluster DNS add-on; a failure is logged, not fatal.
/// `names`: cluster domain, service CIDR and pod CIDR as given;
/// `upstreams`: where it forwards other names.
async fn install_cluster_dns(
    names: [&String; 3],
    service_cidr: Cidr,
    upstreams: Vec<std::net::IpAddr>,
    client: kube::Client,
) {
    use orch_core::addons::dns;
    let Some(service_ip) = service_cidr.nth(10) else {
        tracing::error!(%service_cidr, "the service CIDR has no 10th address for kube-dns");
        return;
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "locating the orch binary for the cluster DNS");
            return;
        }
    };
    let cfg = dns::ClusterDns {
        service_ip,
        domain: names[0].clone(),
        service_cidr: names[1].clone(),
        pod_cidr: names[2].clone(),
        upstreams,
        program: dns::program(&exe),
    };
    if let Err(e) = dns::install(client, &cfg).await {
        tracing::error!(error = %e, "installing the cluster DNS (orch-dns in kube-system)");
    }
}

async fn snapshot(data_dir: &std::path::Path, out: &std::path::Path) -> Result<()> {
    let api = orch_core::cli::ApiClient::connect(&data_dir.join("admin.kubeconfig")).await?;
    let bytes = api
        .call(
            http::Method::GET,
            "/orch/v1/snapshot",
            None,
            Some("application/octet-stream"),
            Vec::new(),
        )
        .await?;
    std::fs::write(out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "snapshot of {} bytes written to {}",
        bytes.len(),
        out.display()
    );
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
