//! Processes for orch's tests and benchmarks, shared by `orch-core`'s tests
//! and the `orch-tests` crate: free loopback ports, a child process that is
//! killed and reaped on drop ([`ChildGuard`]), and a real single-member
//! etcd in a temporary directory ([`etcd::Etcd`]), helper commands with
//! errors that say what ran ([`cmd`]), and the privilege check of
//! packet-path tests ([`root`]). Errors are plain `std::io::Error`s with a
//! message, so any caller's error type takes them.
pub mod cmd;
pub mod etcd;
pub mod etcd_cluster;
pub mod root;

use std::{
    fs::File,
    io,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

/// A loopback TCP port that was free a moment ago.
pub fn free_port() -> io::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| io::Error::new(e.kind(), format!("binding 127.0.0.1:0: {e}")))?;
    Ok(l.local_addr()?.port())
}

/// A started child process, killed and reaped when dropped.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    log: PathBuf,
    name: String,
}

impl ChildGuard {
    /// Starts `cmd` with stdout and stderr going to `log`.
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> io::Result<Self> {
        let out = File::create(log)
            .map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", log.display())))?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("starting {name} ({:?}): {e}", cmd.get_program()),
                )
            })?;
        Ok(Self {
            child,
            log: log.to_owned(),
            name: name.to_string(),
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails, with the end of the log, if the process has exited.
    pub fn check_running(&mut self) -> io::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            return Err(io::Error::other(format!(
                "{} exited early ({status}); its log ends with:\n{}",
                self.name,
                self.log_tail(20)
            )));
        }
        Ok(())
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Kills the process (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}
