//! Errors of the proxy's kernel-facing parts.
use std::path::PathBuf;

/// Anything that can go wrong while loading, attaching or programming the
/// data path.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The embedded object could not be parsed or its maps created.
    #[error("loading the eBPF object: {0}")]
    Load(#[from] aya::EbpfError),
    /// A program was refused by the verifier or could not be attached.
    #[error("eBPF program {name}: {source}")]
    Program {
        /// Program name in the object.
        name: &'static str,
        /// Underlying error.
        #[source]
        source: aya::programs::ProgramError,
    },
    /// A map operation failed.
    #[error("eBPF map {name}: {source}")]
    Map {
        /// Map name in the object.
        name: &'static str,
        /// Underlying error.
        #[source]
        source: aya::maps::MapError,
    },
    /// A link could not be pinned, opened or unpinned.
    #[error("eBPF link of {name}: {detail}")]
    Link {
        /// Program name in the object.
        name: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// A setting or input is out of range.
    #[error("{0}")]
    Config(String),
    /// The object lacks a program or map this build expects.
    #[error("the eBPF object has no {0}")]
    Missing(&'static str),
    /// No cgroup v2 hierarchy is mounted.
    #[error("no cgroup v2 hierarchy is mounted (looked in /proc/self/mountinfo)")]
    NoCgroup2,
    /// A file-system or syscall step failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A program the iptables mode runs is not installed.
    #[error("`{tool}` was not found in PATH or the sbin directories: install the `{package}` package (apt-get install {package})")]
    ToolMissing {
        /// The program.
        tool: &'static str,
        /// The Debian package that has it.
        package: &'static str,
    },
    /// An iptables or conntrack command failed.
    #[error("{what} failed: {detail}")]
    Iptables {
        /// The command, or what it was doing.
        what: String,
        /// What the tool printed, and its exit status.
        detail: String,
    },
    /// A Service port the data path cannot program.
    #[error("service port {port}: {reason}")]
    InvalidPort {
        /// The frontend and port name.
        port: String,
        /// Why it was refused.
        reason: String,
    },
}

impl ProxyError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
