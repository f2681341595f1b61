//! Settings: the command line ([`args::Args`]) checked and turned into
//! typed values ([`Settings`]), CIDRs and their reverse zones ([`cidr`]),
//! and the default upstreams from resolv.conf ([`resolv`]).
pub mod args;
pub mod cidr;
pub mod resolv;

use std::net::{IpAddr, SocketAddr};

use hickory_server::proto::rr::Name;

use self::{args::Args, cidr::Cidr};
use crate::error::DnsError;

/// Checked settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The cluster domain, fully qualified and lowercase.
    pub domain: Name,
    /// TTL of cluster records.
    pub ttl: u32,
    /// Service CIDRs.
    pub service_cidrs: Vec<Cidr>,
    /// Pod CIDRs.
    pub pod_cidrs: Vec<Cidr>,
    /// Where other names are forwarded (empty: refused).
    pub upstreams: Vec<SocketAddr>,
    /// DNS address (UDP and TCP).
    pub listen: SocketAddr,
    /// HTTP address, if any.
    pub http_listen: Option<SocketAddr>,
    /// UDP sockets and threads.
    pub udp_workers: usize,
    /// UDP through hickory-server's loop.
    pub hickory_udp: bool,
}

impl Settings {
    /// Checks `args`; reads `--resolv-conf` when no upstream is given.
    pub fn from_args(args: &Args) -> Result<Self, DnsError> {
        let listen: SocketAddr = args
            .listen
            .parse()
            .map_err(|e| DnsError::flag("listen", &args.listen, e))?;
        let http_listen = match args.http_listen.as_str() {
            "off" | "" => None,
            s => Some(s.parse().map_err(|e| DnsError::flag("http-listen", s, e))?),
        };
        let domain = parse_domain(&args.cluster_domain)?;
        let cidrs = |flag: &'static str, v: &[String]| -> Result<Vec<Cidr>, DnsError> {
            v.iter()
                .map(|s| Cidr::parse(s).map_err(|e| DnsError::flag(flag, s, e)))
                .collect()
        };
        let service_cidrs = cidrs("service-cidr", &args.service_cidrs)?;
        let pod_cidrs = cidrs("pod-cidr", &args.pod_cidrs)?;
        let upstreams = if args.no_forward {
            Vec::new()
        } else if args.upstreams.is_empty() {
            let text =
                std::fs::read_to_string(&args.resolv_conf).map_err(|source| DnsError::Read {
                    path: args.resolv_conf.clone(),
                    source,
                })?;
            resolv::upstreams(&resolv::nameservers(&text), listen, &service_cidrs)
        } else {
            args.upstreams
                .iter()
                .map(|s| parse_upstream(s))
                .collect::<Result<_, _>>()?
        };
        let udp_workers = if args.udp_workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            args.udp_workers
        };
        Ok(Self {
            domain,
            ttl: args.ttl,
            service_cidrs,
            pod_cidrs,
            upstreams,
            listen,
            http_listen,
            udp_workers: udp_workers.min(64),
            hickory_udp: args.hickory_udp,
        })
    }

    /// Defaults for a server on `listen` that forwards nowhere and serves
    /// no HTTP (tests and embedding).
    pub fn local(listen: SocketAddr) -> Self {
        let args = Args {
            listen: listen.to_string(),
            no_forward: true,
            http_listen: "off".into(),
            ..Args::default()
        };
        Self::from_args(&args).expect("the defaults are valid")
    }

    /// Reverse zones: one per CIDR, duplicates removed.
    pub fn reverse_zones(&self) -> Vec<(Name, Cidr)> {
        let mut out: Vec<(Name, Cidr)> = Vec::new();
        for c in self.service_cidrs.iter().chain(&self.pod_cidrs) {
            out.push((c.reverse_zone(), *c));
        }
        out.dedup_by(|a, b| a.1 == b.1);
        out
    }
}

/// A cluster domain: a valid, non-root DNS name, made fully qualified and
/// lowercase.
pub fn parse_domain(s: &str) -> Result<Name, DnsError> {
    let trimmed = s.trim_end_matches('.');
    if trimmed.is_empty() {
        return Err(DnsError::flag("cluster-domain", s, "the domain is empty"));
    }
    let mut name = Name::from_ascii(trimmed).map_err(|e| DnsError::flag("cluster-domain", s, e))?;
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

/// `IP` (port 53) or `IP:PORT` (`[V6]:PORT` for IPv6).
pub fn parse_upstream(s: &str) -> Result<SocketAddr, DnsError> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    s.parse().map_err(|_| {
        DnsError::flag(
            "upstream",
            s,
            "expected IP or IP:PORT, for example 192.0.2.53 or 127.0.0.1:5353",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_flags_name_the_flag_and_value() {
        let args = Args {
            service_cidrs: vec!["10.96.0.0/40".into()],
            no_forward: true,
            ..Args::default()
        };
        let e = Settings::from_args(&args).unwrap_err().to_string();
        assert!(
            e.contains("--service-cidr") && e.contains("10.96.0.0/40"),
            "{e}"
        );

        let args = Args {
            upstreams: vec!["nowhere".into()],
            ..Args::default()
        };
        let e = Settings::from_args(&args).unwrap_err().to_string();
        assert!(e.contains("--upstream") && e.contains("nowhere"), "{e}");

        let args = Args {
            cluster_domain: "..".into(),
            no_forward: true,
            ..Args::default()
        };
        assert!(Settings::from_args(&args).is_err());
    }

    #[test]
    fn upstreams_and_domain_parse() {
        assert_eq!(
            parse_upstream("192.0.2.1").unwrap(),
            "192.0.2.1:53".parse().unwrap()
        );
        assert_eq!(
            parse_upstream("[::1]:5353").unwrap(),
            "[::1]:5353".parse().unwrap()
        );
        assert_eq!(
            parse_domain("Cluster.Local").unwrap().to_ascii(),
            "cluster.local."
        );
    }
}
