//! The probe task of one container run: startup, readiness and liveness
//! probes on their own schedules (startup first; the others once it
//! passed), each counted against its thresholds, with every change of
//! verdict sent to the pod worker. Network probes run from the pod's
//! network namespace; exec probes run in the container itself.
use std::{collections::BTreeMap, net::IpAddr, path::PathBuf, time::Duration};

use k8s_openapi::api::core::v1::Container;
use tokio::{sync::mpsc, time::Instant};

use super::probe::{self, Action, Outcome, Timing, Tracker};
use crate::agent::runtime::{ExecTarget, Runtime};

/// A probe verdict sent to the worker.
#[derive(Debug)]
pub struct ProbeEvent {
    /// Container name.
    pub name: String,
    /// Which run of the container (its restart count).
    pub generation: u32,
    /// Which probe.
    pub kind: ProbeKind,
    /// The new verdict.
    pub passing: bool,
    /// Why the last run failed, if it did.
    pub message: String,
}

/// The three kinds of probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// Gates the others; failing restarts the container.
    Startup,
    /// Decides whether the container is Ready.
    Readiness,
    /// Failing restarts the container.
    Liveness,
}

/// Where one container run's probes go.
#[derive(Debug, Clone)]
pub struct Target {
    /// The pod's network namespace (network probes).
    pub netns: PathBuf,
    /// The pod's IP (the default probe host).
    pub ip: IpAddr,
    /// The running container (exec probes).
    pub exec: ExecTarget,
    /// The runtime that execs in it.
    pub runtime: Runtime,
}

fn named_ports(c: &Container) -> Vec<(String, u16)> {
    c.ports
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| Some((p.name?, u16::try_from(p.container_port).ok()?)))
        .collect()
}

/// Runs one probe once.
async fn run_once(target: &Target, action: &Action, timeout: Duration) -> Outcome {
    match action {
        Action::Exec(cmd) => probe::run_exec(&target.runtime, &target.exec, cmd, timeout).await,
        other => probe::run_network(target.netns.clone(), other.clone(), timeout).await,
    }
}

/// One probe's schedule and verdict.
struct Scheduled {
    kind: ProbeKind,
    action: Action,
    timing: Timing,
    tracker: Tracker,
    next: Instant,
}

/// Starts the probe task of run `generation` of container `c`; `None` if
/// it has no (valid) probes. Invalid probes are logged and ignored.
pub fn spawn(
    c: &Container,
    generation: u32,
    target: Target,
    tx: mpsc::Sender<ProbeEvent>,
) -> Option<tokio::task::JoinHandle<()>> {
    let ports = named_ports(c);
    let mut probes = BTreeMap::new();
    for (kind, p) in [
        (ProbeKind::Startup, &c.startup_probe),
        (ProbeKind::Readiness, &c.readiness_probe),
        (ProbeKind::Liveness, &c.liveness_probe),
    ] {
        if let Some(p) = p {
            match probe::resolve(p, target.ip, &ports) {
                Ok(resolved) => {
                    probes.insert(kind as u8, (kind, resolved));
                }
                Err(e) => tracing::warn!(container = %c.name, "ignoring probe: {e}"),
            }
        }
    }
    if probes.is_empty() {
        return None;
    }
    let name = c.name.clone();
    Some(tokio::spawn(async move {
        let mut probes: Vec<Scheduled> = probes
            .into_values()
            .map(|(kind, (action, timing))| Scheduled {
                kind,
                action,
                // Liveness and startup count failures from "passing";
                // readiness starts failing until its first success.
                tracker: Tracker::new(timing.clone(), kind != ProbeKind::Readiness),
                next: Instant::now() + timing.initial_delay,
                timing,
            })
            .collect();
        let mut started = !probes.iter().any(|p| p.kind == ProbeKind::Startup);
        loop {
            let now = Instant::now();
            let due = |p: &Scheduled, started: bool| {
                if started {
                    p.kind != ProbeKind::Startup
                } else {
                    p.kind == ProbeKind::Startup
                }
            };
            let next = probes
                .iter()
                .filter(|p| due(p, started))
                .map(|p| p.next)
                .min()
                .unwrap_or(now + Duration::from_secs(1));
            tokio::time::sleep_until(next).await;
            for p in probes.iter_mut() {
                if !due(p, started) || p.next > Instant::now() {
                    continue;
                }
                let outcome = run_once(&target, &p.action, p.timing.timeout).await;
                p.next = Instant::now() + p.timing.period;
                let changed = p.tracker.record(&outcome);
                let message = match &outcome {
                    Outcome::Failure(m) => m.clone(),
                    Outcome::Success => String::new(),
                };
                let startup_passed = p.kind == ProbeKind::Startup && outcome == Outcome::Success;
                if startup_passed {
                    started = true;
                }
                if changed || startup_passed {
                    let _ = tx
                        .send(ProbeEvent {
                            name: name.clone(),
                            generation,
                            kind: p.kind,
                            passing: p.tracker.passing
                                && (p.kind != ProbeKind::Startup || startup_passed),
                            message,
                        })
                        .await;
                }
            }
        }
    }))
}
