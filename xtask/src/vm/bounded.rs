//! Long external commands (debootstrap, qemu) bounded in time: started in
//! their own process group, so that a timeout or a Ctrl-C (which only
//! raises a flag in xtask) kills the command and everything it started,
//! and xtask itself goes on to clean up.
use std::{
    path::Path,
    process::{Child, Command, ExitStatus},
    thread::sleep,
    time::{Duration, Instant},
};

use anyhow::{bail, Result};

use crate::{run::signals::Stop, step};

/// A started command; killed with its whole process group on drop unless
/// it has exited.
#[derive(Debug)]
pub struct Running {
    what: String,
    child: Child,
    exited: Option<ExitStatus>,
}

impl Running {
    /// Starts `cmd` with stdin closed and stdout/stderr appended to `log`.
    pub fn spawn(what: &str, cmd: &mut Command, log: &Path) -> Result<Self> {
        let child = crate::run::procs::spawn_logged(what, cmd, log)?;
        Ok(Self {
            what: what.to_string(),
            child,
            exited: None,
        })
    }

    /// The exit status, if it has exited.
    pub fn poll(&mut self) -> Result<Option<ExitStatus>> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait()?;
        }
        Ok(self.exited)
    }

    /// Kills the process group (SIGKILL) and reaps the process.
    pub fn kill(&mut self) {
        if self.exited.is_some() {
            return;
        }
        let pgid = self.child.id();
        let _ = step::succeeds(Command::new("kill").args(["-KILL", "--", &format!("-{pgid}")]));
        let _ = self.child.kill();
        self.exited = self.child.wait().ok();
    }

    /// Waits until it exits, polling `tick` every 250 ms (for progress
    /// output); kills it when `limit` passes or a stop is requested.
    pub fn wait(
        &mut self,
        limit: Duration,
        stop: &Stop,
        mut tick: impl FnMut() -> Result<()>,
    ) -> Result<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            let done = self.poll()?;
            tick()?;
            if let Some(status) = done {
                return Ok(status);
            }
            if stop.requested() {
                self.kill();
                bail!("interrupted: {} was stopped", self.what);
            }
            if Instant::now() >= deadline {
                self.kill();
                bail!(
                    "{} did not finish within {} and was killed",
                    self.what,
                    human(limit)
                );
            }
            sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `cmd` to its end within `limit`, output to `log`; on failure the
/// error names the log and the run prints its last lines.
pub fn run(what: &str, cmd: &mut Command, log: &Path, limit: Duration, stop: &Stop) -> Result<()> {
    let mut r = Running::spawn(what, cmd, log)?;
    let status = r.wait(limit, stop, || Ok(()));
    let failed = match status {
        Ok(s) if s.success() => return Ok(()),
        Ok(s) => anyhow::anyhow!("{what} failed ({s})"),
        Err(e) => e,
    };
    print_tail(log, 20);
    Err(failed.context(format!("see {}", log.display())))
}

/// Prints the last `n` lines of a log.
pub fn print_tail(log: &Path, n: usize) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    println!("    --- last lines of {} ---", log.display());
    for l in &lines[lines.len().saturating_sub(n)..] {
        println!("    {l}");
    }
}

/// `90s`, `12m`, `1h05m`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s}s"),
        120..=3599 => format!("{}m", s / 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_secs(90)), "90s");
        assert_eq!(human(Duration::from_secs(720)), "12m");
        assert_eq!(human(Duration::from_secs(3900)), "1h05m");
    }

    #[test]
    fn a_command_over_its_limit_is_killed() {
        let log = std::env::temp_dir().join(format!("xtask-bounded-{}.log", std::process::id()));
        let stop = Stop::install().unwrap();
        let t = Instant::now();
        let err = run(
            "sleep",
            Command::new("sleep").arg("30"),
            &log,
            Duration::from_millis(300),
            &stop,
        )
        .unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(10));
        assert!(
            format!("{err:#}").contains("did not finish within 0s"),
            "{err:#}"
        );
        assert!(run(
            "true",
            &mut Command::new("true"),
            &log,
            Duration::from_secs(10),
            &stop
        )
        .is_ok());
        let _ = std::fs::remove_file(log);
    }
}
