//! The proxy's view of the cluster: Services and their EndpointSlices by
//! Service, and what was last programmed for each Service. A change to one
//! object recomputes only its Service and yields only that Service's
//! changes.
use std::collections::{BTreeSet, HashMap};

use k8s_openapi::api::{core::v1::Service, discovery::v1::EndpointSlice};

use crate::model::{self, Change, ServicePort};

/// Label naming a slice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// `namespace/name` of a Service.
pub type ServiceRef = (String, String);

/// Services, slices and the programmed ports.
#[derive(Debug, Default)]
pub struct Cache {
    services: HashMap<ServiceRef, Service>,
    slices: HashMap<ServiceRef, HashMap<String, EndpointSlice>>,
    programmed: HashMap<ServiceRef, Vec<ServicePort>>,
    /// Slice name → its Service, to find it again on deletion.
    slice_owner: HashMap<(String, String), ServiceRef>,
}

fn service_ref(svc: &Service) -> ServiceRef {
    (
        svc.metadata.namespace.clone().unwrap_or_default(),
        svc.metadata.name.clone().unwrap_or_default(),
    )
}

fn slice_owner(slice: &EndpointSlice) -> Option<ServiceRef> {
    let svc = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    Some((
        slice.metadata.namespace.clone().unwrap_or_default(),
        svc.clone(),
    ))
}

fn slice_key(slice: &EndpointSlice) -> (String, String) {
    (
        slice.metadata.namespace.clone().unwrap_or_default(),
        slice.metadata.name.clone().unwrap_or_default(),
    )
}

impl Cache {
    /// Records a Service; returns the Service to recompute.
    pub fn apply_service(&mut self, svc: Service) -> ServiceRef {
        let r = service_ref(&svc);
        self.services.insert(r.clone(), svc);
        r
    }

    /// Forgets a Service.
    pub fn delete_service(&mut self, svc: &Service) -> ServiceRef {
        let r = service_ref(svc);
        self.services.remove(&r);
        r
    }

    /// Records a slice; returns the Services to recompute (the old owner
    /// too, if its label changed).
    pub fn apply_slice(&mut self, slice: EndpointSlice) -> Vec<ServiceRef> {
        let key = slice_key(&slice);
        let mut touched = Vec::new();
        if let Some(old) = self.slice_owner.remove(&key) {
            if let Some(m) = self.slices.get_mut(&old) {
                m.remove(&key.1);
            }
            touched.push(old);
        }
        if let Some(owner) = slice_owner(&slice) {
            self.slice_owner.insert(key.clone(), owner.clone());
            self.slices
                .entry(owner.clone())
                .or_default()
                .insert(key.1, slice);
            if !touched.contains(&owner) {
                touched.push(owner);
            }
        }
        touched
    }

    /// Forgets a slice.
    pub fn delete_slice(&mut self, slice: &EndpointSlice) -> Vec<ServiceRef> {
        let key = slice_key(slice);
        let Some(owner) = self.slice_owner.remove(&key) else {
            return Vec::new();
        };
        if let Some(m) = self.slices.get_mut(&owner) {
            m.remove(&key.1);
            if m.is_empty() {
                self.slices.remove(&owner);
            }
        }
        vec![owner]
    }

    /// Replaces every Service (after a full list).
    pub fn replace_services(&mut self, all: Vec<Service>) {
        self.services = all.into_iter().map(|s| (service_ref(&s), s)).collect();
    }

    /// Replaces every slice (after a full list).
    pub fn replace_slices(&mut self, all: Vec<EndpointSlice>) {
        self.slices.clear();
        self.slice_owner.clear();
        for s in all {
            self.apply_slice(s);
        }
    }

    /// The ports `r` should have now.
    fn desired(&self, r: &ServiceRef) -> Vec<ServicePort> {
        match self.services.get(r) {
            Some(svc) => {
                let slices: Vec<&EndpointSlice> = self
                    .slices
                    .get(r)
                    .map(|m| m.values().collect())
                    .unwrap_or_default();
                model::service_ports(svc, slices.iter().copied())
            }
            None => Vec::new(),
        }
    }

    /// Recomputes the Services in `touched` and returns the changes,
    /// recording them as programmed. Call [`Cache::rollback`] with the
    /// same refs if programming fails.
    pub fn changes(&mut self, touched: &BTreeSet<ServiceRef>) -> Vec<Change> {
        let mut out = Vec::new();
        for r in touched {
            let new = self.desired(r);
            let old = self.programmed.get(r).map(Vec::as_slice).unwrap_or(&[]);
            out.extend(model::diff(old, &new));
            if new.is_empty() {
                self.programmed.remove(r);
            } else {
                self.programmed.insert(r.clone(), new);
            }
        }
        out
    }

    /// Recomputes everything: the whole desired table, recorded as
    /// programmed.
    pub fn full_table(&mut self) -> Vec<ServicePort> {
        let refs: Vec<ServiceRef> = self.services.keys().cloned().collect();
        self.programmed.clear();
        let mut all = Vec::new();
        for r in refs {
            let ports = self.desired(&r);
            if !ports.is_empty() {
                all.extend(ports.iter().cloned());
                self.programmed.insert(r, ports);
            }
        }
        all.sort_by_key(|p| p.frontend);
        all
    }

    /// The slices of `r` (for the programming-latency trigger time).
    pub fn slices_of(&self, r: &ServiceRef) -> impl Iterator<Item = &EndpointSlice> {
        self.slices.get(r).into_iter().flat_map(|m| m.values())
    }

    /// How many Service ports and distinct backends are programmed.
    pub fn counts(&self) -> (usize, usize) {
        let ports = self.programmed.values().map(Vec::len).sum();
        let backends: BTreeSet<_> = self
            .programmed
            .values()
            .flatten()
            .flat_map(|p| p.endpoints.iter())
            .collect();
        (ports, backends.len())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn svc(name: &str, ip: &str) -> Service {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default"},
            "spec": {"clusterIP": ip, "ports": [{"port": 80}]}}))
        .unwrap()
    }

    fn slice(name: &str, svc: &str, ips: &[&str]) -> EndpointSlice {
        let eps: Vec<_> = ips.iter().map(|ip| json!({"addresses": [ip]})).collect();
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default",
            "labels": {SERVICE_NAME_LABEL: svc}}, "addressType": "IPv4",
            "ports": [{"port": 8080}], "endpoints": eps}))
        .unwrap()
    }

    #[test]
    fn only_the_touched_service_changes() {
        let mut c = Cache::default();
        let a = c.apply_service(svc("a", "10.96.0.10"));
        let b = c.apply_service(svc("b", "10.96.0.11"));
        let all: BTreeSet<_> = [a.clone(), b.clone()].into();
        assert_eq!(c.changes(&all).len(), 2);
        let touched: BTreeSet<_> = c
            .apply_slice(slice("a-1", "a", &["10.244.1.2"]))
            .into_iter()
            .collect();
        assert_eq!(touched, [a.clone()].into());
        let ch = c.changes(&touched);
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].frontend().ip.to_string(), "10.96.0.10");
        // Re-applying the same slice changes nothing.
        let touched: BTreeSet<_> = c
            .apply_slice(slice("a-1", "a", &["10.244.1.2"]))
            .into_iter()
            .collect();
        assert!(c.changes(&touched).is_empty());
        // Deleting the Service removes its port.
        let r = c.delete_service(&svc("a", "10.96.0.10"));
        let ch = c.changes(&[r].into());
        assert!(matches!(&ch[..], [Change::Remove { .. }]));
        assert_eq!(c.counts().0, 1);
    }
}
