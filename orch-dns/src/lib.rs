//! orch-dns: cluster DNS for `cluster.local`, following the Kubernetes
//! DNS-Based Service Discovery specification (schema 1.1.0).
//!
//! How it fits together:
//! - [`cluster`] follows Services and EndpointSlices through kube-rs
//!   watches and keeps compact models of them;
//! - [`records`] turns one Service (and its slices) into the DNS names and
//!   records the specification asks for;
//! - [`zone`] holds those names, compiled into ready-to-send answers when
//!   something changes (never per query), behind a read-mostly table;
//! - [`handlers`] are hickory-server zone handlers over that table (the
//!   cluster zone and the reverse zones), plus the forwarder for every other
//!   name;
//! - [`serve`] answers on UDP (a wire-level fast path over the compiled
//!   answers, several `SO_REUSEPORT` sockets) and TCP (hickory-server);
//! - [`metrics`] and [`http`] serve `/healthz`, `/readyz` and `/metrics`.
//!
//! [`run`] with [`Args`] is the whole program, shared by the `orch-dns`
//! binary and any other binary that wants to offer it as a subcommand.
pub mod cluster;
pub mod config;
pub mod error;
pub mod handlers;
pub mod http;
pub mod metrics;
pub mod records;
pub mod run;
pub mod serve;
pub mod zone;

pub use config::args::Args;
pub use error::DnsError;
pub use run::{run, start, Running};
