//! Leader election between controller managers: two `orch controller-manager`
//! processes (3 s Lease) against an `orch server` that runs none itself.
//! Exactly one holds the Lease `kube-system/orch-controller-manager` and
//! reconciles; when it is killed (-9) the other takes over within the Lease
//! duration (plus a small margin) and reconciles in its place.
mod support;

use std::{
    fs::File,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::{Event, Node};
use kube::{
    api::{Api, ListParams, PostParams},
    Client,
};
use serde_json::json;
use support::TestServer;

/// Lease duration given to the managers.
const LEASE_SECONDS: u64 = 3;

/// One `orch controller-manager` process, logging (stdout and stderr) to a
/// file; killed on drop.
struct Manager {
    child: Child,
    log: PathBuf,
}

impl Manager {
    fn start(s: &TestServer, name: &str) -> Self {
        let log = s.data_dir().join(format!("{name}.log"));
        let out = File::create(&log).unwrap();
        let child = Command::new(support::orch())
            .args(["controller-manager", "--kubeconfig"])
            .arg(s.kubeconfig())
            .args([
                "--leader-lease-seconds",
                &LEASE_SECONDS.to_string(),
                "--node-monitor-grace-period-seconds",
                "2",
            ])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("starting orch controller-manager");
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether this process logged that it leads as `identity`.
    fn leads_as(&self, identity: &str) -> bool {
        self.log()
            .lines()
            .any(|l| l.contains("became leader") && l.contains(identity))
    }

    fn led(&self) -> bool {
        self.log().contains("became leader")
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Polls until `f` gives `Some`, for at most `secs` seconds.
async fn until<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create_node(c: &Client, name: &str) {
    let node = json!({"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}});
    Api::<Node>::all(c.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(node).unwrap(),
        )
        .await
        .unwrap();
}

async fn pod_cidr(c: &Client, name: &str) -> Option<String> {
    Api::<Node>::all(c.clone())
        .get(name)
        .await
        .ok()?
        .spec?
        .pod_cidr
}

async fn not_ready_events(c: &Client, node: &str) -> Vec<Event> {
    let evs = Api::<Event>::namespaced(c.clone(), "default")
        .list(&ListParams::default())
        .await
        .unwrap();
    evs.items
        .into_iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(node)
                && e.reason.as_deref() == Some("NodeNotReady")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_manager_leads_and_the_other_takes_over() {
    let s = TestServer::start_with(&["--no-controllers", "--no-scheduler"]);
    let c = s.client().await;
    let mut managers = [Manager::start(&s, "m1"), Manager::start(&s, "m2")];

    let first = until(20, "a leader", || support::controller_lease_holder(&c)).await;
    let leader = until(5, &format!("a log saying {first} leads"), || async {
        managers.iter().position(|m| m.leads_as(&first))
    })
    .await;
    let follower = 1 - leader;

    // Exactly one reconciles: the Lease stays with it for more than a Lease
    // duration, the other never leads, and a controller effect happens once.
    create_node(&c, "n1").await;
    assert_eq!(
        until(15, "n1's podCIDR", || pod_cidr(&c, "n1")).await,
        "10.244.1.0/24"
    );
    until(
        15,
        "a NodeNotReady event for n1 (no Lease, 2 s grace)",
        || async { (!not_ready_events(&c, "n1").await.is_empty()).then_some(()) },
    )
    .await;
    let stable = Instant::now() + Duration::from_secs(LEASE_SECONDS + 1);
    while Instant::now() < stable {
        assert_eq!(
            support::controller_lease_holder(&c).await.as_deref(),
            Some(first.as_str()),
            "leadership moved without a failure"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !managers[follower].led(),
        "both managers led:\n{}",
        managers[follower].log()
    );
    let evs = not_ready_events(&c, "n1").await;
    assert_eq!(
        evs.len(),
        1,
        "the event was recorded by more than one manager: {evs:?}"
    );
    assert_eq!(evs[0].count, Some(1));
    until(5, "the leader to log the assignment", || async {
        managers[leader]
            .log()
            .contains("assigned pod CIDR")
            .then_some(())
    })
    .await;
    assert!(
        !managers[follower].log().contains("assigned pod CIDR"),
        "the follower reconciled"
    );

    // The leader dies: the other takes over within the Lease duration (its
    // last renewal is at most a retry period old) plus a margin.
    managers[leader].kill9();
    let killed = Instant::now();
    let second = until(LEASE_SECONDS + 5, "a new leader", || async {
        support::controller_lease_holder(&c)
            .await
            .filter(|h| *h != first)
    })
    .await;
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(LEASE_SECONDS + 2),
        "takeover took {took:?}"
    );
    until(5, "the survivor to log that it leads", || async {
        managers[follower].leads_as(&second).then_some(())
    })
    .await;

    // And it reconciles: a new node gets a podCIDR (the next free one).
    create_node(&c, "n2").await;
    assert_eq!(
        until(15, "n2's podCIDR", || pod_cidr(&c, "n2")).await,
        "10.244.2.0/24"
    );
    // The log line follows the API write, so it may land a moment later.
    until(5, "the survivor to log the assignment", || async {
        managers[follower]
            .log()
            .contains("assigned pod CIDR")
            .then_some(())
    })
    .await;
}
