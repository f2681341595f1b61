//! The cluster side: compact models of Services and EndpointSlices
//! ([`model`]), the state that turns them into zone contents
//! ([`ClusterState`]), and the kube-rs watches that feed it ([`watch`]).
pub mod model;
pub mod state;
pub mod watch;

pub use state::ClusterState;
