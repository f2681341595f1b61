//! What an [`Iptables`](super::Iptables) has programmed, by frontend, and
//! the checks that keep it writable: every port valid, and no two
//! frontends sharing a Service chain (named after port name and protocol).
use std::collections::{BTreeMap, HashMap};

use super::{chains::svc_chain, render::check};
use crate::{
    model::{Change, Frontend, ServicePort},
    ProxyError,
};

/// The programmed Service ports.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Frontend → its port.
    pub(crate) ports: BTreeMap<Frontend, ServicePort>,
    /// Service chain name → the frontend that uses it.
    owners: HashMap<String, Frontend>,
}

/// The effect of a batch of changes, not yet part of the state.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    /// Frontend → its new port, `None` when removed.
    pub(crate) ports: BTreeMap<Frontend, Option<ServicePort>>,
    /// Service chain name → its new user, `None` when freed.
    owners: BTreeMap<String, Option<Frontend>>,
}

fn chain_of(port: &ServicePort) -> String {
    svc_chain(&port.name, port.frontend.protocol)
}

fn conflict(port: &ServicePort, other: Frontend) -> ProxyError {
    ProxyError::InvalidPort {
        port: format!("{} ({})", port.frontend, port.name),
        reason: format!("{other} has the same port name and protocol"),
    }
}

impl State {
    /// A state holding exactly `ports`, which must be valid and distinct.
    pub(crate) fn from_ports(ports: &[ServicePort]) -> Result<Self, ProxyError> {
        let mut state = Self::default();
        for p in ports {
            check(p)?;
            if state.ports.contains_key(&p.frontend) {
                return Err(ProxyError::InvalidPort {
                    port: p.frontend.to_string(),
                    reason: "listed twice".into(),
                });
            }
            let chain = chain_of(p);
            if let Some(other) = state.owners.get(&chain) {
                return Err(conflict(p, *other));
            }
            state.owners.insert(chain, p.frontend);
            state.ports.insert(p.frontend, p.clone());
        }
        Ok(state)
    }

    /// Checks `changes`, applied in order, and returns their net effect.
    /// Nothing is changed when one of them is refused.
    pub(crate) fn stage(&self, changes: &[Change]) -> Result<Staged, ProxyError> {
        let mut st = Staged::default();
        for change in changes {
            let fe = change.frontend();
            let current = match st.ports.get(&fe) {
                Some(p) => p.as_ref(),
                None => self.ports.get(&fe),
            };
            let freed = current.map(chain_of);
            match change {
                Change::Upsert { port, .. } => {
                    check(port)?;
                    let chain = chain_of(port);
                    let owner = match st.owners.get(&chain) {
                        Some(o) => *o,
                        None => self.owners.get(&chain).copied(),
                    };
                    if let Some(other) = owner.filter(|o| *o != fe) {
                        return Err(conflict(port, other));
                    }
                    if let Some(old) = freed.filter(|c| *c != chain) {
                        st.owners.insert(old, None);
                    }
                    st.owners.insert(chain, Some(fe));
                    st.ports.insert(fe, Some(port.clone()));
                }
                Change::Remove { .. } => {
                    if let Some(old) = freed {
                        st.owners.insert(old, None);
                    }
                    st.ports.insert(fe, None);
                }
            }
        }
        Ok(st)
    }

    /// Makes `staged` part of the state.
    pub(crate) fn commit(&mut self, staged: Staged) {
        for (fe, port) in staged.ports {
            match port {
                Some(p) => self.ports.insert(fe, p),
                None => self.ports.remove(&fe),
            };
        }
        for (chain, owner) in staged.owners {
            match owner {
                Some(fe) => self.owners.insert(chain, fe),
                None => self.owners.remove(&chain),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{iptables::render::tests::sample, model::Protocol};

    fn upsert(port: ServicePort) -> Change {
        Change::Upsert {
            port,
            removed: Vec::new(),
        }
    }

    #[test]
    fn recreated_service_with_a_new_ip_is_accepted_in_one_batch() {
        let old = sample(1, Protocol::Tcp, &[2]);
        let mut moved = old.clone();
        moved.frontend.ip = std::net::Ipv4Addr::new(10, 96, 0, 9);
        let mut state = State::from_ports(std::slice::from_ref(&old)).expect("valid");
        // Upserting the same name at another VIP while the old one exists
        // is refused...
        assert!(state.stage(&[upsert(moved.clone())]).is_err());
        // ...but removing the old one first in the same batch is fine.
        let staged = state
            .stage(&[Change::Remove { port: old }, upsert(moved.clone())])
            .expect("remove then add");
        state.commit(staged);
        assert_eq!(state.ports.values().collect::<Vec<_>>(), [&moved]);
        assert_eq!(state.owners.len(), 1);
    }

    #[test]
    fn duplicate_frontends_are_refused() {
        let p = sample(1, Protocol::Tcp, &[2]);
        assert!(State::from_ports(&[p.clone(), p]).is_err());
    }
}
