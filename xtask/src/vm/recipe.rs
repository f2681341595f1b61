//! The guest image recipe: the Debian release and mirror, the packages, the
//! files written into the root file system, and the key that names the
//! cached image (any change to the recipe gives a new key, so a stale
//! image is never reused).

/// Debian release of the guest.
pub const SUITE: &str = "bookworm";

/// Where debootstrap fetches packages.
pub const MIRROR: &str = "http://deb.debian.org/debian";

/// Bumped by hand when something the key does not cover changes (the way
/// the image is assembled).
pub const VERSION: u32 = 1;

/// Size of the guest's root file system (a sparse file; the base image
/// is shared read-only, every run writes to its own overlay).
pub const ROOT_SIZE_GIB: u64 = 8;

/// Packages on top of debootstrap's minbase: Debian's 6.1 kernel and what
/// the packet-path tests run (ip, iptables, conntrack, dig, curl, ping,
/// ps, modprobe).
pub const PACKAGES: &[&str] = &[
    "linux-image-amd64",
    "iproute2",
    "iptables",
    "conntrack",
    "bind9-dnsutils",
    "curl",
    "ca-certificates",
    "iputils-ping",
    "procps",
    "kmod",
];

/// Path of the guest's init inside the image (the kernel's `init=`).
pub const INIT_PATH: &str = "/usr/local/sbin/orch-vm-init";

/// Modules the guest loads at boot, as a Kubernetes node's set-up does.
/// Debian builds br_netfilter as a module; without it bridged traffic
/// skips iptables, and the proxy's iptables mode cannot un-DNAT replies
/// between pods on one node's bridge.
const MODULES_LOAD: &str = "# loaded by /usr/local/sbin/orch-vm-init\nbr_netfilter\n";

/// The guest's PID 1.
const INIT: &str = include_str!("guest/init.sh");

/// A file written into the root file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestFile {
    /// Absolute path inside the guest.
    pub path: &'static str,
    pub contents: &'static str,
    pub mode: u32,
}

/// The files the recipe writes after debootstrap.
pub fn files() -> Vec<GuestFile> {
    vec![
        GuestFile {
            path: INIT_PATH,
            contents: INIT,
            mode: 0o755,
        },
        GuestFile {
            path: "/etc/hostname",
            contents: "orch-vm\n",
            mode: 0o644,
        },
        GuestFile {
            path: "/etc/hosts",
            contents:
                "127.0.0.1 localhost\n127.0.1.1 orch-vm\n::1 localhost ip6-localhost ip6-loopback\n",
            mode: 0o644,
        },
        // The guest has no network; nothing should try a resolver.
        GuestFile {
            path: "/etc/resolv.conf",
            contents: "",
            mode: 0o644,
        },
        GuestFile {
            path: "/etc/modules-load.d/orch.conf",
            contents: MODULES_LOAD,
            mode: 0o644,
        },
        GuestFile {
            path: "/etc/fstab",
            contents: "# mounts are made by /usr/local/sbin/orch-vm-init\n",
            mode: 0o644,
        },
    ]
}

/// The cache key: suite, version and a hash of everything above.
pub fn key() -> String {
    let mut h = Fnv::new();
    h.add(SUITE);
    h.add(MIRROR);
    h.add(&ROOT_SIZE_GIB.to_string());
    for p in PACKAGES {
        h.add(p);
    }
    for f in files() {
        h.add(f.path);
        h.add(f.contents);
        h.add(&f.mode.to_string());
    }
    format!("{SUITE}-r{VERSION}-{:08x}", h.finish() as u32)
}

/// FNV-1a, 64 bit: a stable hash (std's `DefaultHasher` may change
/// between Rust releases, which would throw the cache away).
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    /// Adds a string and a separator, so ("ab","c") and ("a","bc") differ.
    fn add(&mut self, s: &str) {
        for b in s.bytes().chain([0xff]) {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_stable_and_names_the_suite() {
        let k = key();
        assert_eq!(k, key());
        assert!(k.starts_with("bookworm-r1-"), "{k}");
        assert_eq!(k.len(), "bookworm-r1-".len() + 8);
    }

    #[test]
    fn hash_separates_fields() {
        let (mut a, mut b) = (Fnv::new(), Fnv::new());
        a.add("ab");
        a.add("c");
        b.add("a");
        b.add("bc");
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn init_mounts_cgroup2_and_bpffs_and_powers_off() {
        let init = files().into_iter().find(|f| f.path == INIT_PATH).unwrap();
        assert!(init.contents.starts_with("#!/bin/bash"));
        assert!(init.contents.contains("fs cgroup2 /sys/fs/cgroup"));
        assert!(init.contents.contains("fs bpf /sys/fs/bpf"));
        assert!(init.contents.contains("echo o > /proc/sysrq-trigger"));
        assert!(init.contents.contains("/etc/modules-load.d/*.conf"));
        let modules = files()
            .into_iter()
            .find(|f| f.path == "/etc/modules-load.d/orch.conf")
            .unwrap();
        assert!(modules.contents.lines().any(|l| l == "br_netfilter"));
        assert_eq!(init.mode, 0o755);
    }

    #[test]
    fn packages_include_the_kernel_and_the_test_tools() {
        for p in [
            "linux-image-amd64",
            "iptables",
            "conntrack",
            "bind9-dnsutils",
            "curl",
        ] {
            assert!(PACKAGES.contains(&p), "{p}");
        }
    }
}
