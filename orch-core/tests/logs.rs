//! Container logs end to end (root): a real agent runs a real pod; real
//! kubectl and orchctl read its output through the API server, which
//! proxies to the agent's HTTPS endpoint in the node's namespace (full,
//! `--tail`, `-f`, `--previous`); the API's errors; and the endpoint
//! refusing clients other than the API server.
mod support;

use std::{
    io::BufRead,
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, PostParams};
use serde_json::json;
use support::{
    agent::{pod, wait_for, Agent, HostCleanup, Net},
    TestServer,
};

/// A `logs -f` process whose output lines arrive on a channel; killed on
/// drop.
struct Follow {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: String,
}

impl Follow {
    fn start(program: &Path, s: &TestServer, args: &[&str]) -> Self {
        let mut child = Command::new(program)
            .arg("--kubeconfig")
            .arg(s.kubeconfig())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: String::new(),
        }
    }

    /// Reads until a line equal to `want` arrives (10 s at most).
    fn until(&mut self, want: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push_str(&l);
                    self.seen.push('\n');
                    if l == want {
                        return;
                    }
                }
                Err(_) => panic!("no line {want:?} within 10 s; got {:?}", self.seen),
            }
        }
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_and_orchctl_read_container_logs_through_the_agent() {
    if !support::root_or_skip() {
        return;
    }
    let net = Net::new(1);
    let _host = HostCleanup::new(&net);
    let s = net.server();
    let a = Agent::start(&s, &net, 1);
    let client = s.client().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    // The node advertises its endpoint.
    let node = wait_for("node registered", 30, async || {
        Api::<Node>::all(client.clone())
            .get_opt(&a.name)
            .await
            .ok()?
    })
    .await;
    let st = node.status.unwrap();
    assert_eq!(
        st.daemon_endpoints.unwrap().kubelet_endpoint.unwrap().port,
        10250
    );
    assert!(st
        .addresses
        .unwrap()
        .iter()
        .any(|x| x.type_ == "InternalIP" && x.address == net.node_ip(1)));

    // Writes two lines, waits for the test's go-ahead, writes a third.
    let go = s.data_dir().join("go");
    let script = format!(
        "echo hello; echo world; while [ ! -e {} ]; do sleep 0.1; done; echo later; sleep 100",
        go.display()
    );
    pods.create(
        &PostParams::default(),
        &pod("talker", &a.name, json!(["sh", "-c", script]), json!({})),
    )
    .await
    .unwrap();
    wait_for("talker has written", 60, async || {
        let p = pods.get("talker").await.ok()?;
        (p.status?.phase.as_deref() == Some("Running")).then_some(())?;
        let log = pods.logs("talker", &Default::default()).await.ok()?;
        log.contains("world").then_some(())
    })
    .await;

    let orchctl = &support::orchctl();
    let kc = s.kubeconfig();
    let (ok, out, err) = support::run_cli(orchctl, &kc, &["logs", "talker"], None);
    assert!(ok, "{err}");
    assert_eq!(out, "hello\nworld\n");
    let (ok, out, err) = support::run_cli(orchctl, &kc, &["logs", "talker", "--tail", "1"], None);
    assert!(ok, "{err}");
    assert_eq!(out, "world\n");

    let kubectl = support::kubectl();
    if let Some(k) = &kubectl {
        let (ok, out, err) = support::run_cli(k, &kc, &["logs", "talker"], None);
        assert!(ok, "{err}");
        assert_eq!(out, "hello\nworld\n");
        let (ok, out, err) = support::run_cli(k, &kc, &["logs", "talker", "--tail=1"], None);
        assert!(ok, "{err}");
        assert_eq!(out, "world\n");
        let (ok, _, err) = support::run_cli(k, &kc, &["logs", "nosuchpod"], None);
        assert!(!ok && err.contains("not found"), "{err}");
    }

    // Following: the new line arrives while the command runs.
    let mut follows = vec![Follow::start(orchctl, &s, &["logs", "-f", "talker"])];
    if let Some(k) = &kubectl {
        follows.push(Follow::start(k, &s, &["logs", "-f", "talker"]));
    }
    for f in &mut follows {
        f.until("world");
    }
    std::fs::write(&go, "").unwrap();
    for f in &mut follows {
        f.until("later");
        assert_eq!(f.seen, "hello\nworld\nlater\n");
    }
    drop(follows);

    // The previous run's output.
    pods.create(
        &PostParams::default(),
        &pod(
            "crashy",
            &a.name,
            json!(["sh", "-c", "echo attempt; exit 1"]),
            json!({}),
        ),
    )
    .await
    .unwrap();
    wait_for("crashy restarted", 60, async || {
        let p = pods.get("crashy").await.ok()?;
        let cs = p.status?.container_statuses?.into_iter().next()?;
        (cs.restart_count >= 1).then_some(())
    })
    .await;
    let (ok, out, err) = support::run_cli(orchctl, &kc, &["logs", "crashy", "-p"], None);
    assert!(ok, "{err}");
    assert_eq!(out, "attempt\n");
    if let Some(k) = &kubectl {
        let (ok, out, err) = support::run_cli(k, &kc, &["logs", "crashy", "--previous"], None);
        assert!(ok, "{err}");
        assert_eq!(out, "attempt\n");
    }

    // Errors are Status objects that say what is wrong.
    let two: Pod = serde_json::from_value(json!({
        "metadata": {"name": "two"},
        "spec": {"nodeName": a.name, "containers": [
            {"name": "a", "image": "host", "command": ["sleep", "100"]},
            {"name": "b", "image": "host", "command": ["sleep", "100"]}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &two).await.unwrap();
    let pending: Pod = serde_json::from_value(json!({
        "metadata": {"name": "pending"},
        "spec": {"nodeSelector": {"no-such-label": "x"}, "containers": [
            {"name": "main", "image": "host", "command": ["sleep", "100"]}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pending).await.unwrap();
    let http = s.http();
    let token = s.admin_token();
    let get = async |path: &str| {
        let r = http.send("GET", path, Some(&token), &[], Vec::new()).await;
        (r.status, r.json())
    };
    let base = "/api/v1/namespaces/default/pods";
    for (path, code, text) in [
        (format!("{base}/two/log"), 400, "choose one of: [a b]"),
        (
            format!("{base}/two/log?container=c"),
            400,
            "container c is not valid for pod two",
        ),
        (
            format!("{base}/nosuchpod/log"),
            404,
            "\"nosuchpod\" not found",
        ),
        (
            format!("{base}/pending/log"),
            400,
            "does not have a host assigned",
        ),
        (format!("{base}/talker/log?tailLines=-1"), 400, "tailLines"),
        (format!("{base}/talker/log?follow=maybe"), 400, "follow"),
    ] {
        let (status, body) = get(&path).await;
        assert_eq!(status, code, "{path}: {body}");
        assert_eq!(body["kind"], "Status", "{path}: {body}");
        let msg = body["message"].as_str().unwrap_or("");
        assert!(msg.contains(text), "{path}: {msg}");
    }

    // The agent's endpoint serves only the API server: a client without
    // the API server's certificate is refused.
    let direct = support::reqwest_like::Http::new(
        &s.data_dir().join("ca.crt"),
        format!("https://{}:10250", net.node_ip(1)),
    )
    .with_server_name(&a.name);
    let r = direct
        .send(
            "GET",
            "/containerLogs/default/talker/main",
            Some(&token),
            &[],
            Vec::new(),
        )
        .await;
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    assert!(String::from_utf8_lossy(&r.body).contains("client certificate"));
    drop(a);
}
