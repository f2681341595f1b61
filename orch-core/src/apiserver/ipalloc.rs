//! ClusterIP allocation from the service CIDR. The allocator holds no state
//! of its own on disk: at start it is rebuilt from the Services in the store,
//! so an IP in use is never handed out twice, also across restarts.
use std::{collections::BTreeSet, net::Ipv4Addr};

/// An IPv4 CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// Network address.
    pub base: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (ip, len) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a CIDR (a.b.c.d/n)"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("{ip:?} is not an IPv4 address"))?;
        let prefix: u8 = len
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("{len:?} is not a prefix length 0..=32"))?;
        let mask = Self::mask(prefix);
        Ok(Self {
            base: Ipv4Addr::from(u32::from(ip) & mask),
            prefix,
        })
    }

    fn mask(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        }
    }

    /// Number of addresses in the block.
    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix)
    }

    /// Whether `ip` is inside the block.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask(self.prefix) == u32::from(self.base)
    }

    /// The `n`th address of the block.
    pub fn nth(&self, n: u64) -> Option<Ipv4Addr> {
        (n < self.size()).then(|| Ipv4Addr::from(u32::from(self.base) + n as u32))
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// Hands out ClusterIPs; the network and broadcast addresses are never used.
#[derive(Debug)]
pub struct ClusterIpAllocator {
    cidr: Cidr,
    used: BTreeSet<u32>,
    next: u64,
}

impl ClusterIpAllocator {
    /// An allocator for `cidr` with nothing in use.
    pub fn new(cidr: Cidr) -> Self {
        Self {
            cidr,
            used: BTreeSet::new(),
            next: 10,
        }
    }

    /// The block served.
    pub fn cidr(&self) -> Cidr {
        self.cidr
    }

    /// Marks an address as in use (rebuild at start). Out-of-range
    /// addresses are ignored.
    pub fn mark(&mut self, ip: Ipv4Addr) {
        if self.cidr.contains(ip) {
            self.used.insert(u32::from(ip));
        }
    }

    /// Allocates `ip` if it is free and in range.
    pub fn allocate_specific(&mut self, ip: Ipv4Addr) -> Result<(), String> {
        if !self.cidr.contains(ip) {
            return Err(format!(
                "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
                self.cidr
            ));
        }
        let n = u64::from(u32::from(ip) - u32::from(self.cidr.base));
        if n == 0 || n + 1 == self.cidr.size() {
            return Err(format!(
                "the provided IP ({ip}) is the network or broadcast address of {}",
                self.cidr
            ));
        }
        if !self.used.insert(u32::from(ip)) {
            return Err(format!("the provided IP ({ip}) is already allocated"));
        }
        Ok(())
    }

    /// Allocates the next free address, scanning round-robin so a released
    /// address is not reused at once.
    pub fn allocate(&mut self) -> Result<Ipv4Addr, String> {
        let size = self.cidr.size();
        for i in 0..size {
            let n = (self.next + i) % size;
            if n == 0 || n + 1 == size {
                continue;
            }
            let ip = self.cidr.nth(n).expect("n < size");
            if self.used.insert(u32::from(ip)) {
                self.next = n + 1;
                return Ok(ip);
            }
        }
        Err(format!(
            "range is full: no ClusterIP is free in {}",
            self.cidr
        ))
    }

    /// Returns an address to the pool.
    pub fn release(&mut self, ip: Ipv4Addr) {
        self.used.remove(&u32::from(ip));
    }

    /// Number of addresses in use.
    pub fn in_use(&self) -> usize {
        self.used.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_contains() {
        let c = Cidr::parse("10.96.7.9/16").unwrap();
        assert_eq!(c.to_string(), "10.96.0.0/16");
        assert!(c.contains("10.96.255.1".parse().unwrap()));
        assert!(!c.contains("10.97.0.1".parse().unwrap()));
        assert!(Cidr::parse("10.96.0.0").is_err());
        assert!(Cidr::parse("10.96.0.0/33").is_err());
        assert!(Cidr::parse("x/8").is_err());
    }

    #[test]
    fn never_hands_out_an_address_twice() {
        let mut a = ClusterIpAllocator::new(Cidr::parse("10.0.0.0/29").unwrap());
        a.allocate_specific("10.0.0.1".parse().unwrap()).unwrap();
        assert!(a.allocate_specific("10.0.0.1".parse().unwrap()).is_err());
        let mut got = vec![];
        while let Ok(ip) = a.allocate() {
            got.push(ip);
        }
        // 8 addresses minus network, broadcast and the one taken.
        assert_eq!(got.len(), 5);
        let mut uniq = got.clone();
        uniq.dedup();
        assert_eq!(uniq.len(), got.len());
        assert!(!got.contains(&"10.0.0.0".parse().unwrap()));
        assert!(!got.contains(&"10.0.0.7".parse().unwrap()));
        a.release(got[0]);
        assert_eq!(a.allocate().unwrap(), got[0]);
        assert!(a.allocate_specific("10.0.1.1".parse().unwrap()).is_err());
    }
}
