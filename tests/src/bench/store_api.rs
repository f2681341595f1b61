//! The API half of `bench store`: two `orch server` processes (release
//! binary, API server alone), one with `--store embedded` and one with
//! `--store etcd` on the benchmark's etcd, both running throughout. Each
//! takes ConfigMap creates over HTTPS from kube-rs clients (one connection
//! per client) at 1 and at 64 clients, in quarters ordered A B B A A B B A
//! as the store half, so drift in the machine's load hits both alike.
use std::{collections::BTreeMap, path::Path, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::{
    api::{ObjectMeta, PostParams},
    Api,
};

use super::{
    load::{self, Load, Outcome},
    orch::OrchServer,
    report::{ms, rate},
};

/// Namespace of the created ConfigMaps.
const NS: &str = "bench-store";

/// Parameters of the API half.
#[derive(Debug, Clone)]
pub struct StoreApiParams {
    /// Creates at 1 client.
    pub creates_1: usize,
    /// Creates at 64 clients.
    pub creates_64: usize,
    /// Bytes of data per ConfigMap.
    pub value_size: usize,
    /// Time cap per quarter.
    pub cap: Duration,
}

/// Both servers at one client count: `[embedded, etcd]`.
pub type Pair = [Option<Outcome>; 2];

/// The two backends' names, in [`Pair`] order.
pub const BACKENDS: [&str; 2] = ["embedded", "etcd"];

fn config_map(name: String, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("v".to_string(), value.to_string())])),
        ..Default::default()
    }
}

async fn namespace(server: &OrchServer) -> Result<()> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(NS.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(server.client()?)
        .create(&PostParams::default(), &ns)
        .await
        .context("creating the benchmark namespace")?;
    Ok(())
}

/// One quarter: `n` creates from `clients` clients, names `q<quarter>-<i>`.
async fn quarter(
    server: &OrchServer,
    clients: usize,
    n: usize,
    quarter: usize,
    value: Arc<String>,
    cap: Duration,
) -> Result<Outcome> {
    let cl: Arc<Vec<kube::Client>> = Arc::new(
        (0..clients)
            .map(|_| server.client())
            .collect::<Result<_>>()?,
    );
    let load = Load {
        ops: n,
        workers: clients,
        cap,
    };
    Ok(load::run(load, move |w, i| {
        let api: Api<ConfigMap> = Api::namespaced(cl[w].clone(), NS);
        let cm = config_map(format!("c{clients}-q{quarter}-{i:06}"), &value);
        async move {
            api.create(&PostParams::default(), &cm).await?;
            Ok(())
        }
    })
    .await)
}

/// Runs both servers and returns, per client count, both outcomes.
pub async fn run(
    p: &StoreApiParams,
    orch_bin: &Path,
    etcd_url: &str,
) -> Result<Vec<(usize, Pair)>> {
    let alone = ["--no-controllers".to_string(), "--no-scheduler".to_string()];
    let embedded = OrchServer::start(orch_bin, &alone).await?;
    let mut on_etcd = alone.to_vec();
    on_etcd.extend(["--store", "etcd", "--etcd-endpoints", etcd_url].map(String::from));
    let etcd = OrchServer::start(orch_bin, &on_etcd)
        .await
        .context("starting orch server --store etcd")?;
    let servers = [&embedded, &etcd];
    for s in servers {
        namespace(s).await?;
    }
    let value = Arc::new("v".repeat(p.value_size));
    let mut out = Vec::new();
    for (clients, creates) in [(1, p.creates_1), (64, p.creates_64)] {
        // Warm-up: connections, TLS sessions, first allocations.
        for (k, s) in servers.iter().enumerate() {
            quarter(s, clients, clients * 2, 100 + k, value.clone(), p.cap).await?;
        }
        let mut pair: Pair = [None, None];
        for (round, order) in [[0, 1], [1, 0], [0, 1], [1, 0]].iter().enumerate() {
            for &k in order {
                let n = creates / 4 + usize::from(round < creates % 4);
                eprintln!(
                    "bench store: orch server on {}, {clients} client(s), {n} creates",
                    BACKENDS[k]
                );
                let o = quarter(servers[k], clients, n, round, value.clone(), p.cap).await?;
                match &mut pair[k] {
                    Some(all) => all.merge(o),
                    slot => *slot = Some(o),
                }
            }
        }
        for (name, o) in BACKENDS.iter().zip(&pair) {
            if let Some(o) = o {
                eprintln!(
                    "    orch server on {name}: {} creates/s, p50 {} ms, p99 {} ms {}",
                    rate(o.rate()),
                    ms(o.p(50.0)),
                    ms(o.p(99.0)),
                    o.note()
                );
            }
        }
        out.push((clients, pair));
    }
    Ok(out)
}
