//! `bench pods`: pod startup on a real node agent. Starts the release
//! `orch server` and one `orch agent --simulate-node`, creates pods bound
//! to that node at a steady pace and measures create→Ready as a watch
//! sees it (goal p99 ≤ 200 ms), next to the bare kernel cost of what a pod
//! needs (netns, veth, exec; see [`bare`]) measured in the same run, and
//! the agent's resident memory holding the pods. Writes `pods.md`. Bounded
//! in count and time; everything it creates is removed, also on failure.
mod bare;
mod cluster;
mod startup;

use std::{path::Path, time::Duration};

use anyhow::Result;

use super::{
    process::{children, pss_kib, rss_kib},
    report::{ms, percentile, verdict, Report, Table},
    results::{millis, PodsFigures},
};

/// Parameters of the pods benchmark.
#[derive(Debug, Clone)]
pub struct PodsParams {
    /// Pods to create (and hold for the memory reading).
    pub pods: usize,
    /// Time between two creates.
    pub interval: Duration,
    /// Samples of the bare cost.
    pub bare_samples: usize,
    /// Longest wait for the pods to be Ready after the last create.
    pub cap: Duration,
}

impl Default for PodsParams {
    fn default() -> Self {
        Self {
            pods: 100,
            interval: Duration::from_millis(100),
            bare_samples: 100,
            cap: Duration::from_secs(120),
        }
    }
}

/// The goal for pod startup p99.
const GOAL_P99: Duration = super::goals::POD_STARTUP_P99;

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// Runs the benchmark, writes `pods.md` into `out` and returns the figures.
pub async fn run(p: &PodsParams, orch_bin: &Path, out: &Path) -> Result<PodsFigures> {
    crate::root::missing_privilege().map_or(Ok(()), |why| {
        Err(anyhow::anyhow!("bench pods needs root: {why}"))
    })?;
    eprintln!(
        "bench pods: bare netns + veth + exec, {} samples",
        p.bare_samples
    );
    let bare = bare::run(p.bare_samples).await?;
    eprintln!(
        "    p50 {} ms, p99 {} ms",
        ms(percentile(&bare, 50.0)),
        ms(percentile(&bare, 99.0))
    );

    eprintln!("bench pods: starting orch server and orch agent --simulate-node");
    let cluster = cluster::Cluster::start(orch_bin).await?;
    let client = cluster.client()?;
    // A first pod pays for one-time set-up (shared mounts, caches); it is
    // not counted.
    startup::run(
        client.clone(),
        &cluster.node,
        "warm",
        1,
        Duration::ZERO,
        Duration::from_secs(30),
    )
    .await?;
    let idle_rss = cluster.agent_rss_kib()?;
    eprintln!(
        "bench pods: {} pods, one every {} ms",
        p.pods,
        p.interval.as_millis()
    );
    let s = startup::run(client, &cluster.node, "p", p.pods, p.interval, p.cap).await?;
    let held_rss = cluster.agent_rss_kib()?;
    let shims: Vec<(u64, u64)> = cluster
        .agent_pid()
        .map(children)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| Some((rss_kib(c).ok()?.0, pss_kib(c).ok()?)))
        .collect();
    if s.capped {
        eprintln!("agent log:\n{}", cluster.agent_log_tail(30));
    }
    std::fs::create_dir_all(out)?;
    let log = out.join("pods-agent.log");
    match cluster.save_agent_log(&log) {
        Ok(()) => eprintln!("agent log written to {}", log.display()),
        Err(e) => eprintln!("could not keep the agent log: {e}"),
    }
    drop(cluster);

    let (p50, p99) = (
        percentile(&s.latencies, 50.0),
        percentile(&s.latencies, 99.0),
    );
    let (b50, b99) = (percentile(&bare, 50.0), percentile(&bare, 99.0));
    let max = s.latencies.last().copied().unwrap_or_default();
    eprintln!(
        "    {} of {} Ready; p50 {} ms, p99 {} ms",
        s.latencies.len(),
        s.created,
        ms(p50),
        ms(p99)
    );

    let mut r = Report::new("orch benchmark: pod startup");
    r.para(&format!(
        "\nParameters: the `orch` release binary as `orch server` (scheduler and controllers \
         in-process) and one `orch agent --simulate-node` (its node in a network namespace \
         on a host bridge). {} pods, created one every {} ms by one kube-rs client, each \
         bound to the node (`nodeName` set: the scheduler is not in the path), one \
         container running `sleep` from the host filesystem, no probes. A pod's startup \
         runs from just before its create request until a watch on the pods sees it \
         Ready. The bare cost, measured in the same run before the cluster starts: \
         a network namespace, a veth pair into it with an address, both ends up, and \
         `sleep` started in it (`nsenter --net`) until it runs ({} samples).",
        s.created,
        p.interval.as_millis(),
        bare.len()
    ));
    r.heading("Results");
    let mut t = Table::new(&["measurement", "samples", "p50 ms", "p99 ms", "max ms"]);
    t.row(vec![
        "pod create → Ready (watch)".into(),
        format!("{} of {}", s.latencies.len(), s.created),
        ms(p50),
        ms(p99),
        ms(max),
    ]);
    t.row(vec![
        "bare netns + veth + exec".into(),
        bare.len().to_string(),
        ms(b50),
        ms(b99),
        ms(bare.last().copied().unwrap_or_default()),
    ]);
    t.row(vec![
        "ratio pod / bare".into(),
        String::new(),
        format!("{:.1}×", p50.as_secs_f64() / b50.as_secs_f64().max(1e-9)),
        format!("{:.1}×", p99.as_secs_f64() / b99.as_secs_f64().max(1e-9)),
        String::new(),
    ]);
    r.table(&t);
    r.para(&format!(
        "\nGoal: pod startup p99 ≤ {} ms: **{}**{}.",
        GOAL_P99.as_millis(),
        verdict(p99 <= GOAL_P99 && !s.capped),
        if s.capped {
            " (not every pod was Ready within the cap)"
        } else {
            ""
        }
    ));
    r.heading("Memory");
    let mut m = Table::new(&["process", "RSS MiB", "PSS MiB"]);
    m.row(vec!["agent, one pod".into(), mib(idle_rss), String::new()]);
    m.row(vec![
        format!("agent, {} pods", s.created + 1),
        mib(held_rss),
        String::new(),
    ]);
    let n = (shims.len() as u64).max(1);
    m.row(vec![
        format!("init shims ({}), each on average", shims.len()),
        mib(shims.iter().map(|s| s.0).sum::<u64>() / n),
        mib(shims.iter().map(|s| s.1).sum::<u64>() / n),
    ]);
    r.table(&m);
    r.para(
        "\nEach container has an init shim (`orch tools init`) between the agent and \
         the command; it is a process of its own, not part of the agent's RSS. Its \
         RSS counts the pages of the `orch` binary that all shims share; PSS divides \
         shared pages among the processes that map them.",
    );
    r.emit(out, "pods.md")?;
    Ok(PodsFigures {
        created: s.created,
        ready: s.latencies.len(),
        capped: s.capped,
        pod_p50_ms: millis(p50),
        pod_p99_ms: millis(p99),
        bare_samples: bare.len(),
        bare_p50_ms: millis(b50),
        bare_p99_ms: millis(b99),
    })
}
