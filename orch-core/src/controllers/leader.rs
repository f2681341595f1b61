//! Leader election on a coordination.k8s.io/v1 Lease, as Kubernetes' client
//! does it: the holder renews every retry period; a candidate takes the
//! Lease once it has not been renewed for its duration; a holder that could
//! not renew within the renew deadline stops its work at once.
use std::{future::Future, time::Duration};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{
    api::{Api, PostParams},
    Client,
};

/// Lease timing and identity.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This candidate's identity (unique per process).
    pub identity: String,
    /// How long a Lease is valid after its last renewal (15 s).
    pub lease_duration: Duration,
    /// How long a holder keeps working without a successful renewal (10 s).
    pub renew_deadline: Duration,
    /// Time between attempts (2 s).
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// Kubernetes' defaults for the Lease `kube-system/<name>`.
    pub fn new(name: &str, identity: &str) -> Self {
        Self {
            namespace: "kube-system".into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Outcome of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// We hold the Lease now.
    Held,
    /// Someone else holds a live Lease.
    Taken,
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

/// Tries once to acquire or renew the Lease.
pub async fn try_acquire(client: &Client, cfg: &LeaseConfig) -> Result<Attempt, kube::Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    let duration = i32::try_from(cfg.lease_duration.as_secs()).unwrap_or(i32::MAX);
    match api.get_opt(&cfg.name).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(cfg.name.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(cfg.identity.clone()),
                    lease_duration_seconds: Some(duration),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Attempt::Held),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Taken),
                Err(e) => Err(e),
            }
        }
        Some(mut lease) => {
            let spec = lease.spec.get_or_insert_with(Default::default);
            let ours = spec.holder_identity.as_deref() == Some(cfg.identity.as_str());
            if !ours {
                let renewed = spec
                    .renew_time
                    .as_ref()
                    .map(|t| t.0)
                    .or(spec.acquire_time.as_ref().map(|t| t.0));
                let valid_for = spec
                    .lease_duration_seconds
                    .map_or(cfg.lease_duration, |s| Duration::from_secs(s.max(0) as u64));
                let expired = renewed.is_none_or(|t| {
                    Timestamp::now().duration_since(t).as_secs_f64() > valid_for.as_secs_f64()
                });
                if spec
                    .holder_identity
                    .as_deref()
                    .is_some_and(|h| !h.is_empty())
                    && !expired
                {
                    return Ok(Attempt::Taken);
                }
                spec.holder_identity = Some(cfg.identity.clone());
                spec.acquire_time = Some(now());
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
            spec.renew_time = Some(now());
            spec.lease_duration_seconds = Some(duration);
            match api.replace(&cfg.name, &PostParams::default(), &lease).await {
                Ok(_) => Ok(Attempt::Held),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Taken),
                Err(e) => Err(e),
            }
        }
    }
}

/// Runs `work` whenever this process holds the Lease, forever. `work` is
/// started fresh on each acquisition and aborted when leadership is lost.
pub async fn run<F, Fut>(client: Client, cfg: LeaseConfig, work: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        // Candidate: wait until we hold the Lease.
        loop {
            match try_acquire(&client, &cfg).await {
                Ok(Attempt::Held) => break,
                Ok(Attempt::Taken) => {}
                Err(e) => {
                    tracing::debug!(error = %e, lease = %cfg.name, "leader election attempt failed")
                }
            }
            tokio::time::sleep(cfg.retry_period).await;
        }
        tracing::info!(lease = %cfg.name, identity = %cfg.identity, "became leader");
        let mut task = tokio::spawn(work());
        let mut last_renew = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = &mut task => {
                    tracing::warn!(lease = %cfg.name, "leader work ended; standing for election again");
                    break;
                }
                _ = tokio::time::sleep(cfg.retry_period) => {
                    match try_acquire(&client, &cfg).await {
                        Ok(Attempt::Held) => last_renew = tokio::time::Instant::now(),
                        Ok(Attempt::Taken) => {
                            tracing::warn!(lease = %cfg.name, "lost the lease to another candidate");
                            task.abort();
                            break;
                        }
                        Err(e) => tracing::warn!(error = %e, lease = %cfg.name, "could not renew the lease"),
                    }
                    if last_renew.elapsed() > cfg.renew_deadline {
                        tracing::warn!(lease = %cfg.name, "renew deadline passed; stopping work");
                        task.abort();
                        break;
                    }
                }
            }
        }
    }
}
