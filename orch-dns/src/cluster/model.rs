//! What DNS needs of a Service and of an EndpointSlice, and nothing more:
//! kept instead of the full objects, so 10k Services stay small.
use std::net::IpAddr;

use k8s_openapi::api::{core::v1::Service, discovery::v1::EndpointSlice};

/// The label linking an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// How a Service is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceKind {
    /// Through its cluster IPs (one per family).
    ClusterIp(Vec<IpAddr>),
    /// Directly through its endpoints (`clusterIP: None`).
    Headless,
    /// Through another name (`type: ExternalName`).
    ExternalName(String),
    /// No address yet: no records.
    Pending,
}

/// A port with its protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortModel {
    /// The port name; only named ports get SRV records.
    pub name: Option<String>,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// The number.
    pub port: u16,
}

/// A Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceModel {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// How it is reached.
    pub kind: ServiceKind,
    /// Its ports.
    pub ports: Vec<PortModel>,
    /// `publishNotReadyAddresses`: every endpoint counts as ready.
    pub publish_not_ready: bool,
}

/// One endpoint of a slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointModel {
    /// Its addresses (one in practice).
    pub addresses: Vec<IpAddr>,
    /// Its `hostname`, if set.
    pub hostname: Option<String>,
    /// `conditions.ready` (unset counts as ready).
    pub ready: bool,
}

/// An EndpointSlice of a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceModel {
    /// The Service it belongs to (its `kubernetes.io/service-name` label).
    pub service: String,
    /// Its endpoints (FQDN slices have none).
    pub endpoints: Vec<EndpointModel>,
    /// Its ports (the endpoints' port numbers).
    pub ports: Vec<PortModel>,
}

fn protocol(p: Option<&String>) -> String {
    p.map_or_else(|| "tcp".to_string(), |p| p.to_ascii_lowercase())
}

fn port_number(v: i32, what: &str) -> Result<u16, String> {
    u16::try_from(v).map_err(|_| format!("{what}: port {v} is out of range"))
}

impl ServiceModel {
    /// The model of a Service; an error names what is wrong with it.
    pub fn from_service(s: &Service) -> Result<Self, String> {
        let namespace = s
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = s
            .metadata
            .name
            .clone()
            .ok_or_else(|| format!("a Service in {namespace} has no metadata.name"))?;
        let what = format!("Service {namespace}/{name}");
        let spec = s.spec.clone().unwrap_or_default();
        let kind = if spec.type_.as_deref() == Some("ExternalName") {
            match spec.external_name.as_deref().map(str::trim) {
                Some(n) if !n.is_empty() => ServiceKind::ExternalName(n.to_string()),
                _ => ServiceKind::Pending,
            }
        } else if spec.cluster_ip.as_deref() == Some("None") {
            ServiceKind::Headless
        } else {
            let raw: Vec<String> = match &spec.cluster_ips {
                Some(ips) if !ips.is_empty() => ips.clone(),
                _ => spec.cluster_ip.clone().into_iter().collect(),
            };
            let mut ips = Vec::new();
            for ip in raw.iter().filter(|ip| !ip.is_empty()) {
                ips.push(ip.parse::<IpAddr>().map_err(|_| {
                    format!("{what}: spec.clusterIPs: {ip:?} is not an IP address")
                })?);
            }
            if ips.is_empty() {
                ServiceKind::Pending
            } else {
                ServiceKind::ClusterIp(ips)
            }
        };
        let ports = spec
            .ports
            .iter()
            .flatten()
            .map(|p| {
                Ok(PortModel {
                    name: p.name.clone().filter(|n| !n.is_empty()),
                    protocol: protocol(p.protocol.as_ref()),
                    port: port_number(p.port, &what)?,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            namespace,
            name,
            kind,
            ports,
            publish_not_ready: spec.publish_not_ready_addresses.unwrap_or(false),
        })
    }
}

impl SliceModel {
    /// The model of an EndpointSlice; `Ok(None)` for slices DNS ignores
    /// (no Service label, FQDN addresses).
    pub fn from_slice(s: &EndpointSlice) -> Result<Option<Self>, String> {
        let Some(service) = s
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
            .filter(|n| !n.is_empty())
        else {
            return Ok(None);
        };
        if !matches!(s.address_type.as_str(), "IPv4" | "IPv6") {
            return Ok(None);
        }
        let what = format!(
            "EndpointSlice {}/{}",
            s.metadata.namespace.as_deref().unwrap_or(""),
            s.metadata.name.as_deref().unwrap_or("")
        );
        let mut endpoints = Vec::with_capacity(s.endpoints.len());
        for e in &s.endpoints {
            let mut addresses = Vec::with_capacity(e.addresses.len());
            for a in &e.addresses {
                addresses.push(a.parse::<IpAddr>().map_err(|_| {
                    format!("{what}: endpoints[].addresses: {a:?} is not an IP address")
                })?);
            }
            endpoints.push(EndpointModel {
                addresses,
                hostname: e.hostname.clone().filter(|h| !h.is_empty()),
                ready: e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true),
            });
        }
        let ports = s
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                let port = p.port?;
                Some(port_number(port, &what).map(|port| PortModel {
                    name: p.name.clone().filter(|n| !n.is_empty()),
                    protocol: protocol(p.protocol.as_ref()),
                    port,
                }))
            })
            .collect::<Result<_, String>>()?;
        Ok(Some(Self {
            service: service.clone(),
            endpoints,
            ports,
        }))
    }
}
