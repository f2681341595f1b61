//! Pod IP allocation from the node's pod CIDR. Allocations are written to
//! disk (fsync, then rename) before an address is used, so no address is
//! handed out twice, also across agent restarts. Addresses are handed out
//! round-robin (the next free one after the last allocated), so a freed
//! address is not reused at once: peers' neighbour entries and conntrack
//! state for it expire before it names another pod.
use std::{
    collections::BTreeMap,
    io,
    net::Ipv4Addr,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::apiserver::ipalloc::Cidr;

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    cidr: String,
    /// Address → owner (pod uid).
    allocated: BTreeMap<Ipv4Addr, String>,
    /// The address allocated last; the search for the next starts after it.
    #[serde(default)]
    last: Option<Ipv4Addr>,
}

/// The node's pod address allocator.
#[derive(Debug)]
pub struct Ipam {
    path: PathBuf,
    cidr: Cidr,
    state: State,
}

impl Ipam {
    /// Opens (or starts) the allocation file at `path` for `cidr`. A file for
    /// another CIDR is an error: the node's pod CIDR never changes.
    pub fn open(path: &Path, cidr: Cidr) -> io::Result<Self> {
        let state = match std::fs::read(path) {
            Ok(b) => serde_json::from_slice::<State>(&b)
                .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => State {
                cidr: cidr.to_string(),
                allocated: BTreeMap::new(),
                last: None,
            },
            Err(e) => return Err(e),
        };
        if state.cidr != cidr.to_string() {
            return Err(io::Error::other(format!(
                "{} holds allocations for {} but the node's pod CIDR is {cidr}",
                path.display(),
                state.cidr
            )));
        }
        Ok(Self {
            path: path.to_path_buf(),
            cidr,
            state,
        })
    }

    /// The gateway address of the node (first host of the CIDR).
    pub fn gateway(&self) -> Ipv4Addr {
        self.cidr.nth(1).expect("a pod CIDR has hosts")
    }

    /// The CIDR served.
    pub fn cidr(&self) -> Cidr {
        self.cidr
    }

    fn save(&self) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.state).map_err(io::Error::other)?;
        crate::util::write_private(&self.path, &bytes)
    }

    /// The address held by `owner`, or a new one: the first free after the
    /// last allocated, wrapping around, skipping the network, gateway and
    /// broadcast addresses.
    pub fn allocate(&mut self, owner: &str) -> io::Result<Ipv4Addr> {
        if let Some((ip, _)) = self.state.allocated.iter().find(|(_, o)| *o == owner) {
            return Ok(*ip);
        }
        // Host numbers 2 ..= size-2 are usable.
        let hosts = self.cidr.size().saturating_sub(3);
        let base = u32::from(self.cidr.base);
        let after = self
            .state
            .last
            .map(|l| u64::from(u32::from(l).wrapping_sub(base)))
            .filter(|n| (2..hosts + 2).contains(n))
            .map_or(0, |n| n - 1);
        let ip = (0..hosts)
            .map(|k| 2 + (after + k) % hosts)
            .filter_map(|n| self.cidr.nth(n))
            .find(|ip| !self.state.allocated.contains_key(ip))
            .ok_or_else(|| io::Error::other(format!("no free pod address in {}", self.cidr)))?;
        let last = self.state.last.replace(ip);
        self.state.allocated.insert(ip, owner.to_string());
        if let Err(e) = self.save() {
            self.state.allocated.remove(&ip);
            self.state.last = last;
            return Err(e);
        }
        Ok(ip)
    }

    /// Frees whatever `owner` holds.
    pub fn release(&mut self, owner: &str) -> io::Result<()> {
        let before = self.state.allocated.len();
        self.state.allocated.retain(|_, o| o != owner);
        if self.state.allocated.len() != before {
            self.save()?;
        }
        Ok(())
    }

    /// Owners holding addresses.
    pub fn owners(&self) -> Vec<String> {
        self.state.allocated.values().cloned().collect()
    }

    /// Number of addresses in use.
    pub fn in_use(&self) -> usize {
        self.state.allocated.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_persist_and_never_repeat() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ipam.json");
        let cidr = Cidr::parse("10.244.3.0/29").unwrap();
        let mut a = Ipam::open(&p, cidr).unwrap();
        assert_eq!(a.gateway(), "10.244.3.1".parse::<Ipv4Addr>().unwrap());
        let x = a.allocate("pod-x").unwrap();
        assert_eq!(x, "10.244.3.2".parse::<Ipv4Addr>().unwrap());
        assert_eq!(a.allocate("pod-x").unwrap(), x, "same owner, same address");
        let y = a.allocate("pod-y").unwrap();
        drop(a);
        let mut b = Ipam::open(&p, cidr).unwrap();
        let z = b.allocate("pod-z").unwrap();
        assert!(z != x && z != y);
        // .2 .. .6 usable in a /29: x, y, z, then two more, then full.
        b.allocate("a").unwrap();
        b.allocate("b").unwrap();
        assert!(b.allocate("c").is_err());
        b.release("pod-x").unwrap();
        assert_eq!(b.allocate("c").unwrap(), x, "the only free address");
        b.release("c").unwrap();
        b.release("a").unwrap();
        // Round-robin: the next free after the last allocated (x), not x.
        let next = b.allocate("d").unwrap();
        assert_eq!(
            next,
            "10.244.3.5".parse::<Ipv4Addr>().unwrap(),
            "the first free after .2 (.3 and .4 are held)"
        );
        b.release("d").unwrap();
        let wrapped = b.allocate("e").unwrap();
        assert_eq!(wrapped, x, "wraps around past the end");
        assert!(Ipam::open(&p, Cidr::parse("10.244.4.0/24").unwrap()).is_err());
    }
}
