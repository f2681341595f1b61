//! Reading rules back: `iptables-save` text → orch's [`Table`], and orch's
//! nat table → the Service ports it implements.
use std::net::Ipv4Addr;

use super::{
    chains::{is_owned, NO_ENDPOINTS, SERVICES, SVC_PREFIX},
    ruleset::{is_builtin, Chain, Table},
};
use crate::model::{Endpoint, Frontend, PortName, Protocol, ServicePort};

/// orch's chains and rules in the `iptables-save` output `text` of one
/// table: every `ORCH-` chain, and the rules of built-in chains that jump
/// to one. Everything else is left out.
pub(crate) fn parse_save(text: &str) -> Table {
    let mut table = Table::default();
    for line in text.lines() {
        if let Some(decl) = line.strip_prefix(':') {
            let chain = decl.split(' ').next().unwrap_or_default();
            if is_owned(chain) {
                declare(&mut table, chain);
            }
        } else if let Some(rule) = line.strip_prefix("-A ") {
            let Some((chain, spec)) = rule.split_once(' ') else {
                continue;
            };
            if is_owned(chain) {
                declare(&mut table, chain);
                table.push(chain, spec.to_string());
            } else if is_builtin(chain) && target(spec).is_some_and(is_owned) {
                table.insert(chain, spec.to_string());
            }
        }
    }
    table
}

fn declare(table: &mut Table, chain: &str) {
    if chain == SERVICES {
        table.unordered(chain);
    } else {
        table.ordered(chain);
    }
}

/// The Service ports orch's nat table implements, sorted by frontend.
/// Rules that orch would not have written are skipped.
pub(crate) fn service_ports(nat: &Table) -> Vec<ServicePort> {
    let mut out: Vec<ServicePort> = match nat.chains.get(SERVICES) {
        Some(Chain::Unordered(rules)) => rules
            .keys()
            .filter_map(|rule| service_port(nat, rule))
            .collect(),
        _ => Vec::new(),
    };
    out.sort_by_key(|p| p.frontend);
    out.dedup_by_key(|p| p.frontend);
    out
}

/// One `ORCH-SERVICES` rule and the chains it leads to.
fn service_port(nat: &Table, rule: &str) -> Option<ServicePort> {
    let t = tokens(rule);
    let ip: Ipv4Addr = option(&t, "-d")?.strip_suffix("/32")?.parse().ok()?;
    let protocol = Protocol::parse(&option(&t, "-p")?.to_ascii_uppercase())?;
    let port: u16 = option(&t, "--dport")?.parse().ok()?;
    let name = parse_port_name(option(&t, "--comment")?);
    let svc = option(&t, "-j")?;
    if !svc.starts_with(SVC_PREFIX) {
        return None;
    }
    let mut endpoints = Vec::new();
    for pick in nat.rules(svc) {
        match target(pick) {
            Some(NO_ENDPOINTS) | None => {}
            Some(sep) => endpoints.extend(nat.rules(sep).iter().filter_map(|r| dnat(r))),
        }
    }
    endpoints.sort();
    endpoints.dedup();
    Some(ServicePort {
        frontend: Frontend { ip, port, protocol },
        name,
        endpoints,
    })
}

fn dnat(rule: &str) -> Option<Endpoint> {
    let t = tokens(rule);
    let (ip, port) = option(&t, "--to-destination")?.split_once(':')?;
    Some(Endpoint {
        ip: ip.parse().ok()?,
        port: port.parse().ok()?,
    })
}

/// `namespace/service[:port]`, as [`PortName`]'s `Display` writes it.
fn parse_port_name(s: &str) -> PortName {
    let (namespace, rest) = s.split_once('/').unwrap_or(("", s));
    let (service, port) = rest.split_once(':').unwrap_or((rest, ""));
    PortName {
        namespace: namespace.into(),
        service: service.into(),
        port: port.into(),
    }
}

/// The jump target of a rule.
fn target(rule: &str) -> Option<&str> {
    let mut words = rule.split(' ');
    words.find(|w| *w == "-j")?;
    words.next()
}

/// The value after the first `flag` among `tokens`.
fn option<'a>(tokens: &'a [String], flag: &str) -> Option<&'a str> {
    let i = tokens.iter().position(|t| t == flag)?;
    tokens.get(i + 1).map(String::as_str)
}

/// Splits a rule specification into words; double quotes group words and
/// backslash escapes the next character inside them, as `iptables-save`
/// writes comments.
fn tokens(rule: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = rule.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ' ' if !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::render::{self, tests::sample};

    /// Prints a table the way `iptables-save` does.
    fn save_text(name: &str, table: &Table) -> String {
        let mut text = format!("# Generated by iptables-nft-save\n*{name}\n");
        for hook in ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"] {
            text.push_str(&format!(":{hook} ACCEPT [0:0]\n"));
        }
        text.push_str(":KUBE-OTHER - [0:0]\n");
        for chain in table.chains.keys().filter(|c| is_owned(c)) {
            text.push_str(&format!(":{chain} - [0:0]\n"));
        }
        text.push_str("-A PREROUTING -j KUBE-OTHER\n");
        for (chain, rules) in &table.chains {
            let rules: Vec<&String> = match rules {
                Chain::Ordered(r) => r.iter().collect(),
                Chain::Unordered(r) => r.keys().collect(),
            };
            for r in rules {
                text.push_str(&format!("-A {chain} {r}\n"));
            }
        }
        text.push_str("-A KUBE-OTHER -j RETURN\nCOMMIT\n");
        text
    }

    fn ports() -> Vec<ServicePort> {
        let mut unnamed = sample(9, Protocol::Tcp, &[7]);
        unnamed.name.port.clear();
        vec![
            sample(1, Protocol::Tcp, &[2, 3, 4]),
            sample(1, Protocol::Udp, &[2, 3, 4]),
            sample(2, Protocol::Tcp, &[]),
            unnamed,
        ]
    }

    #[test]
    fn render_then_parse_round_trips() {
        let ports = ports();
        let rs = render::full(&ports);
        let nat = parse_save(&save_text("nat", &rs.nat));
        let filter = parse_save(&save_text("filter", &rs.filter));
        assert_eq!(nat, rs.nat, "nat table parsed back differently");
        assert_eq!(filter, rs.filter, "filter table parsed back differently");
        let mut sorted = ports.clone();
        sorted.sort_by_key(|p| p.frontend);
        assert_eq!(service_ports(&nat), sorted);
    }

    #[test]
    fn foreign_chains_and_rules_are_ignored() {
        let text = "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n\
                    -A PREROUTING -j KUBE-SERVICES\n\
                    -A PREROUTING -m comment --comment \"x\" -j DNAT --to-destination 1.2.3.4:5\n\
                    -A KUBE-SERVICES -j ORCH-SERVICES\nCOMMIT\n";
        assert!(parse_save(text).chains.is_empty());
    }

    #[test]
    fn quoted_words_are_one_token() {
        assert_eq!(
            tokens(r#"-m comment --comment "a b \"c\"" -j X"#),
            ["-m", "comment", "--comment", "a b \"c\"", "-j", "X"]
        );
        assert_eq!(
            parse_port_name("ns/svc"),
            PortName {
                namespace: "ns".into(),
                service: "svc".into(),
                port: String::new()
            }
        );
    }
}
