//! Phase (3): a Deployment of 1,000 replicas on 100 fake nodes, from the
//! create call until the watch has seen every pod bound. Needs the
//! Deployment and ReplicaSet controllers of `orch server`; when they
//! create no pod in time, the phase reports that it could not be measured.
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use k8s_openapi::{
    api::{apps::v1::Deployment, coordination::v1::Lease, core::v1::Node},
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::Timestamp,
};
use kube::{
    api::{Api, PostParams},
    Client,
};
use serde_json::json;

use super::{fixtures, server::Server, watch::BoundWatch, SchedulerParams};
use crate::bench::report::{rate, verdict};

const NS: &str = "default";
const APP: &str = "bench-deploy";
/// How long the controllers get to create the first pod.
const FIRST_POD: Duration = Duration::from_secs(30);

/// What phase (3) measured.
#[derive(Debug)]
pub struct DeployOutcome {
    /// Why it could not be measured, if so.
    pub not_measured: Option<String>,
    /// Pods the controllers created.
    pub created: usize,
    /// Pods seen bound.
    pub bound: usize,
    /// From the create call to the first pod seen.
    pub first_pod: Option<Duration>,
    /// From the create call to the last binding seen.
    pub to_last_bound: Option<Duration>,
    /// The cap stopped the wait.
    pub capped: bool,
}

impl DeployOutcome {
    /// One line for the progress output.
    pub fn summary(&self) -> String {
        match (&self.not_measured, self.to_last_bound) {
            (Some(why), _) => format!("not measured: {why}"),
            (None, Some(t)) => format!(
                "{} of {} pods bound after {:.2} s",
                self.bound,
                self.created,
                t.as_secs_f64()
            ),
            (None, None) => "no pod bound".into(),
        }
    }

    /// The results-table row.
    pub fn row(&self, p: &SchedulerParams) -> Vec<String> {
        let secs = self
            .to_last_bound
            .map_or("—".into(), |t| format!("{:.2}", t.as_secs_f64()));
        let per_sec = self.to_last_bound.map_or("—".into(), |t| {
            rate(self.bound as f64 / t.as_secs_f64().max(1e-9))
        });
        let verdict = match &self.not_measured {
            Some(_) => "not measured".into(),
            None => verdict(!self.capped && self.bound == p.replicas).to_string(),
        };
        vec![
            format!(
                "(3) Deployment of {} replicas: create → every pod bound",
                p.replicas
            ),
            p.deploy_nodes.to_string(),
            self.bound.to_string(),
            secs,
            per_sec,
            "all bound".into(),
            verdict,
            self.summary(),
        ]
    }

    /// The details paragraph.
    pub fn details(&self) -> String {
        match &self.not_measured {
            Some(why) => format!("Could not be measured: {why}."),
            None => format!(
                "The first pod appeared {:.2} s after the create call; {} pods were created and {} \
                 seen bound{}.",
                self.first_pod.map_or(f64::NAN, |t| t.as_secs_f64()),
                self.created,
                self.bound,
                if self.capped { " before the time cap stopped the wait" } else { "" }
            ),
        }
    }
}

/// Node Leases renewed now, so the node lifecycle controller leaves the
/// fake nodes Ready for its grace period.
async fn lease(client: &Client, node: &str) -> Result<()> {
    let now = MicroTime(Timestamp::now());
    let l: Lease = serde_json::from_value(json!({
        "metadata": {"name": node, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": now},
    }))?;
    Api::<Lease>::namespaced(client.clone(), "kube-node-lease")
        .create(&PostParams::default(), &l)
        .await?;
    Ok(())
}

fn deployment(replicas: usize) -> Result<Deployment> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": APP, "namespace": NS},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": APP}},
            "template": {
                "metadata": {"labels": {"app": APP}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/bench/app:1.0",
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]},
            },
        },
    }))?)
}

/// Runs phase (3).
pub async fn run(bin: &std::path::Path, p: &SchedulerParams) -> Result<DeployOutcome> {
    if p.replicas == 0 {
        return Ok(DeployOutcome {
            not_measured: Some("skipped (`--replicas 0`)".into()),
            created: 0,
            bound: 0,
            first_pod: None,
            to_last_bound: None,
            capped: false,
        });
    }
    let server = Server::start(bin, &[]).await?;
    let client = server.client()?;
    for i in 0..p.deploy_nodes {
        let n = fixtures::node(i, false);
        let name = n.metadata.name.clone().unwrap_or_default();
        Api::<Node>::all(client.clone())
            .create(&PostParams::default(), &n)
            .await
            .context("creating a node")?;
        if let Err(e) = lease(&client, &name).await {
            eprintln!("    node lease {name}: {e:#}");
        }
    }
    let watch = BoundWatch::start(client.clone(), NS, Some(&format!("app={APP}"))).await?;
    let start = Instant::now();
    Api::<Deployment>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &deployment(p.replicas)?)
        .await
        .context("creating the Deployment")?;
    let deadline = start + p.cap;
    loop {
        let (created, bound) = watch.counts();
        if bound >= p.replicas
            || Instant::now() >= deadline
            || (created == 0 && start.elapsed() > FIRST_POD)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let g = watch.seen.lock().expect("watch counters");
    let (created, bound) = (g.pods.len(), g.bound.len());
    let since = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(start));
    let not_measured = (created == 0).then(|| {
        format!(
            "the Deployment and ReplicaSet controllers created no pod within {} s (they are not \
             written yet, or not running)",
            FIRST_POD.as_secs()
        )
    });
    Ok(DeployOutcome {
        not_measured,
        created,
        bound,
        first_pod: since(g.first_pod),
        to_last_bound: since(g.last_bound),
        capped: created > 0 && bound < p.replicas,
    })
}
