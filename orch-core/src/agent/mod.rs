//! The node agent: registers its node, runs the pods bound to it in real
//! Linux namespaces, reports their status and keeps them as declared.
pub mod client;
mod error;
pub mod failover;
pub mod ipam;
pub mod netlink;
pub mod netns;
pub mod node;
pub mod nodenet;
pub mod pods;
pub mod run;
pub mod runtime;
pub mod sandbox;
pub mod server;

pub use error::AgentError;
pub use run::{run, teardown, AgentConfig};
