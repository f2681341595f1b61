//! The service table a proxy programs: what each Service port (VIP, port,
//! protocol) balances to. Built from Services and EndpointSlices by
//! [`build`], compared by [`diff`], and handed to a data path as
//! [`Change`]s, so programming is proportional to what changed.
pub mod build;
pub mod diff;

use std::{fmt, net::Ipv4Addr};

pub use build::service_ports;
pub use diff::diff;

/// Transport protocol of a Service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// The Kubernetes spelling (`TCP`, `UDP`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
        }
    }

    /// The lower-case spelling iptables uses (`tcp`, `udp`).
    pub fn lower(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }

    /// Parses the Kubernetes spelling; `None` for protocols the proxy does
    /// not balance (SCTP).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "TCP" => Some(Self::Tcp),
            "UDP" => Some(Self::Udp),
            _ => None,
        }
    }
}

/// A Service's virtual address: ClusterIP, port and protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Frontend {
    /// The ClusterIP.
    pub ip: Ipv4Addr,
    /// The Service port.
    pub port: u16,
    /// The protocol.
    pub protocol: Protocol,
}

impl fmt::Display for Frontend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.ip, self.port, self.protocol.as_str())
    }
}

/// One backend of a Service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// The pod (or other) address.
    pub ip: Ipv4Addr,
    /// The target port on that address.
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.ip, self.port)
    }
}

/// Which Service a frontend belongs to: `namespace/name:port-name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PortName {
    /// Namespace of the Service.
    pub namespace: String,
    /// Name of the Service.
    pub service: String,
    /// Name of the port (empty for a single unnamed port).
    pub port: String,
}

impl fmt::Display for PortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.service)?;
        if !self.port.is_empty() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// A Service port with the backends it balances to right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// Where clients connect.
    pub frontend: Frontend,
    /// Which Service port this is.
    pub name: PortName,
    /// The backends, sorted and without duplicates. Empty means clients
    /// are refused.
    pub endpoints: Vec<Endpoint>,
}

/// One step of programming a data path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Adds the Service port or replaces its backends.
    Upsert {
        /// The new state.
        port: ServicePort,
        /// Backends the previous state had and this one lacks (the data
        /// path forgets UDP flows to them).
        removed: Vec<Endpoint>,
    },
    /// Removes the Service port.
    Remove {
        /// The state being removed.
        port: ServicePort,
    },
}

impl Change {
    /// The frontend this change is about.
    pub fn frontend(&self) -> Frontend {
        match self {
            Self::Upsert { port, .. } | Self::Remove { port } => port.frontend,
        }
    }
}
