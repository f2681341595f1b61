//! A loaded socket load-balancer that is torn down (detached, unloaded and
//! unpinned) on drop, even while a test unwinds.
use std::path::{Path, PathBuf};

use orch_proxy::ebpf::{LoadOptions, SockLb};

use crate::names::unique_name;

/// Owns a [`SockLb`] whose maps are pinned in a unique bpffs directory.
#[derive(Debug)]
pub struct SockLbGuard {
    lb: Option<SockLb>,
    pin_dir: PathBuf,
}

impl SockLbGuard {
    /// Mounts bpffs if needed and loads the embedded object with its maps
    /// pinned under `/sys/fs/bpf/<unique>`.
    pub fn load() -> Self {
        Self::load_with(LoadOptions::default())
    }

    /// Like [`SockLbGuard::load`], with other options (the pin directory is
    /// always the guard's own).
    pub fn load_with(opts: LoadOptions) -> Self {
        let bpffs = orch_proxy::cgroup::ensure_bpffs().expect("mounting bpffs");
        let pin_dir = bpffs.join(unique_name("otb"));
        let lb = SockLb::load(&LoadOptions {
            pin_dir: Some(pin_dir.clone()),
            ..opts
        })
        .unwrap_or_else(|e| panic!("loading the socket load-balancer: {e}"));
        Self {
            lb: Some(lb),
            pin_dir,
        }
    }

    /// The load-balancer.
    pub fn lb(&mut self) -> &mut SockLb {
        self.lb.as_mut().expect("present until drop")
    }

    /// Where the maps are pinned.
    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    /// Tears down now and reports errors instead of ignoring them.
    pub fn teardown(mut self) {
        if let Some(lb) = self.lb.take() {
            lb.teardown()
                .expect("tearing down the socket load-balancer");
        }
    }
}

impl Drop for SockLbGuard {
    fn drop(&mut self) {
        if let Some(lb) = self.lb.take() {
            let _ = lb.teardown();
        }
    }
}

/// Whether the kernel still has a program with this id loaded.
pub fn program_loaded(id: u32) -> bool {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .any(|p| p.id() == id)
}
