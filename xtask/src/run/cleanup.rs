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
        Ok((status, _, err)) if status.success() => {
            // Warnings name what could not be removed; the leftover check
            // then reports it too.
            for line in err.lines().filter(|l| !l.trim().is_empty()) {
                step::info(&format!("{node}: {}", strip_ansi(line)));
            }
            None
        }
        Ok((status, out, err)) => Some(format!(
            "`orch agent teardown` of {node} failed ({status}): {}{}",
            out.trim(),
            err.trim()
        )),
        Err(e) => Some(format!("{e:#}")),
    }
}

/// `line` without terminal colour sequences.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
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
/// Fails if the run that wrote the record is still alive. Returns what the
/// previous run had seen.
pub fn previous_run(layout: &Layout, orch: &Path) -> Result<Seen> {
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
        stale.extend(
            r.agents
                .iter()
                .map(|(n, p)| (format!("agent {n}"), *p, Duration::ZERO)),
        );
        stale.extend(
            r.server
                .map(|p| ("orch server".to_string(), p, Duration::from_secs(10))),
        );
    }
    let seen = record.as_ref().map(|r| r.seen.clone()).unwrap_or_default();
    let host_left = leftovers::host_present(old);
    if record.is_none() && nodes.is_empty() && !host_left {
        return Ok(seen);
    }
    let t = step::start(&format!(
        "cleanup: a previous run left things behind in {}",
        old.state.display()
    ));
    // Agents first and with SIGKILL, as at the end of a run (see
    // `Cluster::stop_processes`), then the server.
    for (what, pid, grace) in stale {
        procs::stop_stale(pid, &what, grace, is_cluster_process(&old_orch, &old.state));
    }
    for node in &nodes {
        step::info(&format!("tearing down {node}"));
        if let Some(problem) = teardown_node(orch, old, node) {
            step::info(&problem);
        }
    }
    leftovers::remove_pods(&seen);
    remove_host(old);
    let _ = std::fs::remove_file(old.ready_file());
    Record::remove(old);
    step::finish("previous run cleaned up", t);
    Ok(seen)
}

/// Stops and removes the whole cluster, then checks that nothing of it is
/// left; fails listing what is.
pub fn teardown(cluster: &mut Cluster) -> Result<()> {
    let t = step::start("teardown: stopping the agents and the server");
    cluster.observe();
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
    for p in &problems {
        step::info(p);
    }
    step::finish("nodes torn down", t);
    let t = step::start("teardown: checking that nothing is left");
    let left = leftovers::scan(&layout, cluster.seen(), &nodes);
    if left.is_empty() && problems.is_empty() {
        Record::remove(&layout);
        step::finish("nothing is left", t);
        step::done("cluster stopped, nothing left");
        return Ok(());
    }
    for l in &left {
        step::info(&format!("left behind: {l}"));
    }
    // The record tells `--clean` (or the next run) what to remove.
    cluster.keep_record();
    step::finish(&format!("{} thing(s) left", left.len()), t);
    bail!(
        "teardown left {} thing(s) behind and had {} problem(s); \
         `cargo xtask run --clean` tries again",
        left.len(),
        problems.len()
    )
}
