//! The cluster's long-running processes: started in their own process
//! group (a Ctrl-C in the terminal reaches xtask only, which then stops
//! them in order), output appended to a log file, stopped with SIGTERM and,
//! after a grace period, SIGKILL. Also the same for pids left by a crashed
//! run, checked against their command line first so a reused pid is never
//! signalled.
use std::{
    fs::File,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use crate::step;

/// A started process.
#[derive(Debug)]
pub struct Proc {
    /// What it is (`orch server`, `agent node-1`).
    pub what: String,
    /// Where its output goes.
    pub log: PathBuf,
    /// Whether its exit has been reported.
    pub reported: bool,
    child: Child,
    exited: Option<ExitStatus>,
}

impl Proc {
    /// Starts `cmd` with its output appended to `log`.
    pub fn spawn(what: &str, cmd: &mut Command, log: &Path) -> Result<Self> {
        let child = spawn_logged(what, cmd, log)?;
        Ok(Self {
            what: what.to_string(),
            log: log.to_path_buf(),
            reported: false,
            child,
            exited: None,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    /// Fails, naming the log, if the process has exited.
    pub fn check_running(&mut self) -> Result<()> {
        match self.exited() {
            None => Ok(()),
            Some(status) => anyhow::bail!(
                "{} exited ({status}); read its log: {}",
                self.what,
                self.log.display()
            ),
        }
    }

    /// SIGKILL, and waits for the exit.
    pub fn kill(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            self.exited = self.child.wait().ok();
        }
    }

    /// SIGTERM, then SIGKILL after `grace`; waits for the exit.
    pub fn stop(&mut self, grace: Duration) {
        if self.exited().is_some() {
            return;
        }
        signal(self.pid(), "TERM");
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            sleep(Duration::from_millis(50));
        }
        step::info(&format!(
            "{} did not stop within {}s: killing it",
            self.what,
            grace.as_secs()
        ));
        let _ = self.child.kill();
        self.exited = self.child.wait().ok();
    }
}

/// Starts `cmd` in its own process group with stdin closed and stdout and
/// stderr appended to `log` (its directory created if needed).
pub fn spawn_logged(what: &str, cmd: &mut Command, log: &Path) -> Result<Child> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let err = out.try_clone()?;
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {what}: `{}`", step::describe(cmd)))
}

/// Sends `SIG<sig>` to `pid` with kill(1).
fn signal(pid: u32, sig: &str) {
    step::succeeds(
        Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string()),
    );
}

/// The command line of a live (not zombie) process.
pub fn cmdline(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// Whether `pid` is alive and its command line satisfies `is_ours`.
pub fn alive_as(pid: u32, is_ours: impl Fn(&[String]) -> bool) -> bool {
    cmdline(pid).is_some_and(|c| is_ours(&c))
}

/// Stops a process that no `Child` owns (left by a crashed run): SIGTERM,
/// then SIGKILL after `grace` (at once for a zero grace). Only if it still
/// looks like ours.
pub fn stop_stale(pid: u32, what: &str, grace: Duration, is_ours: impl Fn(&[String]) -> bool) {
    if !alive_as(pid, &is_ours) {
        return;
    }
    step::info(&format!("stopping {what} left running (pid {pid})"));
    if !grace.is_zero() {
        signal(pid, "TERM");
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !alive_as(pid, &is_ours) {
            return;
        }
        sleep(Duration::from_millis(50));
    }
    signal(pid, "KILL");
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive_as(pid, &is_ours) && Instant::now() < deadline {
        sleep(Duration::from_millis(50));
    }
}

/// Runs a short command with a time limit; returns its status, stdout and
/// stderr, or fails naming the command if it did not finish in time. It
/// runs in its own process group, so a Ctrl-C meant for the run (which
/// then tears down) does not cut a teardown step short.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Result<(ExitStatus, String, String)> {
    let line = step::describe(cmd);
    let mut child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting `{line}`"))?;
    let out = reader(child.stdout.take());
    let err = reader(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("`{line}` did not finish within {}s", limit.as_secs());
        }
        sleep(Duration::from_millis(10));
    };
    let text = |h: std::thread::JoinHandle<Vec<u8>>| {
        String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()
    };
    Ok((status, text(out), text(err)))
}

/// Reads a pipe to its end on a thread, so a chatty child never blocks.
fn reader(pipe: Option<impl std::io::Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}
