//! Taking a cluster apart: `orch agent teardown` for each node (pods'
//! processes, cgroups, pod and node namespaces, veths, routes, bpf pins,
//! proxy rules), then what the nodes share on the host (the bridge and the
//! `unreachable` routes). Also the clean-up of a run that crashed: stop
//! the processes its record names, and tear down every node of its layout
//! that left something behind.
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{bail, Result};

use super::{
    cluster::Cluster,
    layout::Layout,
    leftovers::{self, Seen},
    procs::{self, run_bounded},
    record::Record,
};
use crate::step;

/// Time limit of one `orch agent teardown`.
const TEARDOWN_LIMIT: Duration = Duration::from_secs(60);

/// Runs `orch agent teardown` for `node`; returns a problem, if any.
pub fn teardown_node(orch: &Path, layout: &Layout, node: &str) -> Option<String> {
    let mut cmd = Command::new(orch);
    cmd.args(["agent", "teardown", "--node-name", node, "--simulate-node"])
        .arg("--data-dir")
        .arg(layout.agent_dir(node))
        .args(layout.agent_layout_args())
        .env("RUST_LOG", "warn");
    match run_bounded(&mut cmd, TEARDOWN_LIMIT) {
        Ok((status, _, _)) if status.success() => None,
        Ok((status, out, err)) => Some(format!(
            "`orch agent teardown` of {node} failed ({status}): {}{}",
            out.trim(),
            err.trim()
        )),
        Err(e) => Some(format!("{e:#}")),
    }
}

/// Removes the host bridge and the host's `unreachable` routes for the
/// service and pod CIDRs (shared by all nodes; the last node's teardown
/// leaves them).
pub fn remove_host(layout: &Layout) {
    if step::succeeds(Command::new("ip").args(["link", "show", &layout.bridge])) {
        step::succeeds(Command::new("ip").args(["link", "del", &layout.bridge]));
    }
    for cidr in [layout.service_cidr, layout.pod_cidr] {
        step::succeeds(Command::new("ip").args(["route", "del", "unreachable", &cidr.to_string()]));
    }
}

/// Whether a command line is one of the cluster's processes: the orch
/// binary, working under the state directory.
fn is_cluster_process(orch: &Path, state: &Path) -> impl Fn(&[String]) -> bool {
    let orch = orch.display().to_string();
    let state = state.display().to_string();
    move |argv: &[String]| {
        argv.first().is_some_and(|a| a == &orch) && argv.iter().any(|a| a.starts_with(&state))
    }
}

/// Whether a command line is an `xtask run` process.
fn is_xtask(argv: &[String]) -> bool {
    argv.first()
        .is_some_and(|a| a.rsplit('/').next().is_some_and(|b| b == "xtask"))
        && argv.iter().any(|a| a == "run")
}

/// Cleans up after a run that did not end cleanly: stops the processes
/// its record names, tears down every node of the layout that left
/// something, and removes the host bridge, routes, `ready` and the record.
/// Fails if the run that wrote the record is still alive.
pub fn previous_run(layout: &Layout, orch: &Path) -> Result<()> {
    let record = Record::load(&layout.record_file())?;
    if let Some(r) = &record {
        if r.xtask != std::process::id() && procs::alive_as(r.xtask, is_xtask) {
            bail!(
                "a cluster is already running from {} (xtask pid {}); \
                 stop it with Ctrl-C or `kill {}` first",
                layout.state.display(),
                r.xtask,
                r.xtask
            );
        }
    }
    let old = record.as_ref().map_or(layout, |r| &r.layout);
    let old_orch: PathBuf = record
        .as_ref()
        .map_or(orch.to_path_buf(), |r| r.orch.clone());
    let mut nodes: BTreeSet<String> = leftovers::nodes_present(old).into_iter().collect();
    let mut stale = Vec::new();
    if let Some(r) = &record {
        nodes.extend(r.agents.iter().map(|(n, _)| n.clone()));
        stale.extend(r.agents.iter().map(|(n, p)| (format!("agent {n}"), *p)));
        stale.extend(r.server.map(|p| ("orch server".to_string(), p)));
    }
    let host_left = leftovers::host_present(old);
    if record.is_none() && nodes.is_empty() && !host_left {
        return Ok(());
    }
    let t = step::start(&format!(
        "cleanup: a previous run left things behind in {}",
        old.state.display()
    ));
    for (what, pid) in stale {
        procs::stop_stale(
            pid,
            &what,
            Duration::from_secs(10),
            is_cluster_process(&old_orch, &old.state),
        );
    }
    for node in &nodes {
        step::info(&format!("tearing down {node}"));
        if let Some(problem) = teardown_node(orch, old, node) {
            step::info(&problem);
        }
    }
    remove_host(old);
    let _ = std::fs::remove_file(old.ready_file());
    Record::remove(old);
    step::finish("previous run cleaned up", t);
    Ok(())
}

/// Stops and removes the whole cluster, then checks that nothing of it is
/// left; fails listing what is.
pub fn teardown(cluster: &mut Cluster, seen: &mut Seen) -> Result<()> {
    let t = step::start("teardown: stopping the agents and the server");
    seen.observe(&cluster.layout, &cluster.api);
    let _ = std::fs::remove_file(cluster.layout.ready_file());
    cluster.stop_processes();
    step::finish("processes stopped", t);
    let layout = cluster.layout.clone();
    let t = step::start("teardown: `orch agent teardown` of every node, then the host bridge");
    let mut problems = Vec::new();
    let nodes = layout.node_names();
    for node in &nodes {
        problems.extend(teardown_node(&cluster.bins.orch, &layout, node));
    }
    remove_host(&layout);
    Record::remove(&layout);
    for p in &problems {
        step::info(p);
    }
    step::finish("nodes torn down", t);
    let t = step::start("teardown: checking that nothing is left");
    let left = leftovers::scan(&layout, seen, &nodes);
    if left.is_empty() && problems.is_empty() {
        step::finish("nothing is left", t);
        step::done("cluster stopped, nothing left");
        return Ok(());
    }
    for l in &left {
        step::info(&format!("left behind: {l}"));
    }
    step::finish(&format!("{} thing(s) left", left.len()), t);
    bail!(
        "teardown left {} thing(s) behind and had {} problem(s); \
         `cargo xtask run --clean` tries again",
        left.len(),
        problems.len()
    )
}
