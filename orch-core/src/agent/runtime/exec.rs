//! Running a command in a running container (exec probes). The init shim
//! is started through the containers' spawn path with `--exec`, in the
//! container's cgroup, after joining, between fork and exec, the network,
//! UTS, IPC, PID (for its children) and mount namespaces of the container's
//! PID 1; it then forks the command as an ordinary process of the
//! container. Its output comes back through a pipe, its exit code is
//! the command's, and on timeout its whole process group is killed.
use std::{
    ffi::OsString,
    fs, io,
    path::{Path, PathBuf},
    time::Duration,
};

use nix::{
    sched::CloneFlags,
    sys::signal::{kill, Signal},
    unistd::Pid,
};
use tokio::io::AsyncReadExt;

use super::{
    logs::{plain_text, ENV_LOG_MAX},
    namespaces::open_ns,
    process::{cstring, join_v1_groups, Exit, Launch, Runtime},
    state,
    sys::Op,
};

/// Output kept from an exec, as the kubelet keeps for probes.
pub const MAX_OUTPUT: usize = 10 << 10;

/// The running container to exec in.
#[derive(Debug, Clone)]
pub struct ExecTarget {
    /// Pid of the container's init shim (as [`super::Running::pid`]).
    pub pid: i32,
    /// Its start time, against pid reuse.
    pub start_time: u64,
    /// The container's cgroup.
    pub cgroup: PathBuf,
    /// The container's environment.
    pub env: Vec<(String, String)>,
    /// The container's working directory (`/` if unset).
    pub working_dir: Option<PathBuf>,
}

/// How an exec ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// The command's exit; `None` if it was killed at the timeout.
    pub exit: Option<Exit>,
    /// Its stdout and stderr, interleaved, at most [`MAX_OUTPUT`] bytes.
    pub output: String,
}

fn not_running(pid: i32) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("the container (init shim pid {pid}) is not running"),
    )
}

/// The pid of the container's PID 1: the shim's child.
fn container_pid1(shim: i32) -> io::Result<i32> {
    let children = fs::read_to_string(format!("/proc/{shim}/task/{shim}/children"))
        .map_err(|_| not_running(shim))?;
    children
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| not_running(shim))
}

/// Parent pid of `pid` (field 4 of `/proc/<pid>/stat`).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

impl Runtime {
    /// Runs `argv` in the container `target`, waiting at most `timeout`.
    /// An error means it could not be started (for example the container
    /// is not running); a command that ran and failed is an [`ExecOutput`].
    pub async fn exec(
        &self,
        target: &ExecTarget,
        argv: &[String],
        timeout: Duration,
    ) -> io::Result<ExecOutput> {
        if argv.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "exec: no command given",
            ));
        }
        let pid1 = container_pid1(target.pid)?;
        let ns = |kind: &str| open_ns(Path::new(&format!("/proc/{pid1}/ns/{kind}")));
        let workdir = target
            .working_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("/"));
        let mut steps: Vec<(Op, String)> = vec![(Op::Setsid, "starting a new session".into())];
        steps.extend(join_v1_groups(&target.cgroup)?);
        steps.extend([
            (
                Op::Setns(ns("net")?, CloneFlags::CLONE_NEWNET),
                "joining the container's network namespace".into(),
            ),
            (
                Op::Setns(ns("uts")?, CloneFlags::CLONE_NEWUTS),
                "joining the container's UTS namespace".into(),
            ),
            (
                Op::Setns(ns("ipc")?, CloneFlags::CLONE_NEWIPC),
                "joining the container's IPC namespace".into(),
            ),
            (
                Op::Setns(ns("pid")?, CloneFlags::CLONE_NEWPID),
                "joining the container's PID namespace".into(),
            ),
            (
                Op::Setns(ns("mnt")?, CloneFlags::CLONE_NEWNS),
                "joining the container's mount namespace".into(),
            ),
            (
                Op::Chdir(cstring("workingDir", &workdir)?),
                format!("changing to workingDir {}", workdir.display()),
            ),
        ]);
        // Checked after opening: the descriptors belong to this container.
        if parent_of(pid1) != Some(target.pid) || !state::is_alive(target.pid, target.start_time) {
            return Err(not_running(target.pid));
        }
        let (ops, steps) = steps.into_iter().unzip();
        let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let argv: Vec<&String> = argv.iter().collect();
        let shim = self.spawn_shim(Launch {
            mode: &["tools", "init", "--exec", "--"],
            argv: &argv,
            env: &target.env,
            shim_env: vec![(ENV_LOG_MAX, OsString::from((2 * MAX_OUTPUT).to_string()))],
            stdout: out_w.try_clone()?,
            stderr: out_w,
            cgroup: &target.cgroup,
            ops,
            steps,
            what: format!("exec {:?} in the container", argv[0]),
        })?;
        let mut out = tokio::net::unix::pipe::Receiver::from_owned_fd(out_r)?;
        let run = async {
            let mut kept = Vec::new();
            let mut chunk = vec![0u8; 8 << 10];
            loop {
                let n = out.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                let room = (4 * MAX_OUTPUT).saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
            }
            let exit = shim.wait().await?;
            Ok::<_, io::Error>((exit, kept))
        };
        let (exit, raw) = match tokio::time::timeout(timeout, run).await {
            Ok(done) => {
                let (exit, raw) = done?;
                (Some(exit), raw)
            }
            Err(_) => {
                // The shim leads its own process group (setsid).
                let _ = kill(Pid::from_raw(-shim.pid), Signal::SIGKILL);
                let _ = shim.wait().await;
                (None, Vec::new())
            }
        };
        let mut output = String::from_utf8_lossy(&plain_text(&raw)).into_owned();
        if output.len() > MAX_OUTPUT {
            let mut end = MAX_OUTPUT;
            while !output.is_char_boundary(end) {
                end -= 1;
            }
            output.truncate(end);
        }
        Ok(ExecOutput { exit, output })
    }
}
