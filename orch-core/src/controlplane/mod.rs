//! Starting the control loops (scheduler and controller manager) as API
//! clients, each behind its own leader Lease, whether they run inside
//! `orch server` or as separate processes.
mod client;

use std::time::Duration;

pub use client::client_from;

use crate::{
    controllers::{self, leader::LeaseConfig, ControllerOptions},
    scheduler::{self, SchedulerOptions},
};

/// Which loops to run, and how.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    /// Run the controller manager.
    pub controllers: bool,
    /// Run the scheduler.
    pub scheduler: bool,
    /// Controller settings.
    pub controller: ControllerOptions,
    /// Scheduler settings.
    pub sched: SchedulerOptions,
    /// Leader Lease duration (renew deadline is 2/3 of it, retry 2/15).
    pub lease_duration: Duration,
    /// This process's identity in leader election.
    pub identity: String,
}

impl Default for LoopOptions {
    fn default() -> Self {
        Self {
            controllers: true,
            scheduler: true,
            controller: ControllerOptions::default(),
            sched: SchedulerOptions::default(),
            lease_duration: Duration::from_secs(15),
            identity: default_identity(),
        }
    }
}

/// `<hostname>_<random>`, unique per process.
pub fn default_identity() -> String {
    let host =
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "orch".into());
    format!("{}_{:08x}", host.trim(), rand::random::<u32>())
}

fn lease(name: &str, o: &LoopOptions) -> LeaseConfig {
    let mut l = LeaseConfig::new(name, &o.identity);
    l.lease_duration = o.lease_duration;
    l.renew_deadline = o.lease_duration * 2 / 3;
    l.retry_period = (o.lease_duration * 2 / 15).max(Duration::from_millis(200));
    l
}

/// Spawns the selected loops; they run until the returned tasks are
/// aborted.
pub fn spawn(client: kube::Client, o: LoopOptions) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    if o.controllers {
        let (c, opts) = (client.clone(), o.controller.clone());
        tasks.push(tokio::spawn(controllers::leader::run(
            client.clone(),
            lease("orch-controller-manager", &o),
            move || controllers::run_all(c.clone(), opts.clone()),
        )));
    }
    if o.scheduler {
        let (c, opts) = (client.clone(), o.sched.clone());
        tasks.push(tokio::spawn(controllers::leader::run(
            client,
            lease("orch-scheduler", &o),
            move || {
                let (c, opts) = (c.clone(), opts.clone());
                async move {
                    controllers::runtime::supervise("scheduler", || {
                        scheduler::run(c.clone(), opts.clone())
                    })
                    .await
                }
            },
        )));
    }
    tasks
}
