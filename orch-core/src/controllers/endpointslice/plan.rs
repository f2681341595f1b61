//! Turning a Service's existing slices into the wanted ones with as few
//! writes as possible, as Kubernetes' reconciler does: an endpoint stays in
//! the slice that holds it, new endpoints first fill slices that are being
//! written anyway, then slices with room, then new slices; a slice whose
//! content is already right is not written at all.
use std::collections::{BTreeMap, HashMap};

use k8s_openapi::{
    api::{
        core::v1::Service,
        discovery::v1::{Endpoint, EndpointSlice},
    },
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kube::ResourceExt;

use super::desired::{endpoint_key, port_keys, Desired, PortKey};

/// At most this many endpoints go in one slice.
pub const MAX_ENDPOINTS: usize = 100;
/// Label naming the Service a slice belongs to.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// Label naming the controller that manages a slice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// Our value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";

/// The writes that bring a Service's slices to the wanted state.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Plan {
    /// New slices (named by `generateName`).
    pub create: Vec<EndpointSlice>,
    /// Existing slices with new content (their resourceVersion is kept, so
    /// the write fails on a race).
    pub update: Vec<EndpointSlice>,
    /// Slices to delete.
    pub delete: Vec<EndpointSlice>,
}

impl Plan {
    /// Whether nothing needs writing.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// Whether `s` is controlled by this very Service (same uid).
pub fn is_owned_by(s: &EndpointSlice, svc: &Service) -> bool {
    s.owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && Some(&o.uid) == svc.metadata.uid.as_ref())
}

/// What every slice of the Service carries besides its endpoints.
struct Template {
    namespace: Option<String>,
    prefix: String,
    labels: BTreeMap<String, String>,
    owner: Vec<OwnerReference>,
    address_type: String,
}

impl Template {
    fn new(svc: &Service, address_type: String) -> Self {
        let name = svc.name_any();
        let mut labels = svc.labels().clone();
        labels.insert(SERVICE_NAME_LABEL.into(), name.clone());
        labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
        if svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None") {
            labels.insert("service.kubernetes.io/headless".into(), String::new());
        }
        let owner = OwnerReference {
            api_version: "v1".into(),
            kind: "Service".into(),
            name: name.clone(),
            uid: svc.metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        // Generated names add 5 characters; names stay within 63.
        let prefix: String = format!("{name}-").chars().take(58).collect();
        Self {
            namespace: svc.namespace(),
            prefix,
            labels,
            owner: vec![owner],
            address_type,
        }
    }

    fn needs_write(&self, s: &EndpointSlice, ports: &[PortKey], eps: &[Endpoint]) -> bool {
        s.endpoints != eps
            || port_keys(s.ports.as_ref()) != ports
            || s.address_type != self.address_type
            || s.metadata.labels.as_ref() != Some(&self.labels)
            || s.metadata.owner_references.as_ref() != Some(&self.owner)
    }

    fn apply(&self, mut s: EndpointSlice, ports: &[PortKey], eps: Vec<Endpoint>) -> EndpointSlice {
        if port_keys(s.ports.as_ref()) != ports {
            s.ports = api_ports(ports);
        }
        s.endpoints = eps;
        s.address_type = self.address_type.clone();
        s.metadata.labels = Some(self.labels.clone());
        s.metadata.owner_references = Some(self.owner.clone());
        s
    }

    fn new_slice(&self, ports: &[PortKey], eps: Vec<Endpoint>) -> EndpointSlice {
        EndpointSlice {
            metadata: ObjectMeta {
                generate_name: Some(self.prefix.clone()),
                namespace: self.namespace.clone(),
                labels: Some(self.labels.clone()),
                owner_references: Some(self.owner.clone()),
                ..Default::default()
            },
            address_type: self.address_type.clone(),
            endpoints: eps,
            ports: api_ports(ports),
        }
    }
}

fn api_ports(ports: &[PortKey]) -> Option<Vec<k8s_openapi::api::discovery::v1::EndpointPort>> {
    (!ports.is_empty()).then(|| ports.iter().map(PortKey::to_endpoint_port).collect())
}

/// Plans the writes for `svc` given what it should publish and the slices
/// it has (those labelled with its name and managed by us).
pub fn plan(svc: &Service, desired: Desired, existing: Vec<EndpointSlice>) -> Plan {
    let t = Template::new(svc, desired.address_type.clone());
    let mut plan = Plan::default();
    let (mut owned, stale): (Vec<_>, Vec<_>) =
        existing.into_iter().partition(|s| is_owned_by(s, svc));
    plan.delete.extend(stale);
    // Keep empty slices first (placeholder reuse), then by name: stable.
    owned.sort_by(|a, b| {
        (!a.endpoints.is_empty(), a.name_any()).cmp(&(!b.endpoints.is_empty(), b.name_any()))
    });
    if desired.is_empty() {
        placeholder(&t, owned, &mut plan);
        return plan;
    }
    let mut by_group: BTreeMap<Vec<PortKey>, Vec<EndpointSlice>> = BTreeMap::new();
    let mut spare = Vec::new();
    for s in owned {
        let key = port_keys(s.ports.as_ref());
        if s.address_type != desired.address_type {
            plan.delete.push(s);
        } else if desired.groups.contains_key(&key) {
            by_group.entry(key).or_default().push(s);
        } else {
            spare.push(s);
        }
    }
    for (ports, eps) in desired.groups {
        let slices = by_group.remove(&ports).unwrap_or_default();
        plan_group(&t, &ports, eps, slices, &mut plan);
    }
    // Slices with ports no longer wanted (a placeholder, say) take the
    // place of new ones rather than being deleted and replaced.
    let mut spare = spare.into_iter().rev();
    for new in std::mem::take(&mut plan.create) {
        match spare.next() {
            Some(old) => {
                plan.update
                    .push(t.apply(old, &port_keys(new.ports.as_ref()), new.endpoints))
            }
            None => plan.create.push(new),
        }
    }
    plan.delete.extend(spare);
    plan
}

/// A Service without endpoints keeps exactly one empty slice, so that
/// consumers can tell "no endpoints" from "not processed yet".
fn placeholder(t: &Template, owned: Vec<EndpointSlice>, plan: &mut Plan) {
    let mut owned = owned.into_iter();
    match owned.next() {
        Some(first) if t.needs_write(&first, &[], &[]) => {
            plan.update.push(t.apply(first, &[], Vec::new()))
        }
        Some(_) => {}
        None => plan.create.push(t.new_slice(&[], Vec::new())),
    }
    plan.delete.extend(owned);
}

fn plan_group(
    t: &Template,
    ports: &[PortKey],
    eps: Vec<Endpoint>,
    slices: Vec<EndpointSlice>,
    plan: &mut Plan,
) {
    let index: HashMap<String, usize> = eps
        .iter()
        .enumerate()
        .map(|(i, e)| (endpoint_key(e), i))
        .collect();
    let mut placed = vec![false; eps.len()];
    let mut work: Vec<(EndpointSlice, Vec<Endpoint>)> = Vec::with_capacity(slices.len());
    for s in slices {
        let mut kept = Vec::new();
        for e in &s.endpoints {
            match index.get(&endpoint_key(e)) {
                Some(&i) if !placed[i] && kept.len() < MAX_ENDPOINTS => {
                    placed[i] = true;
                    kept.push(eps[i].clone());
                }
                _ => {}
            }
        }
        work.push((s, kept));
    }
    let mut remaining = eps
        .into_iter()
        .zip(placed)
        .filter(|(_, p)| !p)
        .map(|(e, _)| e);
    // Slices written anyway take new endpoints first.
    let mut order: Vec<usize> = (0..work.len()).collect();
    order.sort_by_key(|&i| !t.needs_write(&work[i].0, ports, &work[i].1));
    for i in order {
        let room = MAX_ENDPOINTS.saturating_sub(work[i].1.len());
        work[i].1.extend(remaining.by_ref().take(room));
    }
    for (orig, kept) in work {
        if kept.is_empty() {
            plan.delete.push(orig);
        } else if t.needs_write(&orig, ports, &kept) {
            plan.update.push(t.apply(orig, ports, kept));
        }
    }
    let rest: Vec<Endpoint> = remaining.collect();
    for chunk in rest.chunks(MAX_ENDPOINTS) {
        plan.create.push(t.new_slice(ports, chunk.to_vec()));
    }
}
