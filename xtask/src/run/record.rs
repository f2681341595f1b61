//! The run record, `run.json` in the state directory: the layout and the
//! pids of a running cluster. It is rewritten whenever a process starts, so
//! that after a crash (of xtask or of the machine's session) the next run
//! knows what to stop and what to tear down.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::{layout::Layout, leftovers::Seen};

/// What a run has started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The xtask process that owns the cluster.
    pub xtask: u32,
    /// The `orch` binary the cluster runs.
    pub orch: PathBuf,
    /// The cluster's names and addresses.
    pub layout: Layout,
    /// The API server's pid, once started.
    pub server: Option<u32>,
    /// Node agents: (node name, pid).
    pub agents: Vec<(String, u32)>,
    /// Pods' namespaces and the host's veths seen so far.
    #[serde(default)]
    pub seen: Seen,
}

impl Record {
    /// A record for this process.
    pub fn new(orch: &Path, layout: &Layout) -> Self {
        Self {
            xtask: std::process::id(),
            orch: orch.to_path_buf(),
            layout: layout.clone(),
            server: None,
            agents: Vec::new(),
            seen: Seen::default(),
        }
    }

    /// Reads the record at `path`, if there is one.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .with_context(|| format!("reading the run record {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes the record to its layout's record file (write, then rename).
    pub fn save(&self) -> Result<()> {
        let path = self.layout.record_file();
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
    }

    /// Removes the record file of `layout`.
    pub fn remove(layout: &Layout) {
        let _ = std::fs::remove_file(layout.record_file());
    }
}
