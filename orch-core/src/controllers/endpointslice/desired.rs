//! What a Service's EndpointSlices should hold: one endpoint per selected
//! pod with an IP, grouped by the ports the pod resolves (a named target
//! port may mean different numbers on different pods).
use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
};

use k8s_openapi::{
    api::{
        core::v1::{ObjectReference, Service},
        discovery::v1::{Endpoint, EndpointConditions, EndpointPort},
    },
    apimachinery::pkg::util::intstr::IntOrString,
};
use kube::ResourceExt;
use serde_json::{Map, Value};

use super::pod;
use crate::apiserver::selector::LabelSelector;
use crate::controllers::slim::CachedPod;

/// One port of a slice, in a form that compares and sorts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortKey {
    /// Port name (empty when the Service port has none).
    pub name: String,
    /// TCP, UDP or SCTP.
    pub protocol: String,
    /// The port on the pod.
    pub port: i32,
    /// Application protocol, if given.
    pub app_protocol: Option<String>,
}

impl PortKey {
    /// The API form.
    pub fn to_endpoint_port(&self) -> EndpointPort {
        EndpointPort {
            name: Some(self.name.clone()),
            protocol: Some(self.protocol.clone()),
            port: Some(self.port),
            app_protocol: self.app_protocol.clone(),
        }
    }

    fn from_endpoint_port(p: &EndpointPort) -> Self {
        Self {
            name: p.name.clone().unwrap_or_default(),
            protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
            port: p.port.unwrap_or_default(),
            app_protocol: p.app_protocol.clone(),
        }
    }
}

/// The ports of a slice, sorted, so that order and defaulting do not count.
pub fn port_keys(ports: Option<&Vec<EndpointPort>>) -> Vec<PortKey> {
    let set: BTreeSet<PortKey> = ports
        .into_iter()
        .flatten()
        .map(PortKey::from_endpoint_port)
        .collect();
    set.into_iter().collect()
}

/// Identity of an endpoint across updates: its pod's uid (or its addresses).
pub fn endpoint_key(e: &Endpoint) -> String {
    e.target_ref
        .as_ref()
        .and_then(|r| r.uid.clone().or_else(|| r.name.clone()))
        .unwrap_or_else(|| e.addresses.join(","))
}

/// The endpoints a Service should publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// `IPv4` or `IPv6`, from the Service's first IP family.
    pub address_type: String,
    /// Endpoints grouped by their resolved ports, each group sorted by pod
    /// name.
    pub groups: BTreeMap<Vec<PortKey>, Vec<Endpoint>>,
}

impl Desired {
    /// Total number of endpoints.
    pub fn len(&self) -> usize {
        self.groups.values().map(Vec::len).sum()
    }

    /// Whether there are no endpoints at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The Service's selector, or `None` when the controller must not manage
/// its endpoints (no selector, or an ExternalName Service).
pub fn selector(svc: &Service) -> Option<LabelSelector> {
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() == Some("ExternalName") {
        return None;
    }
    let sel = spec.selector.as_ref().filter(|s| !s.is_empty())?;
    let map: Map<String, Value> = sel
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    LabelSelector::from_map(&map).ok()
}

/// Whether `svc`'s selector picks `p`.
pub fn selects(svc: &Service, p: &CachedPod) -> bool {
    svc.namespace() == p.namespace() && selector(svc).is_some_and(|s| s.matches(p.labels()))
}

/// Computes the endpoints of `svc` from `pods` (any pods; those not
/// selected are skipped).
pub fn desired<'a>(svc: &Service, pods: impl IntoIterator<Item = &'a CachedPod>) -> Desired {
    let spec = svc.spec.clone().unwrap_or_default();
    let v6 = spec
        .ip_families
        .as_ref()
        .and_then(|f| f.first())
        .is_some_and(|f| f == "IPv6");
    let mut out = Desired {
        address_type: if v6 { "IPv6" } else { "IPv4" }.into(),
        groups: BTreeMap::new(),
    };
    let Some(sel) = selector(svc) else {
        return out;
    };
    let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
    for p in pods {
        if p.namespace() != svc.namespace() || !sel.matches(p.labels()) || pod::is_finished(p) {
            continue;
        }
        let Some(ip) = pod_ip(p, v6) else { continue };
        let ports = resolved_ports(svc, p);
        let ep = endpoint(svc, p, ip, publish_not_ready);
        out.groups.entry(ports).or_default().push(ep);
    }
    for eps in out.groups.values_mut() {
        eps.sort_by(|a, b| target_name(a).cmp(target_name(b)));
    }
    out
}

fn target_name(e: &Endpoint) -> &str {
    e.target_ref
        .as_ref()
        .and_then(|r| r.name.as_deref())
        .unwrap_or_default()
}

/// The pod's IP of the wanted family.
fn pod_ip(p: &CachedPod, v6: bool) -> Option<String> {
    let status = p.status.as_ref()?;
    let listed = status.pod_ips.iter().flatten().map(|i| i.ip.clone());
    status
        .pod_ip
        .clone()
        .into_iter()
        .chain(listed)
        .find(|ip| ip.parse::<IpAddr>().is_ok_and(|a| a.is_ipv6() == v6))
}

/// The Service's ports as resolved on this pod; ports a pod cannot resolve
/// (an unknown port name) are left out, as Kubernetes does.
fn resolved_ports(svc: &Service, p: &CachedPod) -> Vec<PortKey> {
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    let set: BTreeSet<PortKey> = ports
        .iter()
        .filter_map(|sp| {
            let protocol = sp.protocol.clone().unwrap_or_else(|| "TCP".into());
            let target = match &sp.target_port {
                None | Some(IntOrString::Int(0)) => IntOrString::Int(sp.port),
                Some(t) => t.clone(),
            };
            Some(PortKey {
                name: sp.name.clone().unwrap_or_default(),
                port: pod::find_port(p, &target, &protocol)?,
                protocol,
                app_protocol: sp.app_protocol.clone(),
            })
        })
        .collect();
    set.into_iter().collect()
}

/// The endpoint for one pod.
fn endpoint(svc: &Service, p: &CachedPod, ip: String, publish_not_ready: bool) -> Endpoint {
    let serving = pod::is_ready(p);
    let terminating = pod::is_terminating(p);
    let ready = publish_not_ready || (serving && !terminating);
    let spec = p.spec.as_ref();
    let hostname = spec.and_then(|s| s.hostname.clone()).filter(|h| {
        !h.is_empty() && spec.and_then(|s| s.subdomain.as_deref()) == Some(svc.name_any().as_str())
    });
    Endpoint {
        addresses: vec![ip],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        hostname,
        node_name: pod::node_name(p).map(str::to_string),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            name: Some(p.name_any()),
            namespace: p.namespace(),
            uid: p.uid(),
            ..Default::default()
        }),
        ..Default::default()
    }
}
