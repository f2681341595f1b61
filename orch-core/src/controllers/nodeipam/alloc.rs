//! The pure part of node IPAM: the cluster pod CIDR cut into equal node
//! subnets, and the choice of a free one for a node.
use std::{collections::BTreeSet, net::Ipv4Addr};

use crate::apiserver::ipalloc::Cidr;

/// The cluster pod CIDR seen as a list of node subnets, indexed from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnets {
    cluster: Cidr,
    prefix: u8,
}

impl Subnets {
    /// Cuts `cluster` into subnets of length `prefix`.
    pub fn new(cluster: Cidr, prefix: u8) -> Result<Self, String> {
        if prefix < cluster.prefix || prefix > 32 {
            return Err(format!("node prefix /{prefix} does not fit in {cluster}"));
        }
        Ok(Self { cluster, prefix })
    }

    /// Number of node subnets.
    pub fn count(&self) -> u64 {
        1u64 << (self.prefix - self.cluster.prefix)
    }

    /// The `i`th subnet.
    pub fn nth(&self, i: u64) -> Option<Cidr> {
        (i < self.count()).then(|| Cidr {
            base: Ipv4Addr::from(u32::from(self.cluster.base) + ((i as u32) << (32 - self.prefix))),
            prefix: self.prefix,
        })
    }

    /// The index of `c` if it is exactly one of the subnets.
    pub fn index_of(&self, c: &Cidr) -> Option<u64> {
        if c.prefix != self.prefix || !self.cluster.contains(c.base) {
            return None;
        }
        let offset = u32::from(c.base) - u32::from(self.cluster.base);
        Some(u64::from(offset >> (32 - self.prefix)))
    }

    /// A free subnet for the node `name`: subnet N for `node-N` when it is
    /// free (the default layout, `node-1` → `10.244.1.0/24`), otherwise the
    /// lowest free one. Subnet 0 is only used when it is the only one.
    pub fn pick(&self, name: &str, used: &BTreeSet<u64>) -> Option<Cidr> {
        let first = u64::from(self.count() > 1);
        let preferred = name
            .strip_prefix("node-")
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|i| (first..self.count()).contains(i) && !used.contains(i));
        let index = preferred.or_else(|| (first..self.count()).find(|i| !used.contains(i)))?;
        self.nth(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnets() -> Subnets {
        Subnets::new(Cidr::parse("10.244.0.0/16").unwrap(), 24).unwrap()
    }

    #[test]
    fn follows_the_default_layout_when_free() {
        let s = subnets();
        assert_eq!(s.count(), 256);
        assert_eq!(
            s.pick("node-7", &BTreeSet::new()).unwrap().to_string(),
            "10.244.7.0/24"
        );
        let used: BTreeSet<u64> = [7].into();
        assert_eq!(
            s.pick("node-7", &used).unwrap().to_string(),
            "10.244.1.0/24"
        );
        assert_eq!(
            s.pick("node-0", &BTreeSet::new()).unwrap().to_string(),
            "10.244.1.0/24"
        );
        assert_eq!(
            s.pick("node-999", &BTreeSet::new()).unwrap().to_string(),
            "10.244.1.0/24"
        );
    }

    #[test]
    fn lowest_free_and_exhaustion() {
        let s = Subnets::new(Cidr::parse("10.0.0.0/22").unwrap(), 24).unwrap();
        let mut used = BTreeSet::new();
        let mut got = Vec::new();
        while let Some(c) = s.pick("worker", &used) {
            used.insert(s.index_of(&c).unwrap());
            got.push(c.to_string());
        }
        assert_eq!(got, ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"]);
        used.remove(&2);
        assert_eq!(s.pick("other", &used).unwrap().to_string(), "10.0.2.0/24");
    }

    #[test]
    fn index_of_rejects_foreign_blocks() {
        let s = subnets();
        assert_eq!(s.index_of(&Cidr::parse("10.244.9.0/24").unwrap()), Some(9));
        assert_eq!(s.index_of(&Cidr::parse("10.245.9.0/24").unwrap()), None);
        assert_eq!(s.index_of(&Cidr::parse("10.244.9.0/25").unwrap()), None);
        assert!(Subnets::new(Cidr::parse("10.244.0.0/16").unwrap(), 8).is_err());
    }
}
