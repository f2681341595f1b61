//! Names of orch's chains, the mark bit and comment texts. Every chain orch
//! owns starts with [`PREFIX`]; nothing else is ever flushed or deleted.
use std::fmt::Write as _;

use ring::digest::{digest, SHA256};

use crate::model::{Endpoint, PortName, Protocol};

/// Prefix of every chain orch owns, in both tables.
pub(crate) const PREFIX: &str = "ORCH-";
/// Entry chain for Service traffic (nat: DNAT dispatch; filter: REJECT of
/// Services without endpoints).
pub(crate) const SERVICES: &str = "ORCH-SERVICES";
/// nat chain from POSTROUTING: masquerades marked packets.
pub(crate) const POSTROUTING: &str = "ORCH-POSTROUTING";
/// nat chain that sets [`MASQ_MARK`].
pub(crate) const MARK_MASQ: &str = "ORCH-MARK-MASQ";
/// nat chain for Service ports without endpoints: sends the packet to the
/// node itself, where the filter table refuses it.
pub(crate) const NO_ENDPOINTS: &str = "ORCH-NO-ENDPOINTS";
/// Prefix of a per-Service-port chain.
pub(crate) const SVC_PREFIX: &str = "ORCH-SVC-";
/// Prefix of a per-endpoint chain.
pub(crate) const SEP_PREFIX: &str = "ORCH-SEP-";

/// The packet mark bit that asks ORCH-POSTROUTING to masquerade.
pub(crate) const MASQ_MARK: u32 = 0x4000;

/// Comment of the jump rules in the built-in chains.
pub(crate) const PORTALS_COMMENT: &str = "orch service portals";
/// Comment of the jump rule in nat POSTROUTING and of the MASQUERADE rule.
pub(crate) const SNAT_COMMENT: &str = "orch service traffic requiring SNAT";

/// The nat chain of one Service port: `ORCH-SVC-` and 16 base32 characters
/// of a SHA-256 of the port name and protocol.
pub(crate) fn svc_chain(name: &PortName, protocol: Protocol) -> String {
    format!(
        "{SVC_PREFIX}{}",
        hash16(&format!("{name}{}", protocol.as_str()))
    )
}

/// The nat chain of one endpoint of a Service port.
pub(crate) fn sep_chain(name: &PortName, protocol: Protocol, endpoint: &Endpoint) -> String {
    format!(
        "{SEP_PREFIX}{}",
        hash16(&format!("{name}{}{endpoint}", protocol.as_str()))
    )
}

/// Whether `chain` belongs to orch.
pub(crate) fn is_owned(chain: &str) -> bool {
    chain.starts_with(PREFIX)
}

/// The first 80 bits of SHA-256 of `input`, base32 encoded (RFC 4648
/// alphabet): 16 characters.
fn hash16(input: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let sum = digest(&SHA256, input.as_bytes());
    let bits = sum.as_ref()[..10]
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    let mut out = String::with_capacity(16);
    for i in (0..16).rev() {
        let idx = usize::try_from((bits >> (i * 5)) & 0x1f).unwrap_or(0);
        let _ = out.write_char(char::from(ALPHABET[idx]));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn name() -> PortName {
        PortName {
            namespace: "default".into(),
            service: "web".into(),
            port: "http".into(),
        }
    }

    #[test]
    fn hash_is_base32_of_sha256() {
        // base32(sha256("abc")) = "XJ4BNP4PAHH6UQKBIDPF3LRC...".
        assert_eq!(hash16("abc"), "XJ4BNP4PAHH6UQKB");
    }

    #[test]
    fn names_are_stable_short_and_distinct() {
        let svc = svc_chain(&name(), Protocol::Tcp);
        assert_eq!(svc, svc_chain(&name(), Protocol::Tcp));
        assert_ne!(svc, svc_chain(&name(), Protocol::Udp));
        assert!(svc.starts_with(SVC_PREFIX) && svc.len() == 25, "{svc}");
        let ep = |last| Endpoint {
            ip: Ipv4Addr::new(10, 244, 1, last),
            port: 8080,
        };
        let sep = sep_chain(&name(), Protocol::Tcp, &ep(2));
        assert_ne!(sep, sep_chain(&name(), Protocol::Tcp, &ep(3)));
        // iptables chain names are limited to 28 bytes.
        assert!(sep.len() <= 28 && is_owned(&sep));
        assert!(!is_owned("KUBE-SERVICES"));
    }
}
