//! Compares the previous and the new ports of one Service and yields only
//! the changes.
use std::collections::BTreeMap;

use super::{Change, Frontend, ServicePort};

/// The changes that turn `old` into `new` (both the ports of one Service).
/// Unchanged ports yield nothing.
pub fn diff(old: &[ServicePort], new: &[ServicePort]) -> Vec<Change> {
    let before: BTreeMap<Frontend, &ServicePort> = old.iter().map(|p| (p.frontend, p)).collect();
    let after: BTreeMap<Frontend, &ServicePort> = new.iter().map(|p| (p.frontend, p)).collect();
    let mut out = Vec::new();
    for (fe, port) in &before {
        if !after.contains_key(fe) {
            out.push(Change::Remove {
                port: (*port).clone(),
            });
        }
    }
    for (fe, port) in &after {
        match before.get(fe) {
            Some(prev) if *prev == *port => {}
            prev => {
                let removed = prev
                    .map(|p| {
                        p.endpoints
                            .iter()
                            .filter(|e| port.endpoints.binary_search(e).is_err())
                            .copied()
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Change::Upsert {
                    port: (*port).clone(),
                    removed,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::model::{Endpoint, PortName, Protocol};

    fn port(last: u8, eps: &[u8]) -> ServicePort {
        ServicePort {
            frontend: Frontend {
                ip: Ipv4Addr::new(10, 96, 0, last),
                port: 80,
                protocol: Protocol::Tcp,
            },
            name: PortName::default(),
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
    fn unchanged_ports_yield_nothing() {
        let a = vec![port(1, &[2, 3])];
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn added_removed_and_changed_ports() {
        let old = vec![port(1, &[2, 3]), port(2, &[4])];
        let new = vec![port(1, &[3, 5]), port(3, &[])];
        let changes = diff(&old, &new);
        assert_eq!(changes.len(), 3);
        assert!(
            matches!(&changes[0], Change::Remove { port } if port.frontend.ip.octets()[3] == 2)
        );
        match &changes[1] {
            Change::Upsert { port, removed } => {
                assert_eq!(port.endpoints.len(), 2);
                assert_eq!(
                    removed,
                    &[Endpoint {
                        ip: Ipv4Addr::new(10, 244, 1, 2),
                        port: 8080
                    }]
                );
            }
            other => panic!("expected an upsert, got {other:?}"),
        }
        assert!(
            matches!(&changes[2], Change::Upsert { port, removed } if port.endpoints.is_empty() && removed.is_empty())
        );
    }
}
