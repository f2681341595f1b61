//! The init shim, `orch tools init -- CMD ARGS...`, started by the runtime
//! inside the pod's namespaces and its own mount namespace. It resolves CMD
//! through the `PATH` of its environment, forks it as PID 1 of a new PID
//! namespace (with a fresh `/proc`), writes its stdout and stderr to the
//! log file, forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2
//! to it, reaps, and exits with its exit code (128+N if it was killed by
//! signal N).
//!
//! With `--exec` (`orch tools init --exec -- CMD ARGS...`, see
//! [`super::exec`]) the shim has been started inside a running container's
//! namespaces and forks CMD there instead, as an ordinary process of the
//! container's PID namespace, with the container's `/proc`.
use std::{
    ffi::{CString, OsStr, OsString},
    fs::File,
    io::{self, Read},
    os::{
        fd::{AsFd, OwnedFd},
        unix::{ffi::OsStrExt, fs::PermissionsExt},
    },
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use nix::{
    fcntl::OFlag,
    sys::{
        signal::{kill, Signal},
        wait::{waitpid, WaitPidFlag, WaitStatus},
    },
    unistd::{pipe2, Pid},
};

use super::{
    logs::{LineBuffer, LogStream, LogWriter, ENV_PREFIX},
    process::DEFAULT_PATH,
    sys,
};

/// Signals forwarded to the container.
const FORWARDED: [Signal; 6] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Exit code when the command is not found.
const NOT_FOUND: i32 = 127;

/// Exit code when the shim itself fails.
const SHIM_FAILED: i32 = 128;

/// How long output is still collected after the command exited.
const DRAIN: Duration = Duration::from_secs(2);

/// How long a partial line waits for its end before it is written.
const PARTIAL_FLUSH_MS: i32 = 500;

/// Where the shim puts the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A container's first process: PID 1 of a new PID namespace.
    Container,
    /// A process in a running container, whose namespaces the shim was
    /// started in.
    Exec,
}

/// Runs the shim with `argv` (the command and its arguments) and exits
/// with the command's exit status. Never returns.
pub fn run(argv: Vec<String>, mode: Mode) -> ! {
    let mut log = match LogWriter::from_env() {
        Ok(log) => log,
        Err(e) => {
            eprintln!("orch: init: opening the log: {e}");
            std::process::exit(SHIM_FAILED)
        }
    };
    let code = supervise(&argv, mode, &mut log).unwrap_or_else(|e| {
        log.message(&format!("orch: init: {e}"));
        SHIM_FAILED
    });
    std::process::exit(code)
}

/// Finds `cmd` as a shell would: a name with a `/` is taken as is, others
/// are looked up in `path` (`:`-separated; an empty entry is the current
/// directory).
pub fn resolve_command(cmd: &str, path: &OsStr) -> Option<PathBuf> {
    if cmd.contains('/') {
        return Some(PathBuf::from(cmd));
    }
    if cmd.is_empty() {
        return None;
    }
    path.as_bytes()
        .split(|&b| b == b':')
        .map(|dir| {
            if dir.is_empty() {
                Path::new(".")
            } else {
                Path::new(OsStr::from_bytes(dir))
            }
        })
        .map(|dir| dir.join(cmd))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Builds a `NAME=value` C string.
pub(super) fn env_entry(k: &OsStr, v: &OsStr) -> Option<CString> {
    let mut e = k.as_bytes().to_vec();
    e.push(b'=');
    e.extend_from_slice(v.as_bytes());
    CString::new(e).ok()
}

/// A NULL-terminated array of pointers into `strings`.
pub(super) fn pointers(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain([std::ptr::null()])
        .collect()
}

/// Starts the command and supervises it; returns the shim's exit code.
fn supervise(argv: &[String], mode: Mode, log: &mut LogWriter) -> io::Result<i32> {
    let Some(cmd) = argv.first() else {
        log.message("orch: init: no command given");
        return Ok(NOT_FOUND);
    };
    let env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !k.as_bytes().starts_with(ENV_PREFIX.as_bytes()))
        .collect();
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or(OsStr::new(DEFAULT_PATH), |(_, v)| v.as_os_str());
    let Some(exe) = resolve_command(cmd, path_var) else {
        log.message(&format!(
            "orch: exec {cmd:?}: executable file not found in $PATH"
        ));
        return Ok(NOT_FOUND);
    };

    let invalid = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} contains a NUL byte"),
        )
    };
    let exe_c = CString::new(exe.as_os_str().as_bytes()).map_err(|_| invalid("the command"))?;
    let argv_c = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| invalid("an argument"))?;
    let envp_c: Vec<CString> = env.iter().filter_map(|(k, v)| env_entry(k, v)).collect();
    let (argv_p, envp_p) = (pointers(&argv_c), pointers(&envp_c));

    let cloexec = OFlag::O_CLOEXEC;
    let (out_r, out_w) = pipe2(cloexec)?;
    let (err_r, err_w) = pipe2(cloexec)?;
    let (report_r, report_w) = pipe2(cloexec)?;
    let (wake_r, wake_w) = pipe2(cloexec | OFlag::O_NONBLOCK)?;
    sys::forward_signals(&wake_w, &FORWARDED)?;
    let parent = sys::pidfd_open(std::process::id() as i32).ok();

    let pid = sys::fork_pid1(&sys::Pid1 {
        path: &exe_c,
        argv: &argv_p,
        envp: &envp_p,
        stdout: &out_w,
        stderr: &err_w,
        report: &report_w,
        parent: parent.as_ref(),
        reset: &FORWARDED,
        new_namespaces: mode == Mode::Container,
    })?;
    sys::set_forward_target(pid);
    drop((out_w, err_w, report_w));
    report_failure(cmd, File::from(report_r), log);

    let code = pump(Pid::from_raw(pid), out_r, err_r, wake_r, log)?;
    // wake_w must outlive every signal handler run: keep it to the end.
    drop(wake_w);
    Ok(code)
}

/// Reads the child's (stage, errno) report, if exec failed, into the log.
fn report_failure(cmd: &str, mut report: File, log: &mut LogWriter) {
    let mut buf = [0u8; 8];
    if report.read_exact(&mut buf).is_err() {
        return; // EOF: exec succeeded
    }
    let stage = i32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let err =
        nix::errno::Errno::from_raw(i32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]])).desc();
    let msg = match stage {
        sys::STAGE_EXEC => format!("orch: exec {cmd:?}: {err}"),
        sys::STAGE_PROC => format!("orch: init: mounting /proc: {err}"),
        sys::STAGE_UNSHARE => format!("orch: init: creating a mount namespace: {err}"),
        _ => format!("orch: init: setting up the child: {err}"),
    };
    log.message(&msg);
}

/// The exit code for a wait status of the command.
fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Forwards pending signals, reaps children, copies output into the log;
/// returns the command's exit code once it exited and its output is drained.
fn pump(
    child: Pid,
    out: OwnedFd,
    err: OwnedFd,
    wake: OwnedFd,
    log: &mut LogWriter,
) -> io::Result<i32> {
    let mut streams = [
        (Some(File::from(out)), LineBuffer::new(LogStream::Stdout)),
        (Some(File::from(err)), LineBuffer::new(LogStream::Stderr)),
    ];
    let mut wake = File::from(wake);
    let mut exited: Option<(i32, Instant)> = None;
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let pending = sys::take_pending();
        for sig in FORWARDED {
            if pending & (1 << sig as i32) != 0 {
                let _ = kill(child, sig);
            }
        }
        while exited.is_none() {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(status) if status.pid() == Some(child) => {
                    exited = exit_code(status).map(|c| (c, Instant::now()));
                }
                Ok(_) => {}
            }
        }
        let open = streams.iter().any(|(f, _)| f.is_some());
        match exited {
            Some((code, _)) if !open => return Ok(code),
            Some((code, at)) if at.elapsed() >= DRAIN => {
                for (_, lines) in &mut streams {
                    lines.flush(log);
                }
                return Ok(code);
            }
            _ => {}
        }

        let timeout = if exited.is_some() {
            100
        } else if streams.iter().any(|(_, l)| l.has_partial()) {
            PARTIAL_FLUSH_MS
        } else {
            -1
        };
        let mut fds = vec![wake.as_fd()];
        fds.extend(
            streams
                .iter()
                .filter_map(|(f, _)| f.as_ref().map(|f| f.as_fd())),
        );
        let ready = sys::poll_readable(&fds, timeout)?;
        if ready.iter().all(|r| !r) && timeout == PARTIAL_FLUSH_MS {
            for (_, lines) in &mut streams {
                lines.flush(log);
            }
        }
        if ready[0] {
            while wake.read(&mut chunk).is_ok_and(|n| n > 0) {}
        }
        let mut next = 1;
        for (file, lines) in &mut streams {
            let Some(f) = file else { continue };
            let is_ready = ready[next];
            next += 1;
            if !is_ready {
                continue;
            }
            match f.read(&mut chunk) {
                Ok(0) | Err(_) => {
                    lines.flush(log);
                    *file = None;
                }
                Ok(n) => lines.push(&chunk[..n], log),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_resolve_like_a_shell() {
        let path = OsStr::new("/nonexistent:/bin:/usr/bin");
        assert!(resolve_command("sh", path).is_some_and(|p| p.ends_with("sh")));
        assert_eq!(resolve_command("./x", path), Some(PathBuf::from("./x")));
        assert_eq!(resolve_command("no-such-command-orch", path), None);
        // Not executable: /etc/passwd is a file without an x bit.
        assert_eq!(resolve_command("passwd", OsStr::new("/etc")), None);
        assert_eq!(resolve_command("", path), None);
    }
}
