//! Phase (2): end to end through the API. `orch server --no-controllers`
//! (the scheduler runs in that process behind its Lease); fake nodes and
//! pods are created at the same time by concurrent clients, and a watch
//! sees each pod bound. Timed from the first create to the last binding
//! the watch saw. Two more runs, side by side: the scheduler as a process
//! of its own (`orch scheduler`, to see whose CPU the work costs), and the
//! same creates with no scheduler at all (what creating alone costs).
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use k8s_openapi::api::core::v1::{Event, Namespace, Node, Pod};
use kube::{
    api::{DeleteParams, ListParams, PostParams},
    Api,
};
use serde_json::json;

use super::{
    fixtures,
    server::{own_cpu_secs, Server},
    watch::BoundWatch,
    SchedulerParams,
};
use crate::bench::{
    load::{self, Load, Outcome},
    report::{rate, verdict},
};

/// Namespace of the measured pods.
pub const NS: &str = "bench-sched";

/// Where the scheduler runs in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Inside `orch server` (the default deployment).
    InProcess,
    /// As `orch scheduler`, a process of its own.
    Separate,
    /// Nowhere: creates only.
    None,
}

/// One run of the creates.
#[derive(Debug)]
pub struct Run {
    /// Node creates.
    pub nodes: Outcome,
    /// Pod creates.
    pub pods: Outcome,
    /// Pods the watch saw bound.
    pub bound: usize,
    /// From the first create to the last binding seen.
    pub to_last_bound: Duration,
    /// From the first create to the last create answered.
    pub creates_done: Duration,
    /// The cap stopped the wait.
    pub capped: bool,
    /// CPU seconds used during the run by the server, the separate
    /// scheduler (if any) and this benchmark process.
    pub cpu: (f64, Option<f64>, f64),
    /// Server resident memory at the end, MiB.
    pub rss_mib: f64,
    /// `Scheduled` events written for the measured pods.
    pub events: usize,
}

impl Run {
    /// Bound pods per second.
    pub fn rate(&self) -> f64 {
        self.bound as f64 / self.to_last_bound.as_secs_f64().max(1e-9)
    }

    fn cpu_note(&self) -> String {
        let (server, sched, bench) = self.cpu;
        let events = if self.bound > 0 {
            format!("; {} Scheduled events written", self.events)
        } else {
            String::new()
        };
        match sched {
            Some(s) => format!(
                "CPU: server {server:.1} s, scheduler {s:.1} s, benchmark clients {bench:.1} s{events}"
            ),
            None => format!("CPU: server {server:.1} s, benchmark clients {bench:.1} s{events}"),
        }
    }
}

/// What phase (2) measured.
#[derive(Debug)]
pub struct E2eOutcome {
    /// The scheduler inside `orch server`: the measured run.
    pub main: Run,
    /// The scheduler as its own process.
    pub separate: Option<Run>,
    /// No scheduler: creates only.
    pub baseline: Option<Run>,
}

impl E2eOutcome {
    /// Bound pods per second in the measured run.
    pub fn rate(&self) -> f64 {
        self.main.rate()
    }

    /// One line for the progress output.
    pub fn summary(&self) -> String {
        let m = &self.main;
        format!(
            "{} bound in {:.2} s: {} pods/s",
            m.bound,
            m.to_last_bound.as_secs_f64(),
            rate(m.rate())
        )
    }

    /// The results-table rows.
    pub fn rows(&self, p: &SchedulerParams) -> Vec<Vec<String>> {
        let row = |name: &str, r: &Run, goal: bool| {
            let mut notes = vec![format!(
                "creates done after {:.2} s",
                r.creates_done.as_secs_f64()
            )];
            if r.capped {
                notes.push(format!("stopped by the {} s cap", p.cap.as_secs()));
            }
            for (what, o) in [("node", &r.nodes), ("pod", &r.pods)] {
                if !o.note().is_empty() {
                    notes.push(format!("{what} creates: {}", o.note()));
                }
            }
            notes.push(r.cpu_note());
            vec![
                name.into(),
                r.nodes.ok.to_string(),
                r.bound.to_string(),
                format!("{:.2}", r.to_last_bound.as_secs_f64()),
                rate(r.rate()),
                if goal {
                    "≥ 1,000 pods/s".into()
                } else {
                    String::new()
                },
                if goal {
                    verdict(
                        !r.capped
                            && r.bound == p.pods
                            && r.rate() >= crate::bench::goals::SCHED_E2E_RATE,
                    )
                    .into()
                } else {
                    String::new()
                },
                notes.join("; "),
            ]
        };
        let mut rows = vec![row(
            "(2) end to end: create → bound, seen by a watch",
            &self.main,
            true,
        )];
        if let Some(s) = &self.separate {
            rows.push(row(
                "(2b) the same, scheduler as its own process (reference)",
                s,
                false,
            ));
        }
        rows
    }

    /// The details paragraph.
    pub fn details(&self) -> String {
        let m = &self.main;
        let base = match &self.baseline {
            Some(b) => format!(
                "The same creates against `orch server --no-controllers --no-scheduler` were all \
                 answered after {:.2} s ({}); end-to-end time ÷ create-only time = {:.2}.",
                b.creates_done.as_secs_f64(),
                b.cpu_note(),
                m.to_last_bound.as_secs_f64() / b.creates_done.as_secs_f64().max(1e-9)
            ),
            None => "The create-only baseline did not run.".into(),
        };
        format!(
            "Nodes created at {} /s ({} ok), pods at {} /s ({} ok); all creates answered after \
             {:.2} s, the last binding seen after {:.2} s ({}). {base} Server VmRSS at the end: \
             {:.0} MiB.",
            rate(m.nodes.rate()),
            m.nodes.ok,
            rate(m.pods.rate()),
            m.pods.ok,
            m.creates_done.as_secs_f64(),
            m.to_last_bound.as_secs_f64(),
            m.cpu_note(),
            m.rss_mib,
        )
    }
}

async fn namespace(client: &kube::Client, name: &str) -> Result<()> {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}

/// Makes sure the scheduler leads and has listed: one pod bound on a
/// throw-away node, both deleted again.
async fn warm_up(client: &kube::Client) -> Result<()> {
    namespace(client, "bench-warmup").await?;
    let mut node = fixtures::node(0, false);
    node.metadata.name = Some("warmup-node".into());
    let nodes: Api<Node> = Api::all(client.clone());
    nodes.create(&PostParams::default(), &node).await?;
    let mut pod = fixtures::pod(0, "bench-warmup");
    pod.metadata.uid = None;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "bench-warmup");
    pods.create(&PostParams::default(), &pod).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = pods.get("p-00000").await?;
        if p.spec
            .and_then(|s| s.node_name)
            .is_some_and(|n| !n.is_empty())
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("the scheduler bound no pod within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    let _ = pods.delete("p-00000", &now).await;
    let _ = nodes.delete("warmup-node", &DeleteParams::default()).await;
    Ok(())
}

/// Creates `p.nodes` nodes and `p.pods` pods at once; returns both
/// outcomes and when they started.
async fn create_all(server: &Server, p: &SchedulerParams) -> Result<(Outcome, Outcome, Instant)> {
    let node_workers = (p.clients / 4).max(1);
    let pod_workers = p.clients.saturating_sub(node_workers).max(1);
    let clients = |n: usize| -> Result<Arc<Vec<kube::Client>>> {
        Ok(Arc::new(
            (0..n).map(|_| server.client()).collect::<Result<_>>()?,
        ))
    };
    let (node_clients, pod_clients) = (clients(node_workers)?, clients(pod_workers)?);
    let pod_objects: Arc<Vec<Pod>> = Arc::new(
        (0..p.pods)
            .map(|i| {
                let v = fixtures::for_create(
                    serde_json::to_value(fixtures::pod(i, NS)).expect("pod json"),
                );
                serde_json::from_value(v).expect("pod")
            })
            .collect(),
    );
    let start = Instant::now();
    let nodes = load::run(
        Load {
            ops: p.nodes,
            workers: node_workers,
            cap: p.cap,
        },
        move |w, i| {
            let api: Api<Node> = Api::all(node_clients[w].clone());
            async move {
                api.create(&PostParams::default(), &fixtures::node(i, true))
                    .await?;
                Ok(())
            }
        },
    );
    let pods = load::run(
        Load {
            ops: p.pods,
            workers: pod_workers,
            cap: p.cap,
        },
        move |w, i| {
            let api: Api<Pod> = Api::namespaced(pod_clients[w].clone(), NS);
            let objects = pod_objects.clone();
            async move {
                api.create(&PostParams::default(), &objects[i]).await?;
                Ok(())
            }
        },
    );
    let (nodes, pods) = tokio::join!(nodes, pods);
    Ok((nodes, pods, start))
}

async fn one_run(bin: &std::path::Path, p: &SchedulerParams, mode: Mode) -> Result<Run> {
    let flags: &[&str] = match mode {
        Mode::InProcess => &["--no-controllers"],
        Mode::Separate | Mode::None => &["--no-controllers", "--no-scheduler"],
    };
    let mut server = Server::start(bin, flags).await?;
    if mode == Mode::Separate {
        server.start_scheduler(bin)?;
    }
    let admin = server.client()?;
    if mode != Mode::None {
        warm_up(&admin)
            .await
            .with_context(|| format!("warm-up; server log:\n{}", server.log_tail(20)))?;
    }
    namespace(&admin, NS).await?;
    let watch = BoundWatch::start(admin.clone(), NS, None).await?;
    let cpu0 = (server.cpu_secs(), own_cpu_secs());
    let (nodes, pods, start) = create_all(&server, p).await?;
    let creates_done = start.elapsed();
    let deadline = start + p.cap;
    if mode != Mode::None {
        loop {
            let (_, bound) = watch.counts();
            if bound >= pods.ok || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let cpu1 = (server.cpu_secs(), own_cpu_secs());
    let (bound, last) = {
        let g = watch.seen.lock().expect("watch counters");
        (g.bound.len(), g.last_bound)
    };
    let events = scheduled_events(&admin).await;
    let sched_cpu = match (cpu0.0 .1, cpu1.0 .1) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    Ok(Run {
        to_last_bound: last.map_or(creates_done, |t| t.saturating_duration_since(start)),
        capped: mode != Mode::None && bound < pods.ok,
        nodes,
        pods,
        bound,
        creates_done,
        cpu: (cpu1.0 .0 - cpu0.0 .0, sched_cpu, cpu1.1 - cpu0.1),
        rss_mib: server.rss_mib(),
        events,
    })
}

/// How many `Scheduled` events exist in the namespace (0 if the list
/// fails).
async fn scheduled_events(client: &kube::Client) -> usize {
    let api: Api<Event> = Api::namespaced(client.clone(), NS);
    match api.list(&ListParams::default()).await {
        Ok(l) => l
            .items
            .iter()
            .filter(|e| e.reason.as_deref() == Some("Scheduled"))
            .count(),
        Err(_) => 0,
    }
}

/// Runs phase (2) and its two references.
pub async fn run(bin: &std::path::Path, p: &SchedulerParams) -> Result<E2eOutcome> {
    let main = one_run(bin, p, Mode::InProcess).await?;
    let mut others = Vec::new();
    for (what, mode) in [
        ("scheduler as its own process", Mode::Separate),
        ("creates only, no scheduler", Mode::None),
    ] {
        eprintln!("    reference: {what}");
        let r = one_run(bin, p, mode).await;
        if let Err(e) = &r {
            eprintln!("    {what} failed: {e:#}");
        }
        others.push(r.ok());
    }
    let baseline = others.pop().flatten();
    let separate = others.pop().flatten();
    Ok(E2eOutcome {
        main,
        separate,
        baseline,
    })
}
