//! Default upstream servers: the `nameserver` lines of a resolv.conf, minus
//! anything that would send queries back to this server (our own listen
//! address, and addresses inside the service CIDRs, where the cluster DNS
//! Service itself lives).
use std::net::{IpAddr, SocketAddr, UdpSocket};

use super::cidr::Cidr;

/// The `nameserver` addresses of a resolv.conf text, in order. Scope
/// suffixes (`fe80::1%eth0`) and unparsable entries are skipped.
pub fn nameservers(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        .filter_map(|a| a.split('%').next()?.parse().ok())
        .collect()
}

/// The upstreams (port 53) among `servers` that are not this server.
pub fn upstreams(
    servers: &[IpAddr],
    listen: SocketAddr,
    service_cidrs: &[Cidr],
) -> Vec<SocketAddr> {
    servers
        .iter()
        .copied()
        .filter(|ip| !service_cidrs.iter().any(|c| c.contains(*ip)))
        .filter(|ip| !is_self(*ip, listen))
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// Whether `ip:53` would reach a server listening on `listen`.
fn is_self(ip: IpAddr, listen: SocketAddr) -> bool {
    if listen.port() != 53 {
        return false;
    }
    if ip == listen.ip() {
        return true;
    }
    listen.ip().is_unspecified() && (ip.is_loopback() || is_local(ip))
}

/// Whether `ip` is an address of this host: only local addresses can be
/// bound.
fn is_local(ip: IpAddr) -> bool {
    UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nameserver_lines() {
        let text = "# comment\nsearch example\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nnameserver bogus\noptions ndots:5\nnameserver 10.96.0.10\n";
        let ns = nameservers(text);
        assert_eq!(
            ns,
            vec![
                "192.0.2.53".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap(),
                "10.96.0.10".parse().unwrap()
            ]
        );
    }

    #[test]
    fn drops_ourselves_and_the_service_cidr() {
        let cidr = [Cidr::parse("10.96.0.0/16").unwrap()];
        let ns: Vec<IpAddr> = ["192.0.2.53", "127.0.0.53", "10.96.0.10"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let any53: SocketAddr = "0.0.0.0:53".parse().unwrap();
        assert_eq!(
            upstreams(&ns, any53, &cidr),
            vec!["192.0.2.53:53".parse().unwrap()]
        );
        // On another port, a loopback resolver is someone else.
        let other: SocketAddr = "127.0.0.1:5353".parse().unwrap();
        assert_eq!(upstreams(&ns, other, &cidr).len(), 2);
        let exact: SocketAddr = "127.0.0.53:53".parse().unwrap();
        assert_eq!(upstreams(&ns, exact, &cidr).len(), 1);
    }
}
