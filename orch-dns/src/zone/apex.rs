//! The zones this server is authoritative for: the cluster domain and one
//! reverse zone per Service or pod CIDR. Each has its SOA (for negative
//! answers) and knows which names under it are really ours: everything
//! under the cluster domain, and under a reverse zone only the addresses of
//! its CIDRs. Two fallback zones (`in-addr.arpa.`, `ip6.arpa.`) hold PTR
//! records of addresses outside those CIDRs without claiming the rest.
use std::{net::IpAddr, time::SystemTime};

use hickory_server::proto::{
    rr::{
        rdata::{NS, SOA},
        Name, RData, Record,
    },
    serialize::binary::{BinEncodable, BinEncoder, NameEncoding},
};

use super::key::{is_within, key_of, labels_before, NameKey};
use crate::{config::cidr::Cidr, config::Settings, records::names};

/// What a zone covers.
#[derive(Debug, Clone)]
pub enum ZoneKind {
    /// The cluster domain: services, pods, `dns-version`.
    Cluster,
    /// A reverse zone for these CIDRs.
    Reverse(Vec<Cidr>),
    /// A fallback reverse tree: holds known PTR names only.
    Fallback,
}

/// One zone.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The apex.
    pub apex: Name,
    /// The apex as a key.
    pub key: NameKey,
    /// What it covers.
    pub kind: ZoneKind,
    /// Its SOA record.
    pub soa: Record,
    /// Its NS record.
    pub ns: Record,
    /// The SOA record in wire form, names uncompressed, for negative
    /// answers built without an encoder.
    pub soa_wire: Box<[u8]>,
}

/// Where a name that is not in the table belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Inside zone `.0`, and ours: the name does not exist (NXDOMAIN).
    Zone(usize),
    /// Under `pod.<domain>`: pod records are made from the name.
    Pods(usize),
    /// Not ours: forwarded.
    Outside,
}

/// All zones; index 0 is the cluster domain.
#[derive(Debug, Clone)]
pub struct Zones {
    zones: Vec<Zone>,
    pods: NameKey,
    ttl: u32,
    domain: Name,
}

impl Zones {
    /// The zones of `settings`.
    pub fn new(settings: &Settings) -> Self {
        let domain = settings.domain.clone();
        let ttl = settings.ttl;
        let mname = names::child(&names::child(&domain, "dns"), "ns");
        let rname = names::child(&domain, "hostmaster");
        let serial = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs() as u32);
        let make = |apex: Name, kind: ZoneKind| {
            let soa = Record::from_rdata(
                apex.clone(),
                ttl,
                RData::SOA(SOA::new(
                    mname.clone(),
                    rname.clone(),
                    serial,
                    7200,
                    1800,
                    86400,
                    ttl,
                )),
            );
            let ns = Record::from_rdata(apex.clone(), ttl, RData::NS(NS(mname.clone())));
            Zone {
                key: key_of(&apex),
                apex,
                kind,
                soa_wire: uncompressed(&soa),
                soa,
                ns,
            }
        };
        let mut zones = vec![make(domain.clone(), ZoneKind::Cluster)];
        let mut reverse: Vec<(Name, Vec<Cidr>)> = Vec::new();
        for (apex, cidr) in settings.reverse_zones() {
            match reverse.iter_mut().find(|(a, _)| *a == apex) {
                Some((_, cidrs)) => cidrs.push(cidr),
                None => reverse.push((apex, vec![cidr])),
            }
        }
        for (apex, cidrs) in reverse {
            zones.push(make(apex, ZoneKind::Reverse(cidrs)));
        }
        for fallback in ["in-addr.arpa.", "ip6.arpa."] {
            let apex = Name::from_ascii(fallback).expect("a valid name");
            if !zones.iter().any(|z| z.apex == apex) {
                zones.push(make(apex, ZoneKind::Fallback));
            }
        }
        Self {
            pods: key_of(&names::child(&domain, "pod")),
            zones,
            ttl,
            domain,
        }
    }

    /// All zones.
    pub fn all(&self) -> &[Zone] {
        &self.zones
    }

    /// Zone `i`.
    pub fn get(&self, i: usize) -> &Zone {
        &self.zones[i]
    }

    /// The cluster domain.
    pub fn domain(&self) -> &Name {
        &self.domain
    }

    /// The TTL of cluster records.
    pub fn ttl(&self) -> u32 {
        self.ttl
    }

    /// The innermost zone whose apex `key` is at or under.
    pub fn zone_of(&self, key: &[u8]) -> Option<usize> {
        self.zones
            .iter()
            .enumerate()
            .filter(|(_, z)| is_within(key, &z.key))
            .max_by_key(|(_, z)| z.key.len())
            .map(|(i, _)| i)
    }

    /// Where `key`, a name absent from the table, belongs.
    pub fn classify(&self, key: &[u8]) -> Place {
        let Some(i) = self.zone_of(key) else {
            return Place::Outside;
        };
        let zone = &self.zones[i];
        match &zone.kind {
            ZoneKind::Cluster => {
                if is_within(key, &self.pods) {
                    Place::Pods(i)
                } else {
                    Place::Zone(i)
                }
            }
            ZoneKind::Fallback => Place::Outside,
            ZoneKind::Reverse(cidrs) => match names::parse_reverse(key) {
                // Malformed names under our apex are ours to deny.
                None => Place::Zone(i),
                Some((ip, bits)) => {
                    if cidrs.iter().any(|c| c.overlaps(ip, bits)) {
                        Place::Zone(i)
                    } else {
                        Place::Outside
                    }
                }
            },
        }
    }

    /// Whether `key` is the `<ns>.pod.<domain>` or `pod.<domain>` level,
    /// which exists without records.
    pub fn is_pod_level(&self, key: &[u8]) -> bool {
        key[..] == self.pods[..]
            || (is_within(key, &self.pods) && labels_before(key, &self.pods).len() == 1)
    }

    /// The address a pod name (`a-b-c-d.<ns>.pod.<domain>`) stands for.
    pub fn pod_address(&self, key: &[u8]) -> Option<IpAddr> {
        let labels = labels_before(key, &self.pods);
        match labels.as_slice() {
            [ip, _ns] => names::parse_dashed(ip),
            _ => None,
        }
    }
}

/// `record` in wire form with no name compression.
fn uncompressed(record: &Record) -> Box<[u8]> {
    let mut buf = Vec::with_capacity(96);
    let mut enc = BinEncoder::new(&mut buf);
    enc.set_name_encoding(NameEncoding::Uncompressed);
    // Encoding a small SOA into a growable buffer does not fail.
    if record.emit(&mut enc).is_err() {
        buf.clear();
    }
    buf.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones() -> Zones {
        Zones::new(&Settings::local("127.0.0.1:0".parse().unwrap()))
    }

    fn k(s: &str) -> NameKey {
        key_of(&Name::from_ascii(s).unwrap())
    }

    #[test]
    fn zones_from_defaults() {
        let z = zones();
        let apexes: Vec<String> = z.all().iter().map(|z| z.apex.to_ascii()).collect();
        assert_eq!(
            apexes,
            [
                "cluster.local.",
                "96.10.in-addr.arpa.",
                "244.10.in-addr.arpa.",
                "in-addr.arpa.",
                "ip6.arpa."
            ]
        );
    }

    #[test]
    fn classifies_missing_names() {
        let z = zones();
        assert_eq!(
            z.classify(&k("nope.default.svc.cluster.local.")),
            Place::Zone(0)
        );
        assert_eq!(z.classify(&k("cluster.local.")), Place::Zone(0));
        assert_eq!(
            z.classify(&k("1-2-3-4.default.pod.cluster.local.")),
            Place::Pods(0)
        );
        assert_eq!(z.classify(&k("pod.cluster.local.")), Place::Pods(0));
        assert!(z.is_pod_level(&k("pod.cluster.local.")));
        assert!(z.is_pod_level(&k("default.pod.cluster.local.")));
        assert!(!z.is_pod_level(&k("1-2-3-4.default.pod.cluster.local.")));
        assert_eq!(
            z.pod_address(&k("10-244-1-5.default.pod.cluster.local.")),
            Some("10.244.1.5".parse().unwrap())
        );
        assert_eq!(z.classify(&k("example.com.")), Place::Outside);
        assert_eq!(z.classify(&k("9.0.96.10.in-addr.arpa.")), Place::Zone(1));
        assert_eq!(z.classify(&k("junk.96.10.in-addr.arpa.")), Place::Zone(1));
        assert_eq!(z.classify(&k("1.0.168.192.in-addr.arpa.")), Place::Outside);
    }

    #[test]
    fn soa_wire_form_decodes() {
        let z = zones();
        let soa = &z.get(0).soa_wire;
        // owner "cluster.local." (15 bytes), type SOA (6), class IN (1)
        assert_eq!(&soa[..15], b"\x07cluster\x05local\x00");
        assert_eq!(&soa[15..19], &[0, 6, 0, 1]);
    }
}
