//! Starting a container: the agent runs its own binary as the init shim
//! (`orch tools init -- CMD ARGS...`) inside the pod's net, uts and ipc
//! namespaces, in a new mount namespace and in the container's cgroup; the
//! shim forks the command as PID 1 of a new PID namespace, staying outside
//! it to supervise it. [`Running`] waits for, signals and stops it, and
//! re-adopts it after an agent restart. The same spawn path starts the
//! shim for execs into a running container (see [`super::exec`]).
use std::{
    ffi::{CString, OsStr},
    fs,
    io::{self, Read},
    os::{fd::OwnedFd, unix::ffi::OsStrExt},
    path::{Path, PathBuf},
    time::Duration,
};

use nix::{
    mount::MsFlags,
    sched::CloneFlags,
    sys::{signal::Signal, stat::Mode, wait::WaitStatus},
    unistd::Pid,
};

use super::{
    cgroup,
    logs::{LogSink, ENV_LOG_MAX, ENV_LOG_PATH},
    namespaces::{check_component, open_ns, PodNamespaces},
    state::{self, ContainerState},
    sys::{self, Op},
};

/// `PATH` given to containers whose environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where the service account directory appears in containers.
pub const SERVICE_ACCOUNT_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The tmpfs that holds [`SERVICE_ACCOUNT_MOUNT`] inside the container.
const SECRETS_DIR: &str = "/var/run/secrets";

/// Resource limits of one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// CPU limit in millicores (`cpu.max`).
    pub cpu_millis: Option<u64>,
    /// Memory limit in bytes (`memory.max`).
    pub memory_bytes: Option<u64>,
}

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    /// Container name (a plain file name: it names the cgroup and logs).
    pub name: String,
    /// Executable and first arguments, resolved through the `PATH` of `env`.
    pub command: Vec<String>,
    /// Further arguments.
    pub args: Vec<String>,
    /// Environment (the agent's own is not inherited). `PATH` defaults to
    /// [`DEFAULT_PATH`].
    pub env: Vec<(String, String)>,
    /// Working directory (absolute); `/` if unset. It must exist.
    pub working_dir: Option<PathBuf>,
    /// Resource limits.
    pub limits: Limits,
    /// How many times this container restarted (names its log file).
    pub restart_count: u32,
}

/// The pod a container runs in.
#[derive(Debug, Clone)]
pub struct PodContext<'a> {
    /// The pod's key (for error messages).
    pub pod_key: String,
    /// The pod's network namespace.
    pub netns_path: PathBuf,
    /// The pod's UTS and IPC namespaces.
    pub namespaces: &'a PodNamespaces,
    /// Bind-mounted over `/etc/resolv.conf`.
    pub resolv_conf: PathBuf,
    /// Bind-mounted over `/etc/hosts`.
    pub hosts: PathBuf,
    /// Bind-mounted read-only at [`SERVICE_ACCOUNT_MOUNT`].
    pub service_account_dir: Option<PathBuf>,
    /// The pod's cgroup (`<root>/orch/<node>/<pod-uid>`); the container's
    /// is `<cgroup_parent>/<name>`.
    pub cgroup_parent: PathBuf,
}

/// Settings of the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The `orch` binary, run as `orch tools init`. Defaults to
    /// `/proc/self/exe` (the agent itself).
    pub init_binary: PathBuf,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            init_binary: PathBuf::from("/proc/self/exe"),
        }
    }
}

/// How a container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exited with this code (128+N if its command was killed by signal N).
    Code(i32),
    /// The shim itself was killed by this signal (e.g. SIGKILL after the
    /// grace period); the command died with it.
    Signaled(i32),
    /// An adopted container ended; its status is lost.
    Unknown,
}

impl Exit {
    /// The exit code Kubernetes reports: the code, 128+signal, or -1.
    pub fn exit_code(&self) -> i32 {
        match *self {
            Exit::Code(c) => c,
            Exit::Signaled(s) => 128 + s,
            Exit::Unknown => -1,
        }
    }

    /// The reason Kubernetes reports: `Completed`, `Error` or `Unknown`.
    pub fn reason(&self) -> &'static str {
        match self {
            Exit::Code(0) => "Completed",
            Exit::Unknown => "Unknown",
            _ => "Error",
        }
    }
}

/// A started (or re-adopted) container.
#[derive(Debug)]
pub struct Running {
    /// Pid of the init shim in the agent's PID namespace. Signals sent to it
    /// are forwarded to the command; SIGKILL kills both.
    pub pid: i32,
    /// Start time of `pid` (clock ticks since boot), against pid reuse.
    pub start_time: u64,
    /// When the container was started.
    pub started_at: jiff::Timestamp,
    /// The container's cgroup.
    pub cgroup: PathBuf,
    /// The container's current log file.
    pub log_path: PathBuf,
    /// Limits that could not be enforced, for pod Events.
    pub warnings: Vec<String>,
    /// Set when the runtime started it (its status can be collected).
    shim: Option<Shim>,
    /// pidfd of an adopted container.
    pidfd: Option<OwnedFd>,
    exit: Option<Exit>,
}

/// How [`Runtime::spawn_shim`] starts the init shim.
#[derive(Debug)]
pub(crate) struct Launch<'a> {
    /// The shim's own arguments (`tools init [--exec] --`).
    pub mode: &'a [&'a str],
    /// The command and its arguments.
    pub argv: &'a [&'a String],
    /// The command's environment.
    pub env: &'a [(String, String)],
    /// The shim's variables (removed before the command runs).
    pub shim_env: Vec<(&'static str, std::ffi::OsString)>,
    /// The shim's stdout.
    pub stdout: OwnedFd,
    /// The shim's stderr.
    pub stderr: OwnedFd,
    /// The cgroup the shim starts in.
    pub cgroup: &'a Path,
    /// Steps between fork and exec.
    pub ops: Vec<Op>,
    /// What each step does, for errors.
    pub steps: Vec<String>,
    /// What is being started, for errors.
    pub what: String,
}

/// A started init shim: the runtime's own child.
#[derive(Debug)]
pub(crate) struct Shim {
    /// Its pid.
    pub pid: i32,
    /// Its pidfd.
    pub pidfd: OwnedFd,
}

impl Shim {
    /// Collects the status of the exited shim (it must have exited).
    fn reap(&self) -> io::Result<Exit> {
        Ok(
            match nix::sys::wait::waitpid(Pid::from_raw(self.pid), None)? {
                WaitStatus::Exited(_, code) => Exit::Code(code),
                WaitStatus::Signaled(_, sig, _) => Exit::Signaled(sig as i32),
                _ => Exit::Unknown,
            },
        )
    }

    /// Waits until the shim exits and collects its status. Cancel-safe.
    pub async fn wait(&self) -> io::Result<Exit> {
        sys::pidfd_exited(self.pidfd.try_clone()?).await?;
        self.reap()
    }
}

/// The container runtime.
#[derive(Debug, Clone, Default)]
pub struct Runtime {
    config: RuntimeConfig,
}

/// Converts to a C string, rejecting interior NULs.
pub(super) fn cstring(what: &str, s: impl AsRef<OsStr>) -> io::Result<CString> {
    CString::new(s.as_ref().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} contains a NUL byte"),
        )
    })
}

/// Steps that put the process into the cgroup v1 fallback groups of the
/// container whose cgroup is `cgroup` (see [`cgroup::v1_groups`]).
pub(super) fn join_v1_groups(cgroup: &Path) -> io::Result<Vec<(Op, String)>> {
    cgroup::v1_groups(cgroup)
        .into_iter()
        .map(|g| {
            let procs = fs::OpenOptions::new()
                .write(true)
                .open(g.join("cgroup.procs"))?;
            Ok((
                Op::JoinCgroup(procs.into()),
                format!("joining the cgroup v1 group {}", g.display()),
            ))
        })
        .collect()
}

/// A bind mount of `source` onto `target`.
fn bind(source: &Path, target: &str) -> io::Result<Op> {
    Ok(Op::Mount {
        source: Some(cstring("mount source", source)?),
        target: cstring("mount target", target)?,
        fstype: None,
        flags: MsFlags::MS_BIND,
        data: None,
    })
}

/// Fails with `InvalidInput` if `path` is not an existing file or directory.
fn require(what: &str, path: &Path, dir: bool) -> io::Result<()> {
    let ok = fs::metadata(path).is_ok_and(|m| if dir { m.is_dir() } else { m.is_file() });
    if ok {
        Ok(())
    } else {
        let kind = if dir { "directory" } else { "file" };
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} {} is not an existing {kind}", path.display()),
        ))
    }
}

impl Runtime {
    /// A runtime with these settings.
    pub fn new(config: RuntimeConfig) -> Self {
        Self { config }
    }

    /// The settings.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Starts the init shim, directly in the cgroup `l.cgroup`, with
    /// `l.ops` run between fork and exec. Returns once the shim has exec'd;
    /// an error names the step that failed.
    pub(crate) fn spawn_shim(&self, l: Launch<'_>) -> io::Result<Shim> {
        let fail = |what: String, e: io::Error| {
            io::Error::new(e.kind(), format!("{}: {what}: {e}", l.what))
        };
        let bin = &self.config.init_binary;
        let path = cstring("the init binary path", bin)?;
        let mut argv = vec![path.clone()];
        for a in l
            .mode
            .iter()
            .copied()
            .chain(l.argv.iter().map(|a| a.as_str()))
        {
            argv.push(cstring("an argument", a)?);
        }
        let mut envp = Vec::new();
        let vars = l.env.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v)));
        let shim_vars = l
            .shim_env
            .iter()
            .map(|(k, v)| (OsStr::new(k), v.as_os_str()));
        for (k, v) in vars.chain(shim_vars) {
            envp.push(super::init::env_entry(k, v).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("environment variable {k:?} contains a NUL byte"),
                )
            })?);
        }
        if !l.env.iter().any(|(k, _)| k == "PATH") {
            envp.extend(super::init::env_entry(
                OsStr::new("PATH"),
                OsStr::new(DEFAULT_PATH),
            ));
        }
        let (argv_p, envp_p) = (super::init::pointers(&argv), super::init::pointers(&envp));
        let null: OwnedFd = fs::File::open("/dev/null")?.into();
        let cgroup: OwnedFd = fs::File::open(l.cgroup)
            .map_err(|e| fail(format!("opening cgroup {}", l.cgroup.display()), e))?
            .into();
        let (mut report_r, report_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map(|(r, w)| (fs::File::from(r), w))?;
        let (pid, pidfd) = sys::spawn(&sys::Spawn {
            path: &path,
            argv: &argv_p,
            envp: &envp_p,
            stdio: [&null, &l.stdout, &l.stderr],
            ops: &l.ops,
            report: &report_w,
            cgroup: &cgroup,
        })
        .map_err(|e| {
            fail(
                format!(
                    "starting {} in cgroup {}",
                    bin.display(),
                    l.cgroup.display()
                ),
                e,
            )
        })?;
        drop(report_w);
        let shim = Shim { pid, pidfd };
        let mut report = [0u8; 6];
        match report_r.read_exact(&mut report) {
            // EOF: the pipe was closed by a successful exec.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(shim),
            Err(e) => {
                let _ = sys::pidfd_send_signal(&shim.pidfd, Signal::SIGKILL);
                let _ = shim.reap();
                Err(fail("reading the start report".into(), e))
            }
            Ok(()) => {
                let _ = shim.reap();
                let step = u16::from_le_bytes([report[0], report[1]]);
                let errno = i32::from_le_bytes([report[2], report[3], report[4], report[5]]);
                let step = match step {
                    sys::STEP_EXEC => format!("running {}", bin.display()),
                    i => l
                        .steps
                        .get(usize::from(i))
                        .cloned()
                        .unwrap_or_else(|| "setting up".into()),
                };
                Err(fail(step, io::Error::from_raw_os_error(errno)))
            }
        }
    }

    /// Starts the container: creates its cgroup (`<cgroup_parent>/<name>`)
    /// and log file, then the init shim in the pod. Must be called within a
    /// Tokio runtime. An error names the step that failed.
    pub fn start(
        &self,
        spec: &ContainerSpec,
        pod: &PodContext<'_>,
        log: &LogSink,
    ) -> io::Result<Running> {
        check_component("container name", &spec.name)?;
        let argv: Vec<&String> = spec.command.iter().chain(&spec.args).collect();
        if argv.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("container {:?} has no command", spec.name),
            ));
        }
        if spec.working_dir.as_ref().is_some_and(|w| !w.is_absolute()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "workingDir must be an absolute path",
            ));
        }
        require("resolv.conf", &pod.resolv_conf, false)?;
        require("hosts file", &pod.hosts, false)?;
        if let Some(sa) = &pod.service_account_dir {
            require("service account directory", sa, true)?;
            // The tmpfs in the container needs a mount point; only this
            // empty directory is created on the host.
            fs::create_dir_all(SECRETS_DIR)?;
        }

        let cgroup_path = pod.cgroup_parent.join(&spec.name);
        let warnings = cgroup::create_cgroup(&cgroup_path, &spec.limits)?;
        let (log_file, log_path) = log.open(&spec.name, spec.restart_count)?;
        let (ops, steps) = Self::setup_ops(spec, pod, &cgroup_path)?;

        let (pod_key, name) = (&pod.pod_key, &spec.name);
        let shim = self.spawn_shim(Launch {
            mode: &["tools", "init", "--"],
            argv: &argv,
            env: &spec.env,
            shim_env: vec![
                (ENV_LOG_PATH, log_path.as_os_str().to_owned()),
                (ENV_LOG_MAX, log.max_file_bytes().to_string().into()),
            ],
            stdout: log_file.try_clone()?.into(),
            stderr: log_file.into(),
            cgroup: &cgroup_path,
            ops,
            steps,
            what: format!("starting container {name:?} of pod {pod_key:?}"),
        })?;
        let start_time = match state::process_start_time(shim.pid) {
            Ok(t) => t,
            Err(e) => {
                // Untrackable (and not re-adoptable): don't leave it running.
                let _ = sys::pidfd_send_signal(&shim.pidfd, Signal::SIGKILL);
                let _ = shim.reap();
                return Err(e);
            }
        };
        Ok(Running {
            pid: shim.pid,
            start_time,
            started_at: jiff::Timestamp::now(),
            cgroup: cgroup_path,
            log_path,
            warnings,
            shim: Some(shim),
            pidfd: None,
            exit: None,
        })
    }

    /// The steps run between fork and exec, with a description of each.
    fn setup_ops(
        spec: &ContainerSpec,
        pod: &PodContext<'_>,
        cgroup: &Path,
    ) -> io::Result<(Vec<Op>, Vec<String>)> {
        let ns = pod.namespaces;
        let mut steps: Vec<(Op, String)> = vec![(Op::Setsid, "starting a new session".into())];
        steps.extend(join_v1_groups(cgroup)?);
        steps.extend([
            (
                Op::Setns(open_ns(&pod.netns_path)?, CloneFlags::CLONE_NEWNET),
                format!("joining the network namespace {}", pod.netns_path.display()),
            ),
            (
                Op::Setns(open_ns(&ns.uts_path())?, CloneFlags::CLONE_NEWUTS),
                format!("joining the UTS namespace {}", ns.uts_path().display()),
            ),
            (
                Op::Setns(open_ns(&ns.ipc_path())?, CloneFlags::CLONE_NEWIPC),
                format!("joining the IPC namespace {}", ns.ipc_path().display()),
            ),
            (
                Op::Unshare(CloneFlags::CLONE_NEWNS),
                "creating the mount namespace".into(),
            ),
            (
                // rslave, not private: unmounts on the host (a deleted netns)
                // still propagate into the container.
                Op::Mount {
                    source: None,
                    target: c"/".into(),
                    fstype: None,
                    flags: MsFlags::MS_REC | MsFlags::MS_SLAVE,
                    data: None,
                },
                "making / a slave mount".into(),
            ),
            (
                bind(&pod.resolv_conf, "/etc/resolv.conf")?,
                format!(
                    "bind-mounting {} on /etc/resolv.conf",
                    pod.resolv_conf.display()
                ),
            ),
            (
                bind(&pod.hosts, "/etc/hosts")?,
                format!("bind-mounting {} on /etc/hosts", pod.hosts.display()),
            ),
        ]);
        if let Some(sa) = &pod.service_account_dir {
            let dir_mode = Mode::from_bits_truncate(0o755);
            steps.extend([
                (
                    Op::Mount {
                        source: Some(c"tmpfs".into()),
                        target: cstring("path", SECRETS_DIR)?,
                        fstype: Some(c"tmpfs".into()),
                        flags: MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                        data: Some(c"mode=0755,size=64k".into()),
                    },
                    format!("mounting a tmpfs on {SECRETS_DIR}"),
                ),
                (
                    Op::Mkdir(
                        cstring("path", format!("{SECRETS_DIR}/kubernetes.io"))?,
                        dir_mode,
                    ),
                    format!("creating {SECRETS_DIR}/kubernetes.io"),
                ),
                (
                    Op::Mkdir(cstring("path", SERVICE_ACCOUNT_MOUNT)?, dir_mode),
                    format!("creating {SERVICE_ACCOUNT_MOUNT}"),
                ),
                (
                    bind(sa, SERVICE_ACCOUNT_MOUNT)?,
                    format!("bind-mounting {} on {SERVICE_ACCOUNT_MOUNT}", sa.display()),
                ),
                (
                    Op::Mount {
                        source: None,
                        target: cstring("path", SERVICE_ACCOUNT_MOUNT)?,
                        fstype: None,
                        flags: MsFlags::MS_BIND
                            | MsFlags::MS_REMOUNT
                            | MsFlags::MS_RDONLY
                            | MsFlags::MS_NOSUID
                            | MsFlags::MS_NODEV,
                        data: None,
                    },
                    format!("making {SERVICE_ACCOUNT_MOUNT} read-only"),
                ),
            ]);
        }
        let workdir = spec
            .working_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("/"));
        steps.push((
            Op::Chdir(cstring("workingDir", &workdir)?),
            format!("changing to workingDir {}", workdir.display()),
        ));
        Ok(steps.into_iter().unzip())
    }
}

impl Running {
    /// Re-adopts a container from its persisted state after an agent
    /// restart; `None` if that process is gone (or its pid was reused).
    pub fn adopt(state: &ContainerState) -> Option<Running> {
        let pidfd = sys::pidfd_open(state.pid).ok()?;
        // Checked after opening: the pidfd then refers to the right process.
        if !state::is_alive(state.pid, state.start_time) {
            return None;
        }
        Some(Running {
            pid: state.pid,
            start_time: state.start_time,
            started_at: state.started_at,
            cgroup: state.cgroup.clone(),
            log_path: state.log_path.clone(),
            warnings: Vec::new(),
            shim: None,
            pidfd: Some(pidfd),
            exit: None,
        })
    }

    /// The state to persist (see [`state::save_state`]).
    pub fn state(&self, name: &str, restart_count: u32) -> ContainerState {
        ContainerState {
            name: name.to_string(),
            pid: self.pid,
            start_time: self.start_time,
            restart_count,
            started_at: self.started_at,
            cgroup: self.cgroup.clone(),
            log_path: self.log_path.clone(),
        }
    }

    /// Waits for the container to exit. Cancel-safe; once it has exited,
    /// returns the same status again.
    pub async fn wait(&mut self) -> io::Result<Exit> {
        if let Some(exit) = self.exit {
            return Ok(exit);
        }
        let exit = match &self.shim {
            Some(shim) => shim.wait().await?,
            None => state::wait_adopted(self.pid, self.start_time).await?,
        };
        self.exit = Some(exit);
        self.shim = None;
        self.pidfd = None;
        Ok(exit)
    }

    /// Sends `sig` to the shim, which forwards it to the command (SIGKILL
    /// kills the shim, and the command with it). A no-op once it has exited.
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        if self.exit.is_some() {
            return Ok(());
        }
        let fd = self.shim.as_ref().map(|s| &s.pidfd).or(self.pidfd.as_ref());
        let sent = match fd {
            Some(fd) => sys::pidfd_send_signal(fd, sig),
            None => nix::sys::signal::kill(Pid::from_raw(self.pid), sig).map_err(io::Error::from),
        };
        match sent {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            r => r,
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`; returns
    /// how it ended.
    pub async fn stop(&mut self, grace: Duration) -> io::Result<Exit> {
        self.signal(Signal::SIGTERM)?;
        if let Ok(exit) = tokio::time::timeout(grace, self.wait()).await {
            return exit;
        }
        self.signal(Signal::SIGKILL)?;
        self.wait().await
    }
}
