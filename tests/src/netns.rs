//! A named network namespace under `/run/netns`, deleted on drop.
use std::path::PathBuf;

use crate::{cmd, names::unique_name};

/// A network namespace that exists for the guard's lifetime.
#[derive(Debug)]
pub struct NetnsGuard {
    name: String,
}

impl NetnsGuard {
    /// Creates a namespace named `<prefix><unique>` with `lo` up.
    pub fn new(prefix: &str) -> Self {
        let name = unique_name(prefix);
        cmd::run("ip", &["netns", "add", &name]);
        let guard = Self { name };
        guard.exec_ok(&["ip", "link", "set", "lo", "up"]);
        guard
    }

    /// The namespace's name, as `ip netns exec` takes it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bind-mount path of the namespace.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Runs a command inside the namespace and returns its output.
    pub fn exec(&self, argv: &[&str]) -> std::process::Output {
        let mut args = vec!["netns", "exec", &self.name];
        args.extend_from_slice(argv);
        cmd::try_run("ip", &args)
    }

    /// Runs a command inside the namespace and panics if it fails.
    pub fn exec_ok(&self, argv: &[&str]) -> std::process::Output {
        let mut args = vec!["netns", "exec", &self.name];
        args.extend_from_slice(argv);
        cmd::run("ip", &args)
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        cmd::quiet("ip", &["netns", "del", &self.name]);
    }
}

/// Whether a namespace of this name exists.
pub fn exists(name: &str) -> bool {
    PathBuf::from("/run/netns").join(name).exists()
}
