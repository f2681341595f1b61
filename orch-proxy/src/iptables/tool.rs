//! Running `iptables-restore`, `iptables-save` and `conntrack` inside the
//! node's network namespace.
use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use crate::{sys, ProxyError};

/// A program this mode runs, and the Debian package that has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tool {
    /// The program's name.
    pub(crate) name: &'static str,
    /// The package to install when it is missing.
    pub(crate) package: &'static str,
}

/// Writes rules.
pub(crate) const RESTORE: Tool = Tool {
    name: "iptables-restore",
    package: "iptables",
};
/// Reads rules.
pub(crate) const SAVE: Tool = Tool {
    name: "iptables-save",
    package: "iptables",
};
/// Deletes connection-tracking entries.
pub(crate) const CONNTRACK: Tool = Tool {
    name: "conntrack",
    package: "conntrack",
};

/// Directories searched after `PATH`: the iptables tools live in sbin,
/// which a non-login `PATH` may lack.
const SBIN: [&str; 3] = ["/usr/sbin", "/sbin", "/usr/local/sbin"];

/// The tools, located once.
#[derive(Debug, Clone)]
pub(crate) struct Tools {
    restore: PathBuf,
    save: PathBuf,
    conntrack: Option<PathBuf>,
}

impl Tools {
    /// Locates the iptables tools, and `conntrack` when `with_conntrack`.
    pub(crate) fn locate(with_conntrack: bool) -> Result<Self, ProxyError> {
        Ok(Self {
            restore: locate(RESTORE)?,
            save: locate(SAVE)?,
            conntrack: if with_conntrack {
                Some(locate(CONNTRACK)?)
            } else {
                None
            },
        })
    }

    /// Where `tool` is.
    pub(crate) fn path(&self, tool: Tool) -> Result<&Path, ProxyError> {
        if tool == RESTORE {
            Ok(&self.restore)
        } else if tool == SAVE {
            Ok(&self.save)
        } else {
            self.conntrack.as_deref().ok_or(ProxyError::ToolMissing {
                tool: tool.name,
                package: tool.package,
            })
        }
    }
}

/// Finds `tool` in `PATH`, then in the sbin directories.
pub(crate) fn locate(tool: Tool) -> Result<PathBuf, ProxyError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .map(|dir| dir.join(tool.name))
        .find(|p| p.is_file())
        .ok_or(ProxyError::ToolMissing {
            tool: tool.name,
            package: tool.package,
        })
}

/// Runs `tool` with `args` in the network namespace `netns` (the current
/// one when `None`), feeding it `stdin`, and returns its output whatever
/// its exit status.
pub(crate) fn run(
    tools: &Tools,
    netns: Option<&Path>,
    tool: Tool,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<Output, ProxyError> {
    let program = tools.path(tool)?;
    let spawn = || {
        Command::new(program)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    };
    let spawned = match netns {
        None => spawn(),
        // The child inherits the namespace of the thread that forks it.
        Some(ns) => sys::in_netns(ns, || Ok(spawn()))
            .map_err(|e| ProxyError::io("entering the network namespace", ns, e))?,
    };
    let mut child = spawned.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ProxyError::ToolMissing {
                tool: tool.name,
                package: tool.package,
            }
        } else {
            ProxyError::io("starting", program, e)
        }
    })?;
    let pipe = child.stdin.take();
    std::thread::scope(|s| {
        if let (Some(mut pipe), Some(text)) = (pipe, stdin) {
            // A tool that fails early closes its end; its exit status and
            // stderr then tell why, so a write error is not reported.
            s.spawn(move || {
                let _ = pipe.write_all(text.as_bytes());
            });
        }
        child.wait_with_output()
    })
    .map_err(|e| ProxyError::io("waiting for", program, e))
}

/// The trimmed stderr (or stdout when stderr is empty) of a failed run.
pub(crate) fn failure(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    let text = if err.trim().is_empty() {
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        err.into_owned()
    };
    format!("{} ({})", text.trim(), out.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_its_package() {
        let tool = Tool {
            name: "orch-no-such-tool",
            package: "orch-no-such-package",
        };
        let err = locate(tool).unwrap_err().to_string();
        assert!(err.contains("orch-no-such-tool"), "{err}");
        assert!(err.contains("orch-no-such-package"), "{err}");
    }
}
