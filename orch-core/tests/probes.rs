//! Exec probes end to end (root): a real agent runs the probe command in
//! the running container (its PID namespace and hostname, not the
//! host's); a failing liveness probe restarts the container, and a
//! readiness probe flips the pod's Ready condition both ways.
mod support;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::json;
use support::agent::{pod, wait_for, Agent, HostCleanup, Net};

/// The Ready condition of the pod and its container's restart count.
async fn ready_and_restarts(pods: &Api<Pod>, name: &str) -> Option<(bool, i32)> {
    let st = pods.get(name).await.ok()?.status?;
    let ready = st
        .conditions?
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let restarts = st.container_statuses?.first()?.restart_count;
    Some((ready, restarts))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_probes_run_in_the_container_and_drive_restarts_and_readiness() {
    if !support::root_or_skip() {
        return;
    }
    let net = Net::new(2);
    let _host = HostCleanup::new(&net);
    let s = net.server();
    let a = Agent::start(&s, &net, 1);
    let pods: Api<Pod> = Api::namespaced(s.client().await, "default");
    let fail = s.data_dir().join("fail");
    let ready = s.data_dir().join("ready");

    // Passes only inside the container: its PID 1 is `sleep` and its
    // hostname the pod's name. Fails once the test creates `fail`.
    let live_check = format!(
        "[ \"$(cat /proc/1/comm)\" = sleep ] && [ \"$(hostname)\" = live ] && [ ! -e {} ]",
        fail.display()
    );
    pods.create(
        &PostParams::default(),
        &pod(
            "live",
            &a.name,
            json!(["sleep", "100"]),
            json!({"livenessProbe": {"exec": {"command": ["sh", "-c", live_check]},
                   "periodSeconds": 1, "failureThreshold": 2, "timeoutSeconds": 2}}),
        ),
    )
    .await
    .unwrap();
    let ready_check = format!("[ \"$(hostname)\" = gated ] && [ -e {} ]", ready.display());
    pods.create(
        &PostParams::default(),
        &pod(
            "gated",
            &a.name,
            json!(["sleep", "100"]),
            json!({"readinessProbe": {"exec": {"command": ["sh", "-c", ready_check]},
                   "periodSeconds": 1}}),
        ),
    )
    .await
    .unwrap();

    // The liveness probe passes in the container: no restart while it runs
    // for a few periods.
    wait_for("live running", 60, async || {
        let p = pods.get("live").await.ok()?;
        (p.status?.phase.as_deref() == Some("Running")).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let (live_ready, restarts) = ready_and_restarts(&pods, "live").await.unwrap();
    assert_eq!(
        restarts, 0,
        "a passing liveness probe restarted the container"
    );
    assert!(live_ready);

    // Not ready until the readiness command passes.
    let (gated_ready, _) = ready_and_restarts(&pods, "gated").await.unwrap();
    assert!(!gated_ready, "ready before its readiness probe passed");

    std::fs::write(&fail, "").unwrap();
    std::fs::write(&ready, "").unwrap();
    let st = wait_for("liveness restart", 30, async || {
        let p = pods.get("live").await.ok()?;
        let cs = p.status?.container_statuses?.into_iter().next()?;
        (cs.restart_count >= 1).then_some(cs)
    })
    .await;
    let last = st.last_state.and_then(|l| l.terminated);
    assert!(last.is_some(), "no terminated last state after the restart");
    wait_for("gated ready", 30, async || {
        let (r, _) = ready_and_restarts(&pods, "gated").await?;
        r.then_some(())
    })
    .await;

    std::fs::remove_file(&ready).unwrap();
    wait_for("gated unready again", 30, async || {
        let (r, restarts) = ready_and_restarts(&pods, "gated").await?;
        assert_eq!(restarts, 0, "readiness must not restart");
        (!r).then_some(())
    })
    .await;
    drop(a);
}
