//! Pure comparison of two [`Ruleset`]s into the steps that turn the first
//! into the second, and the `iptables-restore --noflush` input that runs
//! them.
//!
//! Only what differs is written: an ordered chain is rewritten (declared,
//! which flushes it, then filled) when any of its rules changed; rules of
//! unordered chains (`ORCH-SERVICES`, the jumps in built-in chains) are
//! added or deleted one by one, so changing one Service port never rewrites
//! the chain that lists all of them.
//!
//! Steps run in an order that never leaves a jump to a missing chain:
//! filter additions, then nat additions (base chains, endpoint chains,
//! Service chains, then the rules that jump to them), then nat removals
//! (rules first, then flushing and deleting chains), then filter removals.
//! For a Service port that loses its last endpoint this adds the REJECT
//! before the REDIRECT that relies on it, and removes it only after the
//! REDIRECT is gone.
//!
//! Large plans are cut into several transactions, each at most
//! [`BUDGET`] lines: `iptables-restore` (nf_tables backend) takes time
//! that grows faster than linearly with the size of one input.
use std::collections::BTreeMap;

use super::{
    chains::{is_owned, SEP_PREFIX, SVC_PREFIX},
    ruleset::{is_builtin, Chain, Ruleset, Table, TableName},
};

/// Lines per `iptables-restore` transaction.
pub(crate) const BUDGET: usize = 4000;

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// Declares `chain` (creating it, or flushing it) and appends `rules`.
    Write { chain: String, rules: Vec<String> },
    /// Adds one rule: at the top of a built-in chain, else at the end.
    Add { chain: String, rule: String },
    /// Deletes one occurrence of a rule.
    Del { chain: String, rule: String },
    /// Flushes a chain that is about to be deleted.
    Flush { chain: String },
    /// Deletes an empty chain nothing jumps to any more.
    Delete { chain: String },
}

impl Op {
    fn lines(&self) -> usize {
        match self {
            Self::Write { rules, .. } => 1 + rules.len(),
            _ => 1,
        }
    }
}

/// The steps that turn one ruleset into another, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// (table, step), in the order they must run.
    pub(crate) ops: Vec<(TableName, Op)>,
}

impl Plan {
    /// Whether there is nothing to do.
    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The `iptables-restore --noflush` inputs that carry out the plan, in
    /// order, each at most about `budget` lines.
    pub(crate) fn transactions(&self, budget: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut txn = Transaction::default();
        for (table, op) in &self.ops {
            if txn.lines > 0 && txn.lines + op.lines() > budget {
                out.push(std::mem::take(&mut txn).render());
            }
            txn.push(*table, op);
        }
        if txn.lines > 0 {
            out.push(txn.render());
        }
        out
    }
}

/// Sections of one restore input, one per run of steps on the same table.
#[derive(Default)]
struct Transaction<'a> {
    sections: Vec<(TableName, Vec<&'a Op>)>,
    lines: usize,
}

impl<'a> Transaction<'a> {
    fn push(&mut self, table: TableName, op: &'a Op) {
        match self.sections.last_mut() {
            Some((t, ops)) if *t == table => ops.push(op),
            _ => self.sections.push((table, vec![op])),
        }
        self.lines += op.lines();
    }

    fn render(self) -> String {
        let mut text = String::new();
        for (table, ops) in self.sections {
            text.push('*');
            text.push_str(table.as_str());
            text.push('\n');
            // Declarations first: they create or flush; the rules follow.
            for op in &ops {
                if let Op::Write { chain, .. } | Op::Flush { chain } = op {
                    text.push_str(&format!(":{chain} - [0:0]\n"));
                }
            }
            for op in &ops {
                match op {
                    Op::Write { chain, rules } => {
                        for r in rules {
                            text.push_str(&format!("-A {chain} {r}\n"));
                        }
                    }
                    Op::Add { chain, rule } if is_builtin(chain) => {
                        text.push_str(&format!("-I {chain} {rule}\n"));
                    }
                    Op::Add { chain, rule } => text.push_str(&format!("-A {chain} {rule}\n")),
                    Op::Del { chain, rule } => text.push_str(&format!("-D {chain} {rule}\n")),
                    Op::Flush { .. } => {}
                    Op::Delete { chain } => text.push_str(&format!("-X {chain}\n")),
                }
            }
            text.push_str("COMMIT\n");
        }
        text
    }
}

/// The steps that turn `old` into `new`.
pub(crate) fn diff(old: &Ruleset, new: &Ruleset) -> Plan {
    let mut plan = Plan::default();
    additions(TableName::Filter, &old.filter, &new.filter, &mut plan);
    additions(TableName::Nat, &old.nat, &new.nat, &mut plan);
    removals(TableName::Nat, &old.nat, &new.nat, &mut plan);
    removals(TableName::Filter, &old.filter, &new.filter, &mut plan);
    plan
}

/// Writing order of ordered chains: what is jumped to comes first.
fn rank(chain: &str) -> u8 {
    if chain.starts_with(SVC_PREFIX) {
        2
    } else if chain.starts_with(SEP_PREFIX) {
        1
    } else {
        0
    }
}

fn count(chain: Option<&Chain>, rule: &str) -> u32 {
    match chain {
        Some(Chain::Unordered(rules)) => rules.get(rule).copied().unwrap_or(0),
        _ => 0,
    }
}

fn additions(t: TableName, old: &Table, new: &Table, plan: &mut Plan) {
    let mut writes: Vec<(&String, &Vec<String>)> = new
        .chains
        .iter()
        .filter_map(|(name, chain)| match chain {
            Chain::Ordered(rules) if old.chains.get(name) != Some(chain) => Some((name, rules)),
            _ => None,
        })
        .collect();
    // Within a rank, in the order of the reversed names, which for
    // hash-named chains is unrelated to their sorted order: chains are
    // created in this order, and `iptables-save` (1.8.9, nf_tables) sorts
    // the chains it reads with an algorithm that turns quadratic when they
    // come already sorted (10 000 Services: tens of seconds instead of 2 s).
    writes.sort_by(|(a, _), (b, _)| {
        rank(a)
            .cmp(&rank(b))
            .then_with(|| a.bytes().rev().cmp(b.bytes().rev()))
    });
    for (chain, rules) in writes {
        plan.ops.push((
            t,
            Op::Write {
                chain: chain.clone(),
                rules: rules.clone(),
            },
        ));
    }
    let unordered = || {
        new.chains.iter().filter_map(|(name, chain)| match chain {
            Chain::Unordered(rules) => Some((name, rules)),
            Chain::Ordered(_) => None,
        })
    };
    for (name, _) in unordered() {
        if !is_builtin(name) && !old.chains.contains_key(name) {
            plan.ops.push((
                t,
                Op::Write {
                    chain: name.clone(),
                    rules: Vec::new(),
                },
            ));
        }
    }
    // orch's own unordered chains before the built-in hooks that jump to
    // them.
    let mut adds: Vec<(&String, &BTreeMap<String, u32>)> = unordered().collect();
    adds.sort_by_key(|(name, _)| is_builtin(name));
    for (name, rules) in adds {
        for (rule, n) in rules {
            for _ in count(old.chains.get(name), rule)..*n {
                plan.ops.push((
                    t,
                    Op::Add {
                        chain: name.clone(),
                        rule: rule.clone(),
                    },
                ));
            }
        }
    }
}

fn removals(t: TableName, old: &Table, new: &Table, plan: &mut Plan) {
    // Hooks first, so nothing enters orch's chains while they go.
    let mut dels: Vec<(&String, &BTreeMap<String, u32>)> = old
        .chains
        .iter()
        .filter_map(|(name, chain)| match chain {
            Chain::Unordered(rules) if is_builtin(name) || new.chains.contains_key(name) => {
                Some((name, rules))
            }
            _ => None,
        })
        .collect();
    dels.sort_by_key(|(name, _)| !is_builtin(name));
    for (name, rules) in dels {
        for (rule, n) in rules {
            for _ in count(new.chains.get(name), rule)..*n {
                plan.ops.push((
                    t,
                    Op::Del {
                        chain: name.clone(),
                        rule: rule.clone(),
                    },
                ));
            }
        }
    }
    let gone: Vec<&String> = old
        .chains
        .keys()
        .filter(|name| is_owned(name) && !new.chains.contains_key(*name))
        .collect();
    // Flushing every chain that goes first removes every jump between
    // them, so the deletions cannot fail on a reference whatever the
    // transaction boundaries.
    for chain in &gone {
        plan.ops.push((
            t,
            Op::Flush {
                chain: (*chain).clone(),
            },
        ));
    }
    for chain in gone {
        plan.ops.push((
            t,
            Op::Delete {
                chain: chain.clone(),
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        iptables::{
            chains::{sep_chain, svc_chain, SERVICES},
            render::{self, tests::sample},
        },
        model::Protocol,
    };

    #[test]
    fn identical_rulesets_need_nothing() {
        let ports = [
            sample(1, Protocol::Tcp, &[2, 3]),
            sample(2, Protocol::Udp, &[]),
        ];
        let rs = render::full(&ports);
        assert!(diff(&rs, &rs).is_empty());
    }

    #[test]
    fn first_sync_creates_everything_in_dependency_order() {
        let ports = [sample(1, Protocol::Tcp, &[2])];
        let text = diff(&Ruleset::default(), &render::full(&ports)).transactions(BUDGET);
        assert_eq!(text.len(), 1);
        let text = &text[0];
        let pos = |s: &str| {
            text.find(s)
                .unwrap_or_else(|| panic!("{s:?} missing from\n{text}"))
        };
        let svc = svc_chain(&ports[0].name, Protocol::Tcp);
        let sep = sep_chain(&ports[0].name, Protocol::Tcp, &ports[0].endpoints[0]);
        assert!(pos("*filter") < pos("*nat"));
        assert!(pos(&format!("-A {sep} ")) < pos(&format!("-A {svc} ")));
        assert!(pos(&format!("-A {svc} ")) < pos("-A ORCH-SERVICES -d 10.96.0.1/32"));
        assert!(pos("-A ORCH-SERVICES -d") < pos("-I PREROUTING"));
        assert!(!text.contains("-D ") && !text.contains("-X "));
    }

    #[test]
    fn one_changed_port_writes_only_its_chains() {
        let before = [
            sample(1, Protocol::Tcp, &[2, 3]),
            sample(2, Protocol::Tcp, &[4, 5, 6]),
        ];
        let mut after = before.clone();
        after[1].endpoints.remove(1); // drop 10.244.1.5
        let changed = &after[1];
        let plan = diff(
            &render::fragment([&before[1]]),
            &render::fragment([changed]),
        );
        let text = plan.transactions(BUDGET).join("");
        let svc = svc_chain(&changed.name, Protocol::Tcp);
        let sep =
            |last: usize| sep_chain(&before[1].name, Protocol::Tcp, &before[1].endpoints[last]);
        let expected = format!(
            "*nat\n\
             :{svc} - [0:0]\n\
             :{gone} - [0:0]\n\
             -A {svc} -m comment --comment \"default/web2:http\" -m statistic --mode random --probability 0.50000000000 -j {first}\n\
             -A {svc} -m comment --comment \"default/web2:http\" -j {last}\n\
             -X {gone}\n\
             COMMIT\n",
            gone = sep(1),
            first = sep(0),
            last = sep(2),
        );
        assert_eq!(text, expected);
        // The same change computed on the whole tables gives the same plan.
        assert_eq!(diff(&render::full(&before), &render::full(&after)), plan);
    }

    #[test]
    fn losing_the_last_endpoint_rejects_before_redirecting() {
        let before = sample(3, Protocol::Tcp, &[2]);
        let after = sample(3, Protocol::Tcp, &[]);
        let text = diff(&render::fragment([&before]), &render::fragment([&after]))
            .transactions(BUDGET)
            .join("");
        let svc = svc_chain(&before.name, Protocol::Tcp);
        let sep = sep_chain(&before.name, Protocol::Tcp, &before.endpoints[0]);
        let expected = format!(
            "*filter\n\
             -A ORCH-SERVICES -p tcp -m conntrack --ctorigdst 10.96.0.3 --ctorigdstport 80 -m comment --comment \"default/web3:http has no endpoints\" -j REJECT --reject-with icmp-port-unreachable\n\
             COMMIT\n\
             *nat\n\
             :{svc} - [0:0]\n\
             :{sep} - [0:0]\n\
             -A {svc} -m comment --comment \"default/web3:http has no endpoints\" -j ORCH-NO-ENDPOINTS\n\
             -X {sep}\n\
             COMMIT\n"
        );
        assert_eq!(text, expected);
        // And back: the REDIRECT goes before the REJECT, and ORCH-SERVICES
        // is not touched either way.
        let back = diff(&render::fragment([&after]), &render::fragment([&before]))
            .transactions(BUDGET)
            .join("");
        let svc_rule = back
            .find(&format!("-A {svc} "))
            .expect("service chain rewritten");
        let reject = back
            .find("-D ORCH-SERVICES -p tcp")
            .expect("REJECT removed");
        assert!(svc_rule < reject, "{back}");
        assert!(!back.contains("ORCH-SERVICES -d"), "{back}");
    }

    #[test]
    fn stale_chains_and_duplicate_hooks_are_removed() {
        let mut live = render::full([&sample(1, Protocol::Tcp, &[2])]);
        live.nat.push("ORCH-SVC-STALE", "-j ORCH-SEP-STALE".into());
        live.nat.push("ORCH-SEP-STALE", "-j RETURN".into());
        live.nat
            .insert(SERVICES, "-d 10.96.9.9/32 -j ORCH-SVC-STALE".into());
        live.nat.insert(
            "PREROUTING",
            "-m comment --comment \"orch service portals\" -j ORCH-SERVICES".into(),
        );
        let desired = render::full([&sample(1, Protocol::Tcp, &[2])]);
        let plan = diff(&live, &desired);
        let ops: Vec<&Op> = plan.ops.iter().map(|(_, op)| op).collect();
        assert_eq!(
            ops,
            [
                &Op::Del {
                    chain: "PREROUTING".into(),
                    rule: "-m comment --comment \"orch service portals\" -j ORCH-SERVICES".into()
                },
                &Op::Del {
                    chain: SERVICES.into(),
                    rule: "-d 10.96.9.9/32 -j ORCH-SVC-STALE".into()
                },
                &Op::Flush {
                    chain: "ORCH-SEP-STALE".into()
                },
                &Op::Flush {
                    chain: "ORCH-SVC-STALE".into()
                },
                &Op::Delete {
                    chain: "ORCH-SEP-STALE".into()
                },
                &Op::Delete {
                    chain: "ORCH-SVC-STALE".into()
                },
            ]
        );
    }

    #[test]
    fn large_plans_are_cut_into_transactions() {
        let ports: Vec<_> = (1..=200)
            .map(|i| {
                let mut p = sample(1, Protocol::Tcp, &[2, 3, 4]);
                p.frontend.ip = std::net::Ipv4Addr::new(10, 96, 1, i);
                p.name.service = format!("s{i}");
                p
            })
            .collect();
        let txns = diff(&Ruleset::default(), &render::full(&ports)).transactions(500);
        assert!(txns.len() > 4, "{} transactions", txns.len());
        for t in &txns {
            assert!(t.lines().count() < 520, "{} lines", t.lines().count());
            assert!(t.ends_with("COMMIT\n"));
        }
    }
}
