//! A cgroup v2 directory created by a test and removed on drop.
use std::path::{Path, PathBuf};

use crate::names::unique_name;

/// A child cgroup under a given cgroup v2 parent.
#[derive(Debug)]
pub struct CgroupGuard {
    path: PathBuf,
}

impl CgroupGuard {
    /// Creates `<parent>/<prefix><unique>`.
    pub fn new(parent: &Path, prefix: &str) -> Self {
        let path = parent.join(unique_name(prefix));
        std::fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("creating cgroup {}: {e}", path.display()));
        Self { path }
    }

    /// The cgroup's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        // A cgroup can only be removed once it has no processes; tests
        // move their processes out before dropping.
        let _ = std::fs::remove_dir(&self.path);
    }
}
