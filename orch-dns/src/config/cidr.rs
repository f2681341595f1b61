//! IP ranges (`10.96.0.0/16`, `fd00:10:96::/112`) and the reverse zones
//! (`96.10.in-addr.arpa.`, nibbles under `ip6.arpa.`) that hold their PTR
//! records.
use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use hickory_server::proto::rr::Name;

/// An IPv4 or IPv6 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ADDR/PREFIX`; host bits are cleared.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (ip, len) = s
            .split_once('/')
            .ok_or_else(|| "expected ADDRESS/PREFIX, for example 10.96.0.0/16".to_string())?;
        let addr: IpAddr = ip
            .trim()
            .parse()
            .map_err(|_| format!("{ip:?} is not an IP address"))?;
        let prefix: u8 = len
            .trim()
            .parse()
            .map_err(|_| format!("{len:?} is not a prefix length"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(format!("prefix length {prefix} is longer than {max}"));
        }
        Ok(Self {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// The first address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is inside the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }

    /// Whether the `bits`-long prefix `ip/bits` and this range overlap.
    pub fn overlaps(&self, ip: IpAddr, bits: u8) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && {
            let common = bits.min(self.prefix);
            mask(ip, common) == mask(self.addr, common)
        }
    }

    /// The reverse zone holding this range: the range rounded out to whole
    /// octets (IPv4) or nibbles (IPv6), under `in-addr.arpa.` or
    /// `ip6.arpa.`.
    pub fn reverse_zone(&self) -> Name {
        let labels: Vec<String> = match self.addr {
            IpAddr::V4(a) => {
                let n = usize::from(self.prefix / 8);
                let mut l: Vec<String> = a.octets()[..n].iter().rev().map(u8::to_string).collect();
                l.extend(["in-addr".into(), "arpa".into()]);
                l
            }
            IpAddr::V6(a) => {
                let n = usize::from(self.prefix / 4);
                let mut l: Vec<String> = nibbles(a)[..n]
                    .iter()
                    .rev()
                    .map(|d| format!("{d:x}"))
                    .collect();
                l.extend(["ip6".into(), "arpa".into()]);
                l
            }
        };
        let mut name =
            Name::from_labels(labels.iter().map(String::as_bytes)).unwrap_or_else(|_| Name::root());
        name.set_fqdn(true);
        name
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The 32 nibbles of an IPv6 address, most significant first.
pub fn nibbles(a: Ipv6Addr) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in a.octets().iter().enumerate() {
        out[2 * i] = b >> 4;
        out[2 * i + 1] = b & 0x0f;
    }
    out
}

/// `ip` with all but the first `bits` bits cleared.
pub fn mask(ip: IpAddr, bits: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let m = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits.min(32)))
            };
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits.min(128)))
            };
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_masks() {
        let c = Cidr::parse("10.96.3.4/16").unwrap();
        assert_eq!(c.to_string(), "10.96.0.0/16");
        assert!(c.contains("10.96.255.1".parse().unwrap()));
        assert!(!c.contains("10.97.0.1".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        assert!(Cidr::parse("10.96.0.0").is_err());
        assert!(Cidr::parse("10.96.0.0/33").is_err());
        assert!(Cidr::parse("ten/8").is_err());
    }

    #[test]
    fn reverse_zones_round_out() {
        let z = |s: &str| Cidr::parse(s).unwrap().reverse_zone().to_ascii();
        assert_eq!(z("10.96.0.0/16"), "96.10.in-addr.arpa.");
        assert_eq!(z("10.96.0.0/12"), "10.in-addr.arpa.");
        assert_eq!(z("10.244.0.0/16"), "244.10.in-addr.arpa.");
        assert_eq!(
            z("fd00:10:96::/112"),
            "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa."
        );
        assert_eq!(z("0.0.0.0/0"), "in-addr.arpa.");
    }

    #[test]
    fn overlap_of_prefixes() {
        let c = Cidr::parse("10.96.0.0/12").unwrap();
        assert!(c.overlaps("10.0.0.0".parse().unwrap(), 8));
        assert!(c.overlaps("10.100.0.0".parse().unwrap(), 16));
        assert!(!c.overlaps("10.0.0.0".parse().unwrap(), 16));
    }
}
