//! Network programming latency of one change with N Services (3 endpoints
//! each) programmed: the time `Dataplane::apply` takes to make a changed
//! endpoint set live, in each mode.
use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use anyhow::Result;
use orch_proxy::{
    dataplane::Dataplane,
    model::{Change, Endpoint, Frontend, PortName, Protocol, ServicePort},
};

use crate::bench::report::percentile;

/// Service `i` of a synthetic table: VIP 10.97.x.y:80 with 3 backends.
pub fn synthetic(i: u32, generation: u32) -> ServicePort {
    let vip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 97, 0, 0)) + i);
    let backend = |k: u32| Endpoint {
        ip: Ipv4Addr::from(
            u32::from(Ipv4Addr::new(10, 100, 0, 0)) + (i * 3 + k + generation * 7) % (1 << 20),
        ),
        port: 8080,
    };
    let mut endpoints = vec![backend(0), backend(1), backend(2)];
    endpoints.sort();
    endpoints.dedup();
    ServicePort {
        frontend: Frontend {
            ip: vip,
            port: 80,
            protocol: Protocol::Tcp,
        },
        name: PortName {
            namespace: "bench".into(),
            service: format!("svc-{i}"),
            port: "http".into(),
        },
        endpoints,
    }
}

/// A table of `n` synthetic Services.
pub fn table(n: u32) -> Vec<ServicePort> {
    (0..n).map(|i| synthetic(i, 0)).collect()
}

/// p50 and p99 of `changes` single-Service changes applied to `dp` holding
/// `n` Services, and how long the initial full sync took.
pub fn measure(
    dp: &mut dyn Dataplane,
    n: u32,
    changes: u32,
    cap: Duration,
) -> Result<(Duration, Duration, Duration, usize)> {
    let t = Instant::now();
    dp.resync(&table(n))?;
    let full = t.elapsed();
    let mut samples = Vec::with_capacity(changes as usize);
    let deadline = Instant::now() + cap;
    for k in 0..changes {
        if Instant::now() > deadline {
            break;
        }
        let i = (k * 7919) % n;
        let old = synthetic(i, k);
        let new = synthetic(i, k + 1);
        let removed = old
            .endpoints
            .iter()
            .filter(|e| !new.endpoints.contains(e))
            .copied()
            .collect();
        let change = Change::Upsert { port: new, removed };
        let t = Instant::now();
        dp.apply(std::slice::from_ref(&change))?;
        samples.push(t.elapsed());
    }
    samples.sort();
    Ok((
        percentile(&samples, 50.0),
        percentile(&samples, 99.0),
        full,
        samples.len(),
    ))
}
