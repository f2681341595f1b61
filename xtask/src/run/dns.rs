//! Cluster DNS at start-up: when the cluster has the `kube-system/kube-dns`
//! Service (orch-dns), wait until it has a ready endpoint; when it has
//! none, say so and go on, since the demo does not depend on it.
use std::time::Duration;

use anyhow::Result;

use super::{api::Api, signals::Stop, wait};
use crate::step;

/// How long cluster DNS may take to have a ready endpoint.
const DNS_LIMIT: Duration = Duration::from_secs(60);

/// Whether cluster DNS answers: `Some(ip)` once ready, `None` when it is
/// not installed or did not become ready (with a warning).
pub fn wait_ready(api: &Api, stop: &Stop, logs_hint: &str) -> Result<Option<String>> {
    let t = step::start("cluster DNS: kube-system/kube-dns");
    let Some(ip) = api.service_ip("kube-system", "kube-dns")? else {
        step::finish("cluster DNS: not installed", t);
        return Ok(None);
    };
    let hint = format!("see `orchctl -n kube-system get pods` and {logs_hint}");
    let ready = wait::until(
        "cluster DNS (kube-dns endpoints)",
        DNS_LIMIT,
        stop,
        &hint,
        |last| {
            let eps = api.ready_endpoints("kube-system", "kube-dns")?;
            *last = format!("{} ready endpoint(s)", eps.len());
            Ok((!eps.is_empty()).then_some(()))
        },
    );
    match ready {
        Ok(()) => {
            step::finish(&format!("cluster DNS ready at {ip}"), t);
            Ok(Some(ip))
        }
        Err(e) if e.is::<wait::Interrupted>() => Err(e),
        Err(e) => {
            step::info(&format!("warning: {e:#}"));
            step::finish("cluster DNS not ready; going on without it", t);
            Ok(None)
        }
    }
}
