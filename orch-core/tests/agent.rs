//! The node agent against a real API server (root): pods in real network
//! namespaces on two simulated nodes, restarts with backoff, probes,
//! graceful termination, and adoption after an agent restart.
mod support;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;
use support::{
    agent::{exec_in, pod, wait_for, Agent, HostCleanup, Net},
    orch,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_run_talk_restart_probe_terminate_and_are_adopted() {
    if !support::root_or_skip() {
        return;
    }
    let net = Net::new(0);
    let _host = HostCleanup::new(&net);
    let s = net.server();
    let mut a1 = Agent::start(&s, &net, 1);
    let a2 = Agent::start(&s, &net, 2);
    let pods: Api<Pod> = Api::namespaced(s.client().await, "default");
    let echo = |port: &str| {
        json!([
            orch(),
            "tools",
            "echo-server",
            "--http",
            "0",
            "--tcp",
            port,
            "--udp",
            "0"
        ])
    };
    pods.create(
        &PostParams::default(),
        &pod("e1", &a1.name, echo("9000"), json!({})),
    )
    .await
    .unwrap();
    pods.create(
        &PostParams::default(),
        &pod("e2", &a1.name, echo("9000"), json!({})),
    )
    .await
    .unwrap();
    pods.create(
        &PostParams::default(),
        &pod("e3", &a2.name, echo("9000"), json!({})),
    )
    .await
    .unwrap();
    let running = |name: &'static str| {
        let pods = pods.clone();
        async move || {
            let p = pods.get(name).await.ok()?;
            let st = p.status?;
            (st.phase.as_deref() == Some("Running") && st.pod_ip.is_some()).then_some(())?;
            let ns = p.metadata.annotations?.get("orch.io/netns")?.clone();
            Some((st.pod_ip?, ns))
        }
    };
    let (ip1, ns1) = wait_for("e1 running", 60, running("e1")).await;
    let (ip2, _) = wait_for("e2 running", 30, running("e2")).await;
    let (ip3, _) = wait_for("e3 running", 30, running("e3")).await;
    assert!(ip1.starts_with("10.246."), "{ip1}");

    // Same node and across nodes, by pod IP, from the pod's namespace.
    let hello = |ip: &str| format!("exec 3<>/dev/tcp/{ip}/9000; head -n1 <&3");
    assert!(
        exec_in(&ns1, &hello(&ip2)).starts_with("e2 "),
        "same-node pod unreachable"
    );
    // Routes to other nodes follow the Node objects: allow them a moment.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !exec_in(&ns1, &hello(&ip3)).starts_with("e3 ") {
        if Instant::now() > deadline {
            let routes = |n: &str| {
                String::from_utf8_lossy(
                    &Command::new("ip")
                        .args(["netns", "exec", &format!("orch-{n}"), "ip", "route"])
                        .output()
                        .unwrap()
                        .stdout,
                )
                .into_owned()
            };
            panic!(
                "cross-node pod {ip3} unreachable; routes of {}:\n{}\nroutes of {}:\n{}",
                a1.name,
                routes(&a1.name),
                a2.name,
                routes(&a2.name)
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The container sees the pod's resolv.conf and hostname.
    let resolv = exec_in(&ns1, "cat /etc/resolv.conf");
    assert!(
        resolv.contains("nameserver 10.96.0.10")
            && resolv.contains("search default.svc.cluster.local"),
        "{resolv}"
    );

    // A crashing container is restarted with backoff; restartCount rises.
    pods.create(
        &PostParams::default(),
        &pod(
            "crash",
            &a1.name,
            json!(["sh", "-c", "echo boom; exit 3"]),
            json!({}),
        ),
    )
    .await
    .unwrap();
    let restarts = wait_for("crash restarts", 60, async || {
        let p = pods.get("crash").await.ok()?;
        let cs = p.status?.container_statuses?.into_iter().next()?;
        (cs.restart_count >= 2).then_some(cs)
    })
    .await;
    let last = restarts.last_state.unwrap().terminated.unwrap();
    assert_eq!(last.exit_code, 3);

    // Readiness follows the probe; a liveness failure restarts.
    let probe_pod = pod(
        "probed",
        &a1.name,
        echo("9100"),
        json!({
            "ports": [{"name": "tcp", "containerPort": 9100}],
            "readinessProbe": {"tcpSocket": {"port": "tcp"}, "periodSeconds": 1},
            "livenessProbe": {"tcpSocket": {"port": 9999}, "periodSeconds": 1, "failureThreshold": 2, "initialDelaySeconds": 2}
        }),
    );
    pods.create(&PostParams::default(), &probe_pod)
        .await
        .unwrap();
    let ready_then_restarted = wait_for("liveness restart", 60, async || {
        let p = pods.get("probed").await.ok()?;
        let cs = p.status?.container_statuses?.into_iter().next()?;
        (cs.restart_count >= 1).then_some(cs)
    })
    .await;
    assert!(ready_then_restarted.restart_count >= 1);

    // Graceful termination: SIGTERM, then SIGKILL after the grace period.
    pods.create(
        &PostParams::default(),
        &pod(
            "stubborn",
            &a2.name,
            json!(["sh", "-c", "trap '' TERM; while true; do sleep 0.2; done"]),
            json!({}),
        ),
    )
    .await
    .unwrap();
    wait_for("stubborn running", 30, running("stubborn")).await;
    let started = Instant::now();
    pods.delete(
        "stubborn",
        &DeleteParams {
            grace_period_seconds: Some(2),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    wait_for("stubborn gone", 30, async || {
        pods.get_opt("stubborn").await.ok()?.is_none().then_some(())
    })
    .await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "grace period not respected: {took:?}"
    );

    // A killed agent's pods keep running; the restarted agent adopts them.
    let before = pods
        .get("e1")
        .await
        .unwrap()
        .status
        .unwrap()
        .container_statuses
        .unwrap()[0]
        .clone();
    a1.kill9();
    assert!(
        exec_in(&ns1, &hello(&ip2)).starts_with("e2 "),
        "pods must survive an agent crash"
    );
    a1.spawn();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = pods
        .get("e1")
        .await
        .unwrap()
        .status
        .unwrap()
        .container_statuses
        .unwrap()[0]
        .clone();
    assert_eq!(
        after.restart_count, before.restart_count,
        "adopted container was restarted"
    );
    assert!(exec_in(&ns1, &hello(&ip2)).starts_with("e2 "));

    // Deleting a pod removes its sandbox.
    pods.delete("e2", &DeleteParams::default()).await.unwrap();
    wait_for("e2 gone", 30, async || {
        pods.get_opt("e2").await.ok()?.is_none().then_some(())
    })
    .await;
    drop(a2);
}
