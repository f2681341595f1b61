//! iptables mode: kube-proxy–style nat chains, the fallback data path when
//! eBPF is not available (or when forced).
//!
//! Chains (all owned by orch, all named `ORCH-…`):
//! - nat `PREROUTING` and `OUTPUT` jump to `ORCH-SERVICES`, which has one
//!   rule per Service port matching VIP, protocol and port, jumping to
//!   `ORCH-SVC-<hash of port name and protocol>`; that chain picks one
//!   `ORCH-SEP-<hash>` per endpoint with `statistic --mode random`
//!   (probability 1/n, 1/(n-1), …, the last one unconditional); each
//!   `ORCH-SEP-…` marks hairpin traffic (source is the endpoint itself) with
//!   `ORCH-MARK-MASQ` (bit 0x4000) and DNATs to the endpoint. Comments carry
//!   the port name, so [`Dataplane::dump`] reads the table back.
//! - nat `POSTROUTING` jumps to `ORCH-POSTROUTING`, which masquerades
//!   marked packets: a pod reaches itself through its Service.
//! - The Service chain of a port without endpoints jumps to
//!   `ORCH-NO-ENDPOINTS`, which REDIRECTs the packet to the node itself,
//!   where filter `ORCH-SERVICES` (from `INPUT`, `FORWARD` and `OUTPUT`, new
//!   connections only) REJECTs it by its original destination with ICMP
//!   port unreachable: the client gets ECONNREFUSED at once. Without the
//!   REDIRECT a packet still addressed to the VIP would die at the node's
//!   `unreachable` route for the service CIDR before any filter hook.
//!
//! Every command (`iptables-restore`, `iptables-save`, `conntrack`) runs in
//! the node's network namespace. Rules are written with
//! `iptables-restore --noflush`, which touches only the chains and rules
//! its input names: [`Dataplane::apply`] writes the chains of the changed
//! Service ports and adds or deletes just their rules in `ORCH-SERVICES`;
//! [`Dataplane::resync`] reads the live rules back and rewrites whatever
//! differs from the whole table (missing, changed or stale chains and
//! rules), so a restart or drift converges without disturbing what is
//! right. UDP conntrack entries of endpoints that left are deleted.
//!
//! The public surface is [`Iptables`] (its constructor and the
//! [`Dataplane`] methods) and [`cleanup_netns`].
mod chains;
mod cleanup;
mod conntrack;
mod dump;
mod plan;
mod render;
mod restore;
mod ruleset;
mod state;
mod tool;

use std::{
    collections::BTreeMap,
    net::Ipv4Addr,
    path::{Path, PathBuf},
};

pub use cleanup::cleanup_netns;

use self::{
    ruleset::Ruleset,
    state::{Staged, State},
    tool::Tools,
};
use crate::{
    dataplane::{Dataplane, Mode},
    model::{Change, Endpoint, Protocol, ServicePort},
    ProxyError,
};

/// The iptables data path of one node.
#[derive(Debug)]
pub struct Iptables {
    netns: Option<PathBuf>,
    tools: Tools,
    /// The table the rules must implement; `None` until the first resync
    /// or apply.
    state: Option<State>,
    /// Whether the live rules are known to match `state`. When a write
    /// fails half-way they may not, and the next call rewrites from the
    /// live rules.
    in_sync: bool,
}

/// UDP conntrack entries to delete: to `vip:port`, answered by `endpoint`
/// (all of them when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct StaleFlows {
    vip: Ipv4Addr,
    port: u16,
    endpoint: Option<Endpoint>,
}

impl Iptables {
    /// Prepares the iptables data path for the network namespace at
    /// `netns` (the current one when `None`). Checks that the tools are
    /// installed and that iptables works there; writes nothing.
    pub fn new(netns: Option<PathBuf>) -> Result<Self, ProxyError> {
        let tools = Tools::locate(true)?;
        restore::probe(&tools, netns.as_deref())?;
        warn_if_bridged_traffic_skips_iptables(netns.as_deref());
        Ok(Self {
            netns,
            tools,
            state: None,
            in_sync: false,
        })
    }

    fn netns(&self) -> Option<&Path> {
        self.netns.as_deref()
    }

    /// Makes the live rules (read now unless given) match the state;
    /// returns the UDP flows that the rewrite left pointing at endpoints
    /// that are gone.
    fn converge(&self, live: Option<Ruleset>) -> Result<Vec<StaleFlows>, ProxyError> {
        let live = match live {
            Some(live) => live,
            None => restore::read_live(&self.tools, self.netns())?,
        };
        let empty = BTreeMap::new();
        let ports = self.state.as_ref().map_or(&empty, |s| &s.ports);
        let plan = plan::diff(&live, &render::full(ports.values()));
        if !plan.is_empty() {
            let runs = restore::execute(&self.tools, self.netns(), &plan)?;
            tracing::info!(
                steps = plan.ops.len(),
                runs,
                "rewrote iptables rules that differed"
            );
        }
        let mut stale = Vec::new();
        for old in dump::service_ports(&live.nat) {
            stale_flows(Some(&old), ports.get(&old.frontend), &[], &mut stale);
        }
        Ok(stale)
    }

    fn flush(&self, stale: &[StaleFlows]) -> Result<(), ProxyError> {
        let mut first = None;
        for s in stale {
            if let Err(e) =
                conntrack::flush_udp(&self.tools, self.netns(), s.vip, s.port, s.endpoint)
            {
                tracing::warn!(error = %e, "deleting stale UDP conntrack entries failed");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// Pods on one bridge reach each other at layer 2: the reply of an endpoint
/// to a client on the same bridge is only un-DNATed (its source turned back
/// into the VIP) when bridged traffic passes through iptables
/// (`br_netfilter`, on by default in every namespace where it is built in).
fn warn_if_bridged_traffic_skips_iptables(netns: Option<&Path>) {
    const KEY: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";
    let read = || std::fs::read_to_string(KEY);
    let value = match netns {
        None => read(),
        Some(ns) => crate::sys::in_netns(ns, read),
    };
    if !matches!(value.as_deref().map(str::trim), Ok("1")) {
        tracing::warn!(
            sysctl = KEY,
            value = ?value,
            "bridged traffic skips iptables here: Services whose client and endpoint share a \
             bridge will not get replies from the VIP"
        );
    }
}

/// The UDP flows to forget when a port goes from `old` to `new`:
/// - removed port: all of its flows;
/// - port that gains its first endpoints: all flows to the VIP (kube-proxy
///   does the same for entries made while it had none);
/// - otherwise: the flows answered by each endpoint that left (those
///   missing from `new`, and `removed`).
fn stale_flows(
    old: Option<&ServicePort>,
    new: Option<&ServicePort>,
    removed: &[Endpoint],
    out: &mut Vec<StaleFlows>,
) {
    let Some(fe) = new.or(old).map(|p| p.frontend) else {
        return;
    };
    if fe.protocol != Protocol::Udp {
        return;
    }
    let all = StaleFlows {
        vip: fe.ip,
        port: fe.port,
        endpoint: None,
    };
    let had = old.map_or(&[][..], |p| &p.endpoints[..]);
    match new {
        None if !had.is_empty() => out.push(all),
        None => {}
        Some(new) if had.is_empty() && old.is_some() && !new.endpoints.is_empty() => out.push(all),
        Some(new) => {
            let mut gone: Vec<Endpoint> = had
                .iter()
                .chain(removed)
                .filter(|e| new.endpoints.binary_search(e).is_err())
                .copied()
                .collect();
            gone.sort();
            gone.dedup();
            out.extend(gone.into_iter().map(|e| StaleFlows {
                endpoint: Some(e),
                ..all
            }));
        }
    }
}

impl Dataplane for Iptables {
    fn mode(&self) -> Mode {
        Mode::Iptables
    }

    /// Writes the chains of the changed ports and their rules in
    /// `ORCH-SERVICES`, in one `iptables-restore` transaction for a small
    /// batch. Called before any resync, it first adopts the live rules (so
    /// it changes only what `changes` name). If the write fails (the live
    /// rules drifted), it falls back to a resync of the whole table.
    fn apply(&mut self, changes: &[Change]) -> Result<(), ProxyError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut live = None;
        if self.state.is_none() {
            let rules = restore::read_live(&self.tools, self.netns())?;
            self.state = Some(adopt(dump::service_ports(&rules.nat)));
            self.in_sync = false;
            live = Some(rules);
        }
        let state = self.state.get_or_insert_with(State::default);
        let staged: Staged = state.stage(changes)?;
        let old = render::fragment(staged.ports.keys().filter_map(|fe| state.ports.get(fe)));
        let new = render::fragment(staged.ports.values().flatten());
        let plan = plan::diff(&old, &new);
        let mut stale = Vec::new();
        for change in changes {
            if let Change::Upsert { port, removed } = change {
                let old = state.ports.get(&port.frontend);
                stale_flows(old, Some(port), removed, &mut stale);
            }
        }
        for (fe, port) in &staged.ports {
            if port.is_none() {
                stale_flows(state.ports.get(fe), None, &[], &mut stale);
            }
        }
        state.commit(staged);
        let written = self.in_sync
            && restore::execute(&self.tools, self.netns(), &plan)
                .inspect_err(|e| {
                    tracing::warn!(error = %e, "incremental iptables update failed; rewriting from the live rules");
                })
                .is_ok();
        if !written {
            self.in_sync = false;
            stale.extend(self.converge(live)?);
            self.in_sync = true;
        }
        stale.sort();
        stale.dedup();
        self.flush(&stale)
    }

    /// Reads the live rules and rewrites whatever differs from `table`:
    /// chains missing or changed, rules missing or extra in
    /// `ORCH-SERVICES` and the built-in chains, and `ORCH-` chains that
    /// should not exist.
    fn resync(&mut self, table: &[ServicePort]) -> Result<(), ProxyError> {
        self.state = Some(State::from_ports(table)?);
        self.in_sync = false;
        let stale = self.converge(None)?;
        self.in_sync = true;
        self.flush(&stale)
    }

    fn dump(&mut self) -> Result<Vec<ServicePort>, ProxyError> {
        let live = restore::read_live(&self.tools, self.netns())?;
        Ok(dump::service_ports(&live.nat))
    }

    fn cleanup(self: Box<Self>) -> Result<(), ProxyError> {
        cleanup::remove_all(&self.tools, self.netns())
    }
}

/// A state from what a previous run left: the valid ports, first of each
/// clashing pair.
fn adopt(ports: Vec<ServicePort>) -> State {
    let mut state = State::default();
    for p in ports {
        let change = Change::Upsert {
            port: p,
            removed: Vec::new(),
        };
        if let Ok(staged) = state.stage(std::slice::from_ref(&change)) {
            state.commit(staged);
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iptables::render::tests::sample;

    fn ep(last: u8) -> Endpoint {
        Endpoint {
            ip: Ipv4Addr::new(10, 244, 1, last),
            port: 8080,
        }
    }

    fn flows(old: Option<&ServicePort>, new: Option<&ServicePort>) -> Vec<Option<Endpoint>> {
        let mut out = Vec::new();
        stale_flows(old, new, &[], &mut out);
        out.into_iter().map(|s| s.endpoint).collect()
    }

    #[test]
    fn udp_flows_of_removed_endpoints_are_stale() {
        let a = sample(1, Protocol::Udp, &[2, 3]);
        let b = sample(1, Protocol::Udp, &[3]);
        let none = sample(1, Protocol::Udp, &[]);
        assert_eq!(flows(Some(&a), Some(&b)), [Some(ep(2))]);
        assert_eq!(flows(Some(&a), None), [None]);
        assert_eq!(flows(Some(&none), Some(&a)), [None]);
        assert!(flows(None, Some(&a)).is_empty());
        assert!(flows(Some(&a), Some(&a)).is_empty());
        let tcp = sample(1, Protocol::Tcp, &[2]);
        assert!(flows(Some(&tcp), None).is_empty());
    }
}
