//! The objects end-to-end tests read and change through the run's API
//! server: pods by label, ready endpoints of a Service, client pods pinned
//! to nodes, scaling, rollouts; and a bounded wait that names what it
//! last saw when it gives up.
use std::{future::Future, time::Duration};

use anyhow::{bail, Context, Result};
use k8s_openapi::api::{apps::v1::Deployment, core::v1::Pod, discovery::v1::EndpointSlice};
use kube::{
    api::{ListParams, Patch, PatchParams, PostParams},
    Api, Client, ResourceExt,
};
use tokio::time::{sleep, Instant};

/// The annotation naming a pod's network namespace.
pub const NETNS_ANNOTATION: &str = "orch.io/netns";

/// Polls `check` every 200 ms until it returns `Ok(Some(_))`; after
/// `limit`, fails with `what` and the last state `check` described.
pub async fn wait<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(Option<T>, String)>>,
{
    let deadline = Instant::now() + limit;
    loop {
        let last = match check().await {
            Ok((Some(v), _)) => return Ok(v),
            Ok((None, state)) => state,
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() > deadline {
            bail!("{what}: not after {}s; last: {last}", limit.as_secs());
        }
        sleep(Duration::from_millis(200)).await;
    }
}

/// Pods matching `selector` in `ns` that are not being deleted.
pub async fn live_pods(client: &Client, ns: &str, selector: &str) -> Result<Vec<Pod>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    Ok(pods
        .list(&ListParams::default().labels(selector))
        .await?
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect())
}

/// Whether the pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The pod's node.
pub fn node_of(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default()
}

/// The pod's IP.
pub fn ip_of(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_default()
}

/// The pod's network namespace, once its sandbox exists.
pub fn netns_of(pod: &Pod) -> Option<String> {
    pod.annotations().get(NETNS_ANNOTATION).cloned()
}

/// Restarts of the pod's first container.
pub fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .map_or(0, |c| c.restart_count)
}

/// The addresses of the ready endpoints of Service `svc` in `ns`, sorted.
pub async fn ready_endpoints(client: &Client, ns: &str, svc: &str) -> Result<Vec<String>> {
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={svc}"));
    let mut ips: Vec<String> = slices
        .list(&lp)
        .await?
        .items
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
        .flat_map(|e| e.addresses.iter().cloned())
        .collect();
    ips.sort();
    Ok(ips)
}

/// Sets the replicas of Deployment `name`.
pub async fn scale(client: &Client, ns: &str, name: &str, replicas: i32) -> Result<()> {
    let deps: Api<Deployment> = Api::namespaced(client.clone(), ns);
    deps.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}})),
    )
    .await
    .with_context(|| format!("scaling {ns}/{name} to {replicas}"))?;
    Ok(())
}

/// Whether Deployment `name` has rolled out its latest template to all its
/// replicas, and they are available; with a description of where it is.
pub async fn rolled_out(client: &Client, ns: &str, name: &str) -> Result<(bool, String)> {
    let deps: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let d = deps.get(name).await?;
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let st = d.status.clone().unwrap_or_default();
    let done = st.observed_generation >= d.metadata.generation
        && st.updated_replicas == Some(want)
        && st.replicas == Some(want)
        && st.available_replicas == Some(want);
    Ok((
        done,
        format!(
            "generation {:?} observed {:?}, replicas {:?} updated {:?} available {:?} (want {want})",
            d.metadata.generation,
            st.observed_generation,
            st.replicas,
            st.updated_replicas,
            st.available_replicas
        ),
    ))
}

/// Creates pod `name` in `default` pinned to `node` running `command`, and
/// waits until it runs and has a network namespace, which it returns.
pub async fn pinned_pod(
    client: &Client,
    name: &str,
    node: &str,
    command: &[&str],
) -> Result<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "e2e-client"}},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": "orch/host", "command": command}],
        },
    }))?;
    pods.create(&PostParams::default(), &pod)
        .await
        .with_context(|| format!("creating pod {name} on {node}"))?;
    wait(
        &format!("pod {name} running on {node}"),
        Duration::from_secs(60),
        || {
            let pods = pods.clone();
            async move {
                let p = pods.get(name).await?;
                let phase = p
                    .status
                    .as_ref()
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_default();
                let ns = netns_of(&p).filter(|_| phase == "Running");
                Ok((ns, format!("phase {phase:?}")))
            }
        },
    )
    .await
}
