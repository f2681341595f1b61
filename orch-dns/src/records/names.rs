//! Names of the Kubernetes DNS schema: `<svc>.<ns>.svc.<zone>`,
//! `_<port>._<proto>.<svc>...`, endpoint host names (`10-244-1-5` when the
//! endpoint has none), pod names (`a-b-c-d.<ns>.pod.<zone>`) and reverse
//! names under `in-addr.arpa.` and `ip6.arpa.`.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_server::proto::rr::Name;

use crate::{config::cidr::nibbles, zone::key::labels};

/// `label.parent`; `parent` itself if that would be too long (the cluster
/// domain is checked to leave room for our fixed labels).
pub fn child(parent: &Name, label: &str) -> Name {
    parent
        .prepend_label(label)
        .unwrap_or_else(|_| parent.clone())
}

/// `<svc>.<ns>.svc.<domain>`.
pub fn service(domain: &Name, namespace: &str, service: &str) -> Result<Name, String> {
    Name::from_labels([service, namespace, "svc"].iter().map(|s| s.as_bytes()))
        .and_then(|n| n.append_domain(domain))
        .map(|n| n.to_lowercase())
        .map_err(|e| format!("{service}.{namespace}: not a valid DNS name: {e}"))
}

/// `<label>.<base>`, lowercase.
pub fn under(base: &Name, label: &str) -> Result<Name, String> {
    base.prepend_label(label.to_ascii_lowercase())
        .map_err(|e| format!("{label:?}.{base}: not a valid DNS name: {e}"))
}

/// `_<port>._<proto>.<base>`.
pub fn srv(base: &Name, port: &str, proto: &str) -> Result<Name, String> {
    under(&under(base, &format!("_{proto}"))?, &format!("_{port}"))
}

/// The host name of an endpoint without one: its address with dashes
/// (`10-244-1-5`, `fd00--5`).
pub fn dashed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string().replace('.', "-"),
        IpAddr::V6(a) => a.to_string().replace(':', "-"),
    }
}

/// The address a dashed label stands for (`10-244-1-5`, `fd00--5`).
pub fn parse_dashed(label: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(label).ok()?;
    let parts: Vec<&str> = s.split('-').collect();
    if parts.len() == 4 && parts.iter().all(|p| !p.is_empty() && p.len() <= 3) {
        let mut o = [0u8; 4];
        for (i, p) in parts.iter().enumerate() {
            if !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            o[i] = p.parse().ok()?;
        }
        return Some(IpAddr::V4(Ipv4Addr::from(o)));
    }
    s.replace('-', ":").parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// The reverse name of an address (`5.1.244.10.in-addr.arpa.`).
pub fn reverse(ip: IpAddr) -> Name {
    let labels: Vec<String> = match ip {
        IpAddr::V4(a) => a
            .octets()
            .iter()
            .rev()
            .map(u8::to_string)
            .chain(["in-addr".into(), "arpa".into()])
            .collect(),
        IpAddr::V6(a) => nibbles(a)
            .iter()
            .rev()
            .map(|n| format!("{n:x}"))
            .chain(["ip6".into(), "arpa".into()])
            .collect(),
    };
    let mut name =
        Name::from_labels(labels.iter().map(String::as_bytes)).expect("reverse names are valid");
    name.set_fqdn(true);
    name
}

/// The address prefix a reverse name stands for, as `(address, bits)`:
/// `96.10.in-addr.arpa.` is `(10.96.0.0, 16)`. `None` if it is not a
/// well-formed reverse name.
pub fn parse_reverse(key: &[u8]) -> Option<(IpAddr, u8)> {
    let all: Vec<&[u8]> = labels(key).collect();
    let (front, tail) = all.split_at(all.len().checked_sub(2)?);
    match tail {
        [b"in-addr", b"arpa"] => {
            if front.len() > 4 {
                return None;
            }
            let mut o = [0u8; 4];
            for (i, l) in front.iter().rev().enumerate() {
                if l.is_empty() || l.len() > 3 || !l.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                o[i] = std::str::from_utf8(l).ok()?.parse().ok()?;
            }
            Some((IpAddr::V4(Ipv4Addr::from(o)), (front.len() * 8) as u8))
        }
        [b"ip6", b"arpa"] => {
            if front.len() > 32 {
                return None;
            }
            let mut v: u128 = 0;
            for (i, l) in front.iter().rev().enumerate() {
                let [d] = l else { return None };
                let n = (*d as char).to_digit(16)?;
                v |= u128::from(n) << (124 - 4 * i);
            }
            Some((IpAddr::V6(Ipv6Addr::from(v)), (front.len() * 4) as u8))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::key::key_of;

    #[test]
    fn service_and_srv_names() {
        let d = Name::from_ascii("cluster.local.").unwrap();
        let b = service(&d, "Default", "Web").unwrap();
        assert_eq!(b.to_ascii(), "web.default.svc.cluster.local.");
        assert_eq!(
            srv(&b, "HTTP", "tcp").unwrap().to_ascii(),
            "_http._tcp.web.default.svc.cluster.local."
        );
        assert!(service(&d, "default", &"x".repeat(64)).is_err());
    }

    #[test]
    fn dashed_names_round_trip() {
        for ip in ["10.244.1.5", "fd00::5", "2001:db8::1:0:0:1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(parse_dashed(dashed(ip).as_bytes()), Some(ip));
        }
        assert_eq!(dashed("10.244.1.5".parse().unwrap()), "10-244-1-5");
        assert_eq!(parse_dashed(b"10-244-1"), None);
        assert_eq!(parse_dashed(b"10-244-1-256"), None);
        assert_eq!(parse_dashed(b"web"), None);
    }

    #[test]
    fn reverse_names_round_trip() {
        for ip in ["10.96.0.10", "fd00:10:96::a"] {
            let ip: IpAddr = ip.parse().unwrap();
            let key = key_of(&reverse(ip));
            assert_eq!(
                parse_reverse(&key),
                Some((ip, if ip.is_ipv4() { 32 } else { 128 }))
            );
        }
        assert_eq!(
            reverse("10.96.0.10".parse().unwrap()).to_ascii(),
            "10.0.96.10.in-addr.arpa."
        );
        let k = key_of(&Name::from_ascii("96.10.in-addr.arpa.").unwrap());
        assert_eq!(parse_reverse(&k), Some(("10.96.0.0".parse().unwrap(), 16)));
        let bad = key_of(&Name::from_ascii("x.96.10.in-addr.arpa.").unwrap());
        assert_eq!(parse_reverse(&bad), None);
        let bad = key_of(&Name::from_ascii("300.96.10.in-addr.arpa.").unwrap());
        assert_eq!(parse_reverse(&bad), None);
    }
}
