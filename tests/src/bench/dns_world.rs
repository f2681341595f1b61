//! The DNS benchmark's cluster: N ClusterIP Services, each with a named
//! port and an EndpointSlice of two ready endpoints, created through the
//! API concurrently; the same data as a zone file for Knot; and the query
//! mix both servers are asked.
use std::{
    fmt::Write as _,
    net::Ipv4Addr,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context, Result};
use k8s_openapi::api::{
    core::v1::{Namespace, Service},
    discovery::v1::EndpointSlice,
};
use kube::{api::PostParams, Api};
use serde_json::json;

use super::{
    load::{self, Load, Outcome},
    orch::OrchServer,
};

/// Namespace of the benchmark's Services.
pub const NS: &str = "bench";

/// One Service as created.
#[derive(Debug, Clone)]
pub struct BenchService {
    /// Its name (`s-00042`).
    pub name: String,
    /// The ClusterIP the API server gave it.
    pub cluster_ip: String,
    /// Its endpoints' addresses.
    pub endpoints: [Ipv4Addr; 2],
}

/// Service `i`'s name.
pub fn service_name(i: usize) -> String {
    format!("s-{i:05}")
}

/// The two endpoint addresses of Service `i`, all distinct, in
/// 10.244.0.0/16.
pub fn endpoint_ips(i: usize) -> [Ipv4Addr; 2] {
    let base = u32::from(Ipv4Addr::new(10, 244, 0, 0));
    let a = |k: usize| Ipv4Addr::from(base + 1 + (2 * i + k) as u32);
    [a(0), a(1)]
}

fn service(i: usize) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": service_name(i)},
        "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
    }))
    .expect("a valid Service")
}

fn slice(i: usize) -> EndpointSlice {
    let [a, b] = endpoint_ips(i);
    serde_json::from_value(json!({
        "metadata": {"name": format!("{}-1", service_name(i)), "labels": {
            "kubernetes.io/service-name": service_name(i),
            "endpointslice.kubernetes.io/managed-by": "orch-bench"
        }},
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": [a.to_string()], "conditions": {"ready": true}},
            {"addresses": [b.to_string()], "conditions": {"ready": true}}
        ],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
    }))
    .expect("a valid EndpointSlice")
}

/// Creates the namespace, `n` Services and their slices with `workers`
/// concurrent clients. Returns the Services (failed ones left out) and the
/// two create phases.
pub async fn create(
    server: &OrchServer,
    n: usize,
    workers: usize,
    cap: Duration,
) -> Result<(Vec<BenchService>, Outcome, Outcome)> {
    let admin = server.client()?;
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}}))?;
    Api::<Namespace>::all(admin)
        .create(&PostParams::default(), &ns)
        .await
        .context("creating the benchmark namespace")?;
    let clients: Arc<Vec<kube::Client>> = Arc::new(
        (0..workers)
            .map(|_| server.client())
            .collect::<Result<_>>()?,
    );
    let ips: Arc<Mutex<Vec<Option<String>>>> = Arc::new(Mutex::new(vec![None; n]));
    let load = Load {
        ops: n,
        workers,
        cap,
    };
    let (c, got) = (clients.clone(), ips.clone());
    let services = load::run(load, move |w, i| {
        let (client, got) = (c[w].clone(), got.clone());
        async move {
            let s = Api::<Service>::namespaced(client, NS)
                .create(&PostParams::default(), &service(i))
                .await?;
            let ip = s
                .spec
                .and_then(|s| s.cluster_ip)
                .context("no clusterIP allocated")?;
            got.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(ip);
            Ok(())
        }
    })
    .await;
    let c = clients.clone();
    let slices = load::run(load, move |w, i| {
        let client = c[w].clone();
        async move {
            Api::<EndpointSlice>::namespaced(client, NS)
                .create(&PostParams::default(), &slice(i))
                .await?;
            Ok(())
        }
    })
    .await;
    let ips = ips.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let out = ips
        .into_iter()
        .enumerate()
        .filter_map(|(i, ip)| {
            Some(BenchService {
                name: service_name(i),
                cluster_ip: ip?,
                endpoints: endpoint_ips(i),
            })
        })
        .collect();
    Ok((out, services, slices))
}

/// The zone `cluster.local.` holding the same records orch-dns serves for
/// `services` (A, SRV, endpoint names), TTL 5, for Knot.
pub fn zone_file(services: &[BenchService]) -> String {
    let mut z = String::with_capacity(services.len() * 200);
    z.push_str("$ORIGIN cluster.local.\n$TTL 5\n");
    z.push_str("@ SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5\n");
    z.push_str("@ NS ns.dns.cluster.local.\n");
    z.push_str("ns.dns A 10.96.0.10\n");
    z.push_str("dns-version TXT \"1.1.0\"\n");
    for s in services {
        let base = format!("{}.{NS}.svc", s.name);
        let _ = writeln!(z, "{base} A {}", s.cluster_ip);
        let _ = writeln!(z, "_http._tcp.{base} SRV 0 100 80 {base}.cluster.local.");
        for ip in &s.endpoints {
            let _ = writeln!(z, "{}.{base} A {ip}", ip.to_string().replace('.', "-"));
        }
    }
    z
}

/// How the queries divide.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mix {
    /// A queries for Service names.
    pub a: usize,
    /// SRV queries for `_http._tcp.<service>`.
    pub srv: usize,
    /// A queries for names that do not exist.
    pub nxdomain: usize,
}

/// One query per Service, in dnsperf's format (`name type` per line), in a
/// fixed shuffled order: 80 % A, 10 % SRV, 10 % NXDOMAIN.
pub fn query_mix(services: &[BenchService]) -> (String, Mix) {
    let mut mix = Mix::default();
    let mut lines: Vec<String> = services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let base = format!("{}.{NS}.svc.cluster.local", s.name);
            match i % 20 {
                0..=15 => {
                    mix.a += 1;
                    format!("{base} A")
                }
                16 | 17 => {
                    mix.srv += 1;
                    format!("_http._tcp.{base} SRV")
                }
                _ => {
                    mix.nxdomain += 1;
                    format!("nx-{}.{NS}.svc.cluster.local A", s.name)
                }
            }
        })
        .collect();
    // Fisher-Yates with a fixed xorshift seed: the same order every run.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in (1..lines.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        lines.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let mut text = lines.join("\n");
    text.push('\n');
    (text, mix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_addresses_are_distinct() {
        let mut all: Vec<Ipv4Addr> = (0..10_000).flat_map(endpoint_ips).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 20_000);
        assert_eq!(
            endpoint_ips(0),
            [Ipv4Addr::new(10, 244, 0, 1), Ipv4Addr::new(10, 244, 0, 2)]
        );
    }

    #[test]
    fn mix_and_zone() {
        let services: Vec<BenchService> = (0..100)
            .map(|i| BenchService {
                name: service_name(i),
                cluster_ip: format!("10.96.1.{i}"),
                endpoints: endpoint_ips(i),
            })
            .collect();
        let (text, mix) = query_mix(&services);
        assert_eq!((mix.a, mix.srv, mix.nxdomain), (80, 10, 10));
        assert_eq!(text.lines().count(), 100);
        let zone = zone_file(&services);
        assert!(zone.contains("s-00007.bench.svc A 10.96.1.7\n"));
        assert!(zone.contains(
            "_http._tcp.s-00007.bench.svc SRV 0 100 80 s-00007.bench.svc.cluster.local.\n"
        ));
        assert!(zone.contains("10-244-0-15.s-00007.bench.svc A 10.244.0.15\n"));
    }
}
