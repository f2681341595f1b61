//! One container of a pod: its spec translated for the runtime, the task
//! that waits for it (and stops it on request), and its restart state.
use std::{path::PathBuf, sync::Arc, time::Duration};

use k8s_openapi::api::core::v1::Container;
use tokio::sync::mpsc;

use super::status::{ContainerView, State, Terminated};
use crate::{
    agent::runtime::{self, ContainerSpec, Exit, Limits, Running},
    scheduler::quantity::{parse_milli, parse_value},
};

/// Something that happened to a container, sent to its pod worker.
#[derive(Debug)]
pub enum ContainerEvent {
    /// The run `generation` ended.
    Exited {
        /// Container name.
        name: String,
        /// Which run (its restart count).
        generation: u32,
        /// How it ended.
        exit: Exit,
    },
}

/// The runtime spec of `c`, or why it can't run.
pub fn runtime_spec(
    c: &Container,
    env: Vec<(String, String)>,
    restart_count: u32,
) -> Result<ContainerSpec, String> {
    let command = c.command.clone().unwrap_or_default();
    if command.is_empty() {
        return Err(format!(
            "container {:?} has no command: the host-process runtime runs commands from the host filesystem and cannot use an image's entrypoint",
            c.name
        ));
    }
    let limits = c.resources.as_ref().and_then(|r| r.limits.as_ref());
    let cpu = limits
        .and_then(|l| l.get("cpu"))
        .and_then(|q| parse_milli(&q.0))
        .and_then(|m| u64::try_from(m).ok());
    let mem = limits
        .and_then(|l| l.get("memory"))
        .and_then(|q| parse_value(&q.0))
        .and_then(|m| u64::try_from(m).ok());
    Ok(ContainerSpec {
        name: c.name.clone(),
        command,
        args: c.args.clone().unwrap_or_default(),
        env,
        working_dir: c.working_dir.as_ref().map(PathBuf::from),
        limits: Limits {
            cpu_millis: cpu,
            memory_bytes: mem,
        },
        restart_count,
    })
}

/// Lets the worker stop a running container.
#[derive(Debug, Clone)]
pub struct Handle {
    stop: mpsc::Sender<Duration>,
    /// Which run this is.
    pub generation: u32,
}

impl Handle {
    /// Asks the container to stop: SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(&self, grace: Duration) {
        let _ = self.stop.send(grace).await;
    }

    /// Whether the container's task has reported its exit.
    pub fn is_finished(&self) -> bool {
        self.stop.is_closed()
    }
}

/// Watches `running` until it exits or is stopped, then reports.
pub fn watch(
    mut running: Running,
    name: String,
    generation: u32,
    events: mpsc::Sender<ContainerEvent>,
) -> Handle {
    let (tx, mut rx) = mpsc::channel::<Duration>(1);
    tokio::spawn(async move {
        let exit = tokio::select! {
            e = running.wait() => e,
            Some(grace) = rx.recv() => running.stop(grace).await,
        };
        let exit = exit.unwrap_or(Exit::Unknown);
        let _ = events
            .send(ContainerEvent::Exited {
                name,
                generation,
                exit,
            })
            .await;
    });
    Handle {
        stop: tx,
        generation,
    }
}

/// Restart bookkeeping of one container.
#[derive(Debug)]
pub struct Slot {
    /// The spec.
    pub spec: Container,
    /// Restarts so far.
    pub restart_count: u32,
    /// The running instance, if any.
    pub handle: Option<Handle>,
    /// When the current run started (monotonic and RFC 3339).
    pub started: Option<(tokio::time::Instant, String)>,
    /// The state the status shows.
    pub state: State,
    /// The previous run.
    pub last: Option<Terminated>,
    /// Don't start before this (backoff).
    pub not_before: Option<tokio::time::Instant>,
    /// Readiness verdict.
    pub ready: bool,
    /// Startup verdict.
    pub started_ok: bool,
    /// Set when the container must not be started again.
    pub done: bool,
    /// Runtime id of the current run.
    pub container_id: String,
    /// Where its logs go.
    pub log_dir: PathBuf,
    /// Probe task of the current run.
    pub probes: Option<tokio::task::JoinHandle<()>>,
}

impl Slot {
    /// A new slot, waiting to be created.
    pub fn new(spec: Container, log_dir: PathBuf) -> Self {
        Self {
            spec,
            restart_count: 0,
            handle: None,
            started: None,
            state: State::Waiting {
                reason: "ContainerCreating".into(),
                message: String::new(),
            },
            last: None,
            not_before: None,
            ready: false,
            started_ok: false,
            done: false,
            container_id: String::new(),
            log_dir,
            probes: None,
        }
    }

    /// The status view.
    pub fn view(&self) -> ContainerView {
        ContainerView {
            name: self.spec.name.clone(),
            image: self.spec.image.clone().unwrap_or_default(),
            state: self.state.clone(),
            last: self.last.clone(),
            restart_count: self.restart_count,
            ready: self.ready,
            started: self.started_ok,
            container_id: self.container_id.clone(),
        }
    }

    /// Stops the probe task of the current run.
    pub fn stop_probes(&mut self) {
        if let Some(p) = self.probes.take() {
            p.abort();
        }
    }
}

/// Re-adopts a container still running from before an agent restart.
pub fn adopt(
    state_dir: &std::path::Path,
    name: &str,
) -> Option<(runtime::ContainerState, Running)> {
    let st = runtime::load_state(state_dir, name).ok().flatten()?;
    let running = Running::adopt(&st)?;
    Some((st, running))
}

/// Shares the pod namespaces between the worker and its probe tasks.
pub type SharedNamespaces = Arc<runtime::PodNamespaces>;
