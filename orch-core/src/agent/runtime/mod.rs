//! The agent's container runtime, a host-process runtime: a container is a
//! process started from the host's filesystem (no images yet) inside its
//! pod's network, UTS and IPC namespaces, with a mount and a PID namespace
//! of its own (the command is PID 1), a cgroup v2 group with its limits, a
//! bind-mounted `/etc/resolv.conf`, `/etc/hosts` and service account, and
//! its output in size-capped log files. Linux only.
//!
//! The agent runs its own binary as the init shim (`orch tools init`, see
//! [`init`]), which stays between the agent and the command, so containers
//! and their logging survive an agent restart and can be re-adopted
//! ([`Running::adopt`]).
pub mod cgroup;
pub mod exec;
pub mod init;
pub mod logs;
pub mod namespaces;
pub mod process;
pub mod state;
mod sys;

pub use cgroup::{create_cgroup, pod_cgroup, remove_cgroup};
pub use exec::{ExecOutput, ExecTarget};
pub use logs::{follow_logs, follow_logs_while, log_runs, read_logs, read_run, LogSink};
pub use namespaces::PodNamespaces;
pub use process::{ContainerSpec, Exit, Limits, PodContext, Running, Runtime, RuntimeConfig};
pub use state::{is_alive, load_state, remove_state, save_state, wait_adopted, ContainerState};
