//! Pure rendering of Service ports into orch's chains and rules
//! ([`Ruleset`]), in the exact form `iptables-save` prints them, so a
//! desired rule and a live one compare as strings. The layout is described
//! in the [parent module](super).
//!
//! A port without endpoints keeps its `ORCH-SVC-…` chain, which then jumps
//! to `ORCH-NO-ENDPOINTS`, rather than a rule in `ORCH-SERVICES` jumping
//! there directly: gaining or losing all endpoints rewrites that chain
//! only, never a rule of `ORCH-SERVICES`.
use std::fmt::Write as _;

use super::{
    chains::{
        sep_chain, svc_chain, MARK_MASQ, MASQ_MARK, NO_ENDPOINTS, PORTALS_COMMENT, POSTROUTING,
        SERVICES, SNAT_COMMENT,
    },
    ruleset::Ruleset,
};
use crate::{
    model::{Frontend, PortName, ServicePort},
    ProxyError,
};

/// The whole desired state: base chains, jump rules and every port.
pub(crate) fn full<'a>(ports: impl IntoIterator<Item = &'a ServicePort>) -> Ruleset {
    let mut rs = fragment(ports);
    base(&mut rs);
    rs
}

/// The rules of `ports` alone, plus the (possibly empty) shared
/// `ORCH-SERVICES` chains they add rules to. Two fragments over the same
/// frontends differ exactly in what changed for those frontends.
pub(crate) fn fragment<'a>(ports: impl IntoIterator<Item = &'a ServicePort>) -> Ruleset {
    let mut rs = Ruleset::default();
    rs.nat.unordered(SERVICES);
    rs.filter.unordered(SERVICES);
    for p in ports {
        port(&mut rs, p);
    }
    rs
}

/// Base chains and the jump rules in the built-in chains.
fn base(rs: &mut Ruleset) {
    for hook in ["INPUT", "FORWARD", "OUTPUT"] {
        rs.filter.insert(
            hook,
            format!(
                "-m conntrack --ctstate NEW -m comment --comment \"{PORTALS_COMMENT}\" -j {SERVICES}"
            ),
        );
    }
    for hook in ["PREROUTING", "OUTPUT"] {
        rs.nat.insert(
            hook,
            format!("-m comment --comment \"{PORTALS_COMMENT}\" -j {SERVICES}"),
        );
    }
    rs.nat.insert(
        "POSTROUTING",
        format!("-m comment --comment \"{SNAT_COMMENT}\" -j {POSTROUTING}"),
    );
    rs.nat.push(
        MARK_MASQ,
        format!("-j MARK --set-xmark {MASQ_MARK:#x}/{MASQ_MARK:#x}"),
    );
    rs.nat.push(
        POSTROUTING,
        format!("-m mark ! --mark {MASQ_MARK:#x}/{MASQ_MARK:#x} -j RETURN"),
    );
    // XOR clears the bit (it is set here), so a packet that passes again
    // (for example after encapsulation) is not masqueraded twice.
    rs.nat.push(
        POSTROUTING,
        format!("-j MARK --set-xmark {MASQ_MARK:#x}/0x0"),
    );
    rs.nat.push(
        POSTROUTING,
        format!("-m comment --comment \"{SNAT_COMMENT}\" -j MASQUERADE"),
    );
    rs.nat.push(
        NO_ENDPOINTS,
        format!("-m comment --comment \"refused by filter {SERVICES}\" -j REDIRECT"),
    );
}

/// Adds the rules of one Service port.
fn port(rs: &mut Ruleset, port: &ServicePort) {
    let name = port.name.to_string();
    let fe = &port.frontend;
    let proto = fe.protocol.lower();
    let svc = svc_chain(&port.name, fe.protocol);
    rs.nat.insert(SERVICES, services_rule(fe, &name, &svc));
    if port.endpoints.is_empty() {
        rs.nat.push(
            &svc,
            format!("-m comment --comment \"{name} has no endpoints\" -j {NO_ENDPOINTS}"),
        );
        rs.filter.insert(
            SERVICES,
            format!(
                "-p {proto} -m conntrack --ctorigdst {} --ctorigdstport {} -m comment --comment \"{name} has no endpoints\" -j REJECT --reject-with icmp-port-unreachable",
                fe.ip, fe.port
            ),
        );
        return;
    }
    let n = port.endpoints.len();
    for (i, ep) in port.endpoints.iter().enumerate() {
        let sep = sep_chain(&port.name, fe.protocol, ep);
        let mut pick = format!("-m comment --comment \"{name}\"");
        if i + 1 < n {
            let _ = write!(
                pick,
                " -m statistic --mode random --probability {}",
                probability(n - i)
            );
        }
        rs.nat.push(&svc, format!("{pick} -j {sep}"));
        rs.nat.push(
            &sep,
            format!(
                "-s {}/32 -m comment --comment \"{name}\" -j {MARK_MASQ}",
                ep.ip
            ),
        );
        rs.nat.push(
            &sep,
            format!(
                "-p {proto} -m comment --comment \"{name}\" -j DNAT --to-destination {}:{}",
                ep.ip, ep.port
            ),
        );
    }
}

fn services_rule(fe: &Frontend, name: &str, target: &str) -> String {
    let proto = fe.protocol.lower();
    format!(
        "-d {}/32 -p {proto} -m comment --comment \"{name}\" -m {proto} --dport {} -j {target}",
        fe.ip, fe.port
    )
}

/// `1/n` as the `statistic` match stores it (`round(2^31 / n)`) and
/// `iptables-save` prints it (11 decimals, ties to even).
pub(crate) fn probability(n: usize) -> String {
    const SCALE: u128 = 1 << 31;
    let n = n.max(1) as f64;
    // The same arithmetic as the match's parser: lround(2^31 * (1.0 / n)).
    let stored = (2_147_483_648.0_f64 * (1.0 / n)).round() as u128;
    let scaled = stored * 100_000_000_000;
    let mut digits = scaled / SCALE;
    let rem = scaled % SCALE;
    if rem > SCALE / 2 || (rem == SCALE / 2 && digits % 2 == 1) {
        digits += 1;
    }
    format!(
        "{}.{:011}",
        digits / 100_000_000_000,
        digits % 100_000_000_000
    )
}

/// Refuses Service ports that cannot be written as rules or read back.
pub(crate) fn check(port: &ServicePort) -> Result<(), ProxyError> {
    let bad = |reason: String| ProxyError::InvalidPort {
        port: format!("{} ({})", port.frontend, port.name),
        reason,
    };
    if port.frontend.port == 0 {
        return Err(bad("the Service port is 0".into()));
    }
    check_name(&port.name).map_err(bad)?;
    if let Some(ep) = port.endpoints.iter().find(|e| e.port == 0) {
        return Err(bad(format!("endpoint {ep} has port 0")));
    }
    if port.endpoints.windows(2).any(|w| w[0] >= w[1]) {
        return Err(bad("endpoints are not sorted and unique".into()));
    }
    Ok(())
}

/// Port names go into rule comments and are parsed back from them.
fn check_name(name: &PortName) -> Result<(), String> {
    for (what, part) in [
        ("namespace", &name.namespace),
        ("service name", &name.service),
        ("port name", &name.port),
    ] {
        if let Some(c) = part
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
        {
            return Err(format!("the {what} {part:?} contains {c:?}"));
        }
        if part.len() > 63 {
            return Err(format!("the {what} {part:?} is longer than 63 characters"));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::{
        iptables::ruleset::Chain,
        model::{Endpoint, Protocol},
    };

    pub(crate) fn sample(last: u8, protocol: Protocol, eps: &[u8]) -> ServicePort {
        ServicePort {
            frontend: Frontend {
                ip: Ipv4Addr::new(10, 96, 0, last),
                port: 80,
                protocol,
            },
            name: PortName {
                namespace: "default".into(),
                service: format!("web{last}"),
                port: "http".into(),
            },
            endpoints: eps
                .iter()
                .map(|e| Endpoint {
                    ip: Ipv4Addr::new(10, 244, 1, *e),
                    port: 8080,
                })
                .collect(),
        }
    }

    #[test]
    fn probabilities_match_what_iptables_save_prints() {
        assert_eq!(probability(1), "1.00000000000");
        assert_eq!(probability(2), "0.50000000000");
        assert_eq!(probability(3), "0.33333333349");
        assert_eq!(probability(4), "0.25000000000");
        assert_eq!(probability(5), "0.20000000019");
        // 2^-12 is a tie at the 11th decimal: printf rounds it to even.
        assert_eq!(probability(4096), "0.00024414062");
    }

    #[test]
    fn one_port_renders_exact_rules() {
        let p = sample(5, Protocol::Tcp, &[2, 3, 4]);
        let rs = fragment([&p]);
        let svc = svc_chain(&p.name, Protocol::Tcp);
        let sep: Vec<String> = p
            .endpoints
            .iter()
            .map(|e| sep_chain(&p.name, Protocol::Tcp, e))
            .collect();
        let Some(Chain::Unordered(services)) = rs.nat.chains.get(SERVICES) else {
            panic!("no nat ORCH-SERVICES");
        };
        assert_eq!(
            services.keys().collect::<Vec<_>>(),
            [&format!(
                "-d 10.96.0.5/32 -p tcp -m comment --comment \"default/web5:http\" -m tcp --dport 80 -j {svc}"
            )]
        );
        assert_eq!(
            rs.nat.rules(&svc),
            [
                format!("-m comment --comment \"default/web5:http\" -m statistic --mode random --probability 0.33333333349 -j {}", sep[0]),
                format!("-m comment --comment \"default/web5:http\" -m statistic --mode random --probability 0.50000000000 -j {}", sep[1]),
                format!("-m comment --comment \"default/web5:http\" -j {}", sep[2]),
            ]
        );
        assert_eq!(
            rs.nat.rules(&sep[1]),
            [
                "-s 10.244.1.3/32 -m comment --comment \"default/web5:http\" -j ORCH-MARK-MASQ",
                "-p tcp -m comment --comment \"default/web5:http\" -j DNAT --to-destination 10.244.1.3:8080",
            ]
        );
        // Nothing in filter for a port with endpoints.
        assert_eq!(rs.filter.chains.get(SERVICES).map(Chain::len), Some(0));
    }

    #[test]
    fn port_without_endpoints_is_redirected_and_rejected() {
        let p = sample(7, Protocol::Udp, &[]);
        let rs = fragment([&p]);
        let svc = svc_chain(&p.name, Protocol::Udp);
        let Some(Chain::Unordered(nat)) = rs.nat.chains.get(SERVICES) else {
            panic!("no nat ORCH-SERVICES");
        };
        assert_eq!(
            nat.keys().collect::<Vec<_>>(),
            [&format!("-d 10.96.0.7/32 -p udp -m comment --comment \"default/web7:http\" -m udp --dport 80 -j {svc}")]
        );
        assert_eq!(
            rs.nat.rules(&svc),
            ["-m comment --comment \"default/web7:http has no endpoints\" -j ORCH-NO-ENDPOINTS"]
        );
        let Some(Chain::Unordered(filter)) = rs.filter.chains.get(SERVICES) else {
            panic!("no filter ORCH-SERVICES");
        };
        assert_eq!(
            filter.keys().collect::<Vec<_>>(),
            ["-p udp -m conntrack --ctorigdst 10.96.0.7 --ctorigdstport 80 -m comment --comment \"default/web7:http has no endpoints\" -j REJECT --reject-with icmp-port-unreachable"]
        );
        assert_eq!(rs.nat.chains.len(), 2, "no endpoint chains");
    }

    #[test]
    fn full_table_has_base_chains_and_hooks() {
        let rs = full([]);
        assert_eq!(
            rs.nat.rules(POSTROUTING),
            [
                "-m mark ! --mark 0x4000/0x4000 -j RETURN",
                "-j MARK --set-xmark 0x4000/0x0",
                "-m comment --comment \"orch service traffic requiring SNAT\" -j MASQUERADE",
            ]
        );
        assert_eq!(
            rs.nat.rules(MARK_MASQ),
            ["-j MARK --set-xmark 0x4000/0x4000"]
        );
        for hook in ["PREROUTING", "OUTPUT", "POSTROUTING"] {
            assert!(
                matches!(rs.nat.chains.get(hook), Some(Chain::Unordered(r)) if r.len() == 1),
                "{hook}"
            );
        }
        for hook in ["INPUT", "FORWARD", "OUTPUT"] {
            assert!(
                matches!(rs.filter.chains.get(hook), Some(Chain::Unordered(r)) if r.len() == 1),
                "{hook}"
            );
        }
    }

    #[test]
    fn bad_ports_are_refused() {
        let mut p = sample(1, Protocol::Tcp, &[2]);
        assert!(check(&p).is_ok());
        p.name.service = "we\"b".into();
        let err = check(&p).unwrap_err().to_string();
        assert!(err.contains("service name"), "{err}");
        let mut p = sample(1, Protocol::Tcp, &[3, 2]);
        assert!(check(&p).is_err());
        p.endpoints.clear();
        p.frontend.port = 0;
        assert!(check(&p).is_err());
    }
}
