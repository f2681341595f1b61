//! Every `unsafe` block and raw syscall of the container runtime: starting
//! the init shim straight into its cgroup (`clone3` with
//! `CLONE_INTO_CGROUP`, which skips the slow migration a write to
//! `cgroup.procs` costs) with the steps that move it into the pod, the
//! shim's fork of the container's PID 1, signal forwarding, `poll(2)` and
//! pidfds.
//!
//! Code that runs between `fork` and `exec` only makes async-signal-safe
//! syscalls (through nix wrappers that do not allocate when given `CStr`s and
//! descriptors, or raw libc) on data built before the fork.
use std::{
    ffi::{CStr, CString},
    io,
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
    sync::atomic::{AtomicI32, AtomicU64, Ordering},
};

use libc::{c_char, c_int};
use nix::{
    errno::Errno,
    mount::{mount, MsFlags},
    sched::{setns, unshare, CloneFlags},
    sys::{
        prctl,
        signal::{self, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal},
        stat::Mode,
    },
    unistd,
};

/// One step of the set-up done in the child before it execs the shim.
#[derive(Debug)]
pub(crate) enum Op {
    /// `setsid()`: leave the agent's session and process group.
    Setsid,
    /// `setns(fd, nstype)`.
    Setns(OwnedFd, CloneFlags),
    /// `write(fd, "0")`: join a cgroup (a cgroup v1 fallback group), given
    /// its open `cgroup.procs`.
    JoinCgroup(OwnedFd),
    /// `unshare(flags)`.
    Unshare(CloneFlags),
    /// `mount(source, target, fstype, flags, data)`.
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: MsFlags,
        data: Option<CString>,
    },
    /// `mkdir(path, mode)`; an existing directory is fine.
    Mkdir(CString, Mode),
    /// `chdir(path)`.
    Chdir(CString),
}

impl Op {
    /// Runs the step: one syscall, no allocation.
    fn run(&self) -> nix::Result<()> {
        match self {
            Op::Setsid => unistd::setsid().map(drop),
            Op::Setns(fd, nstype) => setns(fd, *nstype),
            Op::JoinCgroup(fd) => unistd::write(fd, b"0").map(drop),
            Op::Unshare(flags) => unshare(*flags),
            Op::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => mount(
                source.as_deref(),
                target.as_c_str(),
                fstype.as_deref(),
                *flags,
                data.as_deref(),
            ),
            Op::Mkdir(path, mode) => match unistd::mkdir(path.as_c_str(), *mode) {
                Err(Errno::EEXIST) => Ok(()),
                r => r,
            },
            Op::Chdir(path) => unistd::chdir(path.as_c_str()),
        }
    }
}

/// `struct clone_args` of `clone3(2)`, up to `cgroup` (version 2).
#[repr(C)]
#[derive(Debug, Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `CLONE_INTO_CGROUP` (Linux 5.7).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Index written to the report pipe when `execve` itself failed.
pub(crate) const STEP_EXEC: u16 = u16::MAX;

/// What the child of [`spawn`] does before it execs, all built before the
/// clone.
#[derive(Debug)]
pub(crate) struct Spawn<'a> {
    /// The program.
    pub path: &'a CStr,
    /// NULL-terminated argv.
    pub argv: &'a [*const c_char],
    /// NULL-terminated envp.
    pub envp: &'a [*const c_char],
    /// Becomes stdin, stdout and stderr.
    pub stdio: [&'a OwnedFd; 3],
    /// Steps run in order before exec.
    pub ops: &'a [Op],
    /// Close-on-exec pipe: on failure, the step's index (u16 LE, or
    /// [`STEP_EXEC`]) and errno (i32 LE).
    pub report: &'a OwnedFd,
    /// The cgroup (an open directory) the child starts in.
    pub cgroup: &'a OwnedFd,
}

/// Starts a process as `clone3(CLONE_INTO_CGROUP | CLONE_PIDFD)` (a fork
/// that starts in `s.cgroup`) that runs `s.ops` and execs `s.path`.
/// Returns its pid and pidfd at once; whether the exec succeeded comes
/// through `s.report` (EOF on success).
pub(crate) fn spawn(s: &Spawn<'_>) -> io::Result<(i32, OwnedFd)> {
    assert_eq!(
        s.argv.last(),
        Some(&std::ptr::null()),
        "argv must end with NULL"
    );
    assert_eq!(
        s.envp.last(),
        Some(&std::ptr::null()),
        "envp must end with NULL"
    );
    let mut pidfd: c_int = -1;
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP | libc::CLONE_PIDFD as u64,
        pidfd: std::ptr::addr_of_mut!(pidfd) as u64,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: s.cgroup.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: with no stack given, clone3(2) duplicates the calling thread
    // as fork does; `args` is a valid clone_args of the size passed. The
    // child only runs `spawn_child`, which makes async-signal-safe syscalls
    // on data built before the clone and never returns.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::addr_of!(args),
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => spawn_child(s),
        pid => {
            // SAFETY: the kernel stored a new descriptor in `pidfd` for
            // this child (CLONE_PIDFD); nothing else owns it.
            let fd = unsafe { OwnedFd::from_raw_fd(pidfd) };
            Ok((pid as i32, fd))
        }
    }
}

/// Writes (step, errno) to the report pipe and exits with 127.
fn spawn_fail(s: &Spawn<'_>, step: u16, errno: Errno) -> ! {
    let mut buf = [0u8; 6];
    buf[..2].copy_from_slice(&step.to_le_bytes());
    buf[2..].copy_from_slice(&(errno as i32).to_le_bytes());
    let _ = unistd::write(s.report, &buf);
    exit_now(127)
}

/// The child side of [`spawn`]. Async-signal-safe only.
fn spawn_child(s: &Spawn<'_>) -> ! {
    // Default signal dispositions and mask, as a fresh process has them
    // (the Rust runtime ignores SIGPIPE; ignored signals stay ignored
    // across exec).
    // SAFETY: SIG_DFL installs no handler code.
    let _ = unsafe { signal::signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    let _ = signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    for (target, fd) in s.stdio.iter().enumerate() {
        // SAFETY: dup2(2) on two valid descriptor numbers.
        if unsafe { libc::dup2(fd.as_raw_fd(), target as c_int) } < 0 {
            spawn_fail(s, 0, Errno::last());
        }
    }
    for (i, op) in s.ops.iter().enumerate() {
        if let Err(e) = op.run() {
            spawn_fail(s, i as u16, e);
        }
    }
    // SAFETY: path, argv and envp are NUL-terminated strings and
    // NULL-terminated pointer arrays that outlive this call.
    unsafe { libc::execve(s.path.as_ptr(), s.argv.as_ptr(), s.envp.as_ptr()) };
    spawn_fail(s, STEP_EXEC, Errno::last())
}

/// Stage code of a failure in the shim's child: setting up stdio/signals.
pub(crate) const STAGE_SETUP: i32 = 0;
/// Stage code: unsharing the mount namespace for `/proc`.
pub(crate) const STAGE_UNSHARE: i32 = 1;
/// Stage code: mounting `/proc`.
pub(crate) const STAGE_PROC: i32 = 2;
/// Stage code: `execve`.
pub(crate) const STAGE_EXEC: i32 = 3;

/// What the shim's child needs to become the container's PID 1, all built
/// before the clone.
pub(crate) struct Pid1<'a> {
    /// Resolved executable.
    pub path: &'a CStr,
    /// NULL-terminated argv.
    pub argv: &'a [*const c_char],
    /// NULL-terminated envp.
    pub envp: &'a [*const c_char],
    /// Becomes the child's stdout.
    pub stdout: &'a OwnedFd,
    /// Becomes the child's stderr.
    pub stderr: &'a OwnedFd,
    /// Close-on-exec pipe for (stage, errno) as two i32 LE if anything fails.
    pub report: &'a OwnedFd,
    /// pidfd of the shim, to notice that it died before PDEATHSIG was set.
    pub parent: Option<&'a OwnedFd>,
    /// Signals whose handlers the shim installed, reset in the child.
    pub reset: &'a [Signal],
    /// A new PID namespace with a fresh `/proc` (a container's first
    /// process); otherwise the child stays in the shim's namespaces.
    pub new_namespaces: bool,
}

/// Forks the container's PID 1 into a new PID namespace: a `fork` done by
/// `clone(CLONE_NEWPID | SIGCHLD)` with no new stack, so the shim itself
/// stays outside. Without `new_namespaces` it is a plain fork into the PID
/// namespace the shim joined for its children (exec). Returns the child's
/// pid in the shim's namespace.
pub(crate) fn fork_pid1(p: &Pid1<'_>) -> io::Result<i32> {
    assert_eq!(
        p.argv.last(),
        Some(&std::ptr::null()),
        "argv must end with NULL"
    );
    assert_eq!(
        p.envp.last(),
        Some(&std::ptr::null()),
        "envp must end with NULL"
    );
    let flags = if p.new_namespaces {
        (libc::CLONE_NEWPID | libc::SIGCHLD) as libc::c_ulong
    } else {
        libc::SIGCHLD as libc::c_ulong
    };
    // SAFETY: with a null stack, clone(2) duplicates the calling thread as
    // fork does. The child only runs `pid1_child`, which makes
    // async-signal-safe syscalls on data built before the clone and never
    // returns (it execs or `_exit`s).
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => pid1_child(p),
        pid => Ok(pid as i32),
    }
}

/// Ends the current process at once, without running any user-space code.
fn exit_now(code: c_int) -> ! {
    // SAFETY: _exit(2) never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// Writes (stage, errno) to the report pipe and exits with `code`.
fn child_fail(p: &Pid1<'_>, stage: i32, errno: Errno, code: c_int) -> ! {
    let mut buf = [0u8; 8];
    buf[..4].copy_from_slice(&stage.to_le_bytes());
    buf[4..].copy_from_slice(&(errno as i32).to_le_bytes());
    let _ = unistd::write(p.report, &buf);
    exit_now(code)
}

/// Whether `fd` is readable right now (a pidfd: the process has exited).
fn readable_now(fd: &OwnedFd) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    unsafe { libc::poll(&mut pfd, 1, 0) > 0 }
}

/// The child side of [`fork_pid1`]. Async-signal-safe only.
fn pid1_child(p: &Pid1<'_>) -> ! {
    // The container dies with the shim.
    if let Err(e) = prctl::set_pdeathsig(Signal::SIGKILL) {
        child_fail(p, STAGE_SETUP, e, 128);
    }
    if p.parent.is_some_and(readable_now) {
        // The shim died before PDEATHSIG was armed.
        exit_now(137);
    }
    if let Err(e) = unistd::dup2_stdout(p.stdout).and_then(|()| unistd::dup2_stderr(p.stderr)) {
        child_fail(p, STAGE_SETUP, e, 128);
    }
    // Default dispositions: the shim's handlers, and SIGPIPE, which the Rust
    // runtime ignores (an ignored signal stays ignored across exec).
    for &sig in p.reset.iter().chain(&[Signal::SIGPIPE]) {
        // SAFETY: SIG_DFL installs no handler code.
        let _ = unsafe { signal::signal(sig, SigHandler::SigDfl) };
    }
    let _ = signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    if p.new_namespaces {
        // A mount namespace of its own, so that the fresh /proc does not
        // hide the host's /proc from the shim.
        if let Err(e) = unshare(CloneFlags::CLONE_NEWNS) {
            child_fail(p, STAGE_UNSHARE, e, 128);
        }
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        if let Err(e) = mount(Some(c"proc"), c"/proc", Some(c"proc"), flags, None::<&CStr>) {
            child_fail(p, STAGE_PROC, e, 128);
        }
    }
    // SAFETY: path, argv and envp are NUL-terminated strings and
    // NULL-terminated pointer arrays that outlive this call.
    unsafe { libc::execve(p.path.as_ptr(), p.argv.as_ptr(), p.envp.as_ptr()) };
    let errno = Errno::last();
    let code = match errno {
        Errno::ENOENT | Errno::ENOTDIR => 127,
        _ => 126,
    };
    child_fail(p, STAGE_EXEC, errno, code)
}

/// Pid that forwarded signals go to (0: not forked yet).
static TARGET: AtomicI32 = AtomicI32::new(0);
/// Signals received before [`TARGET`] was set, as a bit mask.
static PENDING: AtomicU64 = AtomicU64::new(0);
/// Write end of the shim's self-pipe, or -1.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: c_int) {
    let saved = Errno::last_raw();
    if sig != libc::SIGCHLD {
        let pid = TARGET.load(Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: kill(2) is async-signal-safe and takes plain integers.
            unsafe { libc::kill(pid, sig) };
        } else {
            PENDING.fetch_or(1 << sig, Ordering::SeqCst);
        }
    }
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: `fd` is the non-blocking write end of the self-pipe; the
        // buffer is a valid 1-byte static.
        unsafe { libc::write(fd, b"s".as_ptr().cast(), 1) };
    }
    Errno::set_raw(saved);
}

/// Installs the shim's handlers: each of `signals` is forwarded to the pid
/// given to [`set_forward_target`] (or remembered until then), and every
/// signal, SIGCHLD included, wakes the self-pipe `wake` (non-blocking).
/// Handlers are process-wide, so this works whatever thread receives them.
/// `wake` must stay open for the rest of the process's life.
pub(crate) fn forward_signals(wake: &OwnedFd, signals: &[Signal]) -> io::Result<()> {
    WAKE_FD.store(wake.as_raw_fd(), Ordering::SeqCst);
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP,
        SigSet::empty(),
    );
    for &sig in signals.iter().chain(&[Signal::SIGCHLD]) {
        // SAFETY: the handler is async-signal-safe: it only touches atomics
        // and errno and calls kill(2) and write(2).
        unsafe { signal::sigaction(sig, &action) }?;
    }
    Ok(())
}

/// From now on, forwarded signals go to `pid`.
pub(crate) fn set_forward_target(pid: i32) {
    TARGET.store(pid, Ordering::SeqCst);
}

/// Signals received before the target was set (bit mask by number), cleared.
pub(crate) fn take_pending() -> u64 {
    PENDING.swap(0, Ordering::SeqCst)
}

/// `poll(2)` for readability (or hang-up) on `fds`. Returns which are ready;
/// all `false` on timeout or EINTR. `timeout_ms` -1 waits forever.
pub(crate) fn poll_readable(fds: &[BorrowedFd<'_>], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `pfds` is a valid array of `pfds.len()` pollfd structs.
    let ret = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if ret < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(e);
    }
    Ok(pfds.iter().map(|p| p.revents != 0).collect())
}

/// `pidfd_open(pid, 0)`: a descriptor that refers to this very process
/// (immune to pid reuse) and becomes readable when it exits.
pub(crate) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes plain integers and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor and nothing else owns
    // it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)`.
pub(crate) fn pidfd_send_signal(pidfd: &OwnedFd, sig: Signal) -> io::Result<()> {
    // SAFETY: an open pidfd, a signal number and a null siginfo.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig as c_int,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Waits until `pidfd` is readable: its process has exited.
pub(crate) async fn pidfd_exited(pidfd: OwnedFd) -> io::Result<()> {
    // SAFETY: the AsyncFd owns `pidfd` and neither replaces nor closes it
    // while registered.
    let fd = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE)
    }?;
    let _ready = fd.readable().await?;
    Ok(())
}
