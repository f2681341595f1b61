//! orch control plane and node agent: object model, store, API server,
//! scheduler, controllers, node agent and CLI.
pub mod addons;
pub mod agent;
pub mod apiserver;
pub mod cli;
pub mod controllers;
pub mod controlplane;
pub mod scheduler;
pub mod store;
pub mod tools;
pub mod util;
