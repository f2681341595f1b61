//! Keeps the client's requests on etcd members that answer. The client
//! balances requests over every endpoint it was given and keeps trying a
//! dead one, so one member down would fail a share of all calls. Here each
//! member is asked for its status every second through a client of its
//! own; one that does not answer is taken out of the balanced set, and put
//! back once it answers again. When none answers, all stay in, so calls
//! fail with etcd's own error.
use std::time::Duration;

use etcd_client::{Client, ConnectOptions};
use futures::future::join_all;

/// Time between two rounds of checks.
const EVERY: Duration = Duration::from_secs(1);
/// How long a member may take to answer a check.
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);

/// Checks `endpoints` forever, adding them to and removing them from
/// `client`'s balanced set.
pub(crate) async fn run(client: Client, endpoints: Vec<String>, options: ConnectOptions) {
    let mut probes = Vec::new();
    for e in &endpoints {
        match Client::connect([e], Some(options.clone())).await {
            Ok(c) => probes.push(c),
            Err(err) => {
                tracing::warn!(endpoint = %e, error = %err, "cannot check this etcd member; leaving it in");
                return;
            }
        }
    }
    let mut live = vec![true; endpoints.len()];
    loop {
        tokio::time::sleep(EVERY).await;
        let answers = join_all(probes.iter_mut().map(|p| async move {
            matches!(
                tokio::time::timeout(PROBE_TIMEOUT, p.status()).await,
                Ok(Ok(_))
            )
        }))
        .await;
        if !answers.iter().any(|a| *a) {
            continue;
        }
        for (i, (answers, endpoint)) in answers.iter().zip(&endpoints).enumerate() {
            if live[i] == *answers {
                continue;
            }
            let changed = if *answers {
                client.add_endpoint(endpoint).await
            } else {
                client.remove_endpoint(endpoint).await
            };
            if changed.is_ok() {
                live[i] = *answers;
                if *answers {
                    tracing::info!(%endpoint, "etcd member answers again");
                } else {
                    tracing::warn!(%endpoint, "etcd member does not answer; using the others");
                }
            }
        }
    }
}
