//! Benchmarks run by `cargo xtask bench` through the `orch-bench` binary
//! (never by `cargo xtask test`): `store` (embedded store vs a real etcd,
//! directly and under `orch server`),
//! `api` (the `orch server` binary over HTTPS), `scheduler`, `pods` (pod
//! startup on a real node agent, as root), `proxy` (orch-proxy's programming
//! latency and data path, in namespaces it creates) and `dns` (orch-dns vs
//! Knot DNS under dnsperf). Each prints a Markdown
//! report and writes it under `target/orch/bench/`, with its figures as
//! JSON next to it ([`results`]); [`summary`] combines them into
//! `report.md` with ratio tables and PNG plots. Every load is bounded
//! in count and time, and all traffic stays on 127.0.0.1 or in namespaces
//! the benchmark created.
pub mod api;
pub mod api_report;
pub mod api_watch;
pub mod dns;
pub mod dns_peers;
pub mod dns_report;
pub mod dns_world;
pub mod etcd;
pub mod etcd_kv;
pub mod goals;
pub mod load;
pub mod orch;
pub mod pods;
pub mod process;
pub mod prom;
pub mod proxy;
pub mod report;
pub mod results;
pub mod scheduler;
pub mod store;
pub mod store_api;
pub mod summary;
