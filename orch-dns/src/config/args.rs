//! The command line of orch-dns, shared by the `orch-dns` binary and by any
//! binary that offers it as a subcommand (`orch dns`).
use std::path::PathBuf;

/// Default DNS address (UDP and TCP).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:53";
/// Default address of `/healthz`, `/readyz` and `/metrics` (the port
/// CoreDNS uses for its metrics).
pub const DEFAULT_HTTP_LISTEN: &str = "0.0.0.0:9153";
/// Default cluster domain.
pub const DEFAULT_DOMAIN: &str = "cluster.local";
/// Default Service CIDR.
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/16";
/// Default pod CIDR.
pub const DEFAULT_POD_CIDR: &str = "10.244.0.0/16";
/// Default record TTL in seconds.
pub const DEFAULT_TTL: u32 = 5;

/// orch-dns settings as given on the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Kubeconfig to reach the API server (default: KUBECONFIG, then
    /// ~/.kube/config, then the in-cluster service account).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// DNS address, served on UDP and TCP.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: String,
    /// Upstream server for names outside the cluster (IP or IP:PORT);
    /// repeat for several. Default: the nameservers of --resolv-conf, minus
    /// this server and addresses inside the service CIDRs.
    #[arg(long = "upstream")]
    pub upstreams: Vec<String>,
    /// Where the default upstreams come from.
    #[arg(long, default_value = "/etc/resolv.conf")]
    pub resolv_conf: PathBuf,
    /// Do not forward: names outside the cluster zones are refused.
    #[arg(long, conflicts_with = "upstreams")]
    pub no_forward: bool,
    /// TTL of cluster records, in seconds.
    #[arg(long, default_value_t = DEFAULT_TTL)]
    pub ttl: u32,
    /// The cluster domain.
    #[arg(long, default_value = DEFAULT_DOMAIN)]
    pub cluster_domain: String,
    /// Service CIDR (its reverse zone is served); repeat for several.
    #[arg(long = "service-cidr", default_value = DEFAULT_SERVICE_CIDR)]
    pub service_cidrs: Vec<String>,
    /// Pod CIDR (its reverse zone is served); repeat for several.
    #[arg(long = "pod-cidr", default_value = DEFAULT_POD_CIDR)]
    pub pod_cidrs: Vec<String>,
    /// Address of /healthz, /readyz and /metrics ("off" to disable).
    #[arg(long, default_value = DEFAULT_HTTP_LISTEN)]
    pub http_listen: String,
    /// UDP sockets (SO_REUSEPORT), each with its own thread; 0: one per
    /// CPU.
    #[arg(long, default_value_t = 0)]
    pub udp_workers: usize,
    /// Serve UDP through hickory-server's own loop instead of the fast
    /// path over precompiled answers (slower; for comparison).
    #[arg(long)]
    pub hickory_udp: bool,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            kubeconfig: None,
            listen: DEFAULT_LISTEN.into(),
            upstreams: Vec::new(),
            resolv_conf: "/etc/resolv.conf".into(),
            no_forward: false,
            ttl: DEFAULT_TTL,
            cluster_domain: DEFAULT_DOMAIN.into(),
            service_cidrs: vec![DEFAULT_SERVICE_CIDR.into()],
            pod_cidrs: vec![DEFAULT_POD_CIDR.into()],
            http_listen: DEFAULT_HTTP_LISTEN.into(),
            udp_workers: 0,
            hickory_udp: false,
        }
    }
}
