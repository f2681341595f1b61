//! The Kubernetes-compatible API server: one generic resource path for every
//! kind, watch, patch, validation, defaulting, discovery, TLS and tokens.
pub mod auth;
pub mod bootstrap;
pub mod discovery;
pub mod endpoints;
pub mod ipalloc;
pub mod kubeconfig;
pub mod kubelet;
pub mod meta;
pub mod metrics;
pub mod objects;
pub mod openapi;
pub mod patch;
pub mod paths;
pub mod resources;
pub mod router;
pub mod secrets;
pub mod selector;
pub mod server;
pub mod special;
pub mod state;
pub mod status;
pub mod table;
pub mod tls;
pub mod validation;
pub mod watch;
