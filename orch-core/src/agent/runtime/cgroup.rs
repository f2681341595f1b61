//! cgroup v2 groups for containers: `<cgroup2 root>/orch/<node>/<pod-uid>/<container>`.
//!
//! The group is always created and the container always placed in it.
//! Limits are applied when the hierarchy has the controller; otherwise (a
//! hybrid host whose v2 hierarchy lacks `cpu` or `memory`) a warning is
//! returned for the caller to surface as a pod Event.
use std::{
    fs, io,
    path::{Path, PathBuf},
    time::Duration,
};

use nix::{sys::signal::Signal, unistd::Pid};

use super::process::Limits;

/// Controllers the runtime enables down the tree when the host has them.
const CONTROLLERS: [&str; 3] = ["cpu", "memory", "pids"];

/// `cpu.max` period in microseconds.
const CPU_PERIOD_US: u64 = 100_000;

/// The smallest quota the kernel accepts, in microseconds.
const CPU_MIN_QUOTA_US: u64 = 1_000;

/// How long [`remove_cgroup`] waits for killed processes to go.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The root of the host's cgroup v2 hierarchy.
pub fn cgroup2_root() -> io::Result<PathBuf> {
    orch_proxy::cgroup::cgroup2_root()
        .map_err(|e| io::Error::new(io::ErrorKind::NotFound, e.to_string()))
}

/// The cgroup of a pod: `<cgroup2 root>/orch/<node>/<pod_uid>` (not
/// created; [`create_cgroup`] creates it with the container's group).
pub fn pod_cgroup(node: &str, pod_uid: &str) -> io::Result<PathBuf> {
    super::namespaces::check_component("node name", node)?;
    super::namespaces::check_component("pod uid", pod_uid)?;
    Ok(cgroup2_root()?.join("orch").join(node).join(pod_uid))
}

/// Reads a cgroup interface file as space-separated words.
fn words(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Enables in `dir`'s `cgroup.subtree_control` those of [`CONTROLLERS`] it
/// has. Best effort: a controller that can't be enabled is simply absent
/// below, which [`apply_limits`] reports.
fn enable_controllers(dir: &Path) {
    let available = words(&dir.join("cgroup.controllers"));
    let enabled = words(&dir.join("cgroup.subtree_control"));
    for c in CONTROLLERS {
        if available.iter().any(|a| a == c) && !enabled.iter().any(|e| e == c) {
            if let Err(e) = fs::write(dir.join("cgroup.subtree_control"), format!("+{c}")) {
                let dir = dir.display();
                tracing::debug!(%dir, controller = c, error = %e, "cannot enable controller");
            }
        }
    }
}

/// Creates the cgroup `path` (and its parents, enabling the controllers
/// along the way from the v2 root) and applies `limits`. Returns warnings
/// about limits that could not be enforced. An existing group is reused.
pub fn create_cgroup(path: &Path, limits: &Limits) -> io::Result<Vec<String>> {
    let root = cgroup2_root()?;
    let rel = path.strip_prefix(&root).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is not under the cgroup v2 root {}",
                path.display(),
                root.display()
            ),
        )
    })?;
    let mut dir = root;
    for part in rel.components() {
        enable_controllers(&dir);
        dir.push(part);
        match fs::create_dir(&dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("creating cgroup {}: {e}", dir.display()),
                ))
            }
            _ => {}
        }
    }
    apply_limits(path, limits)
}

/// Quota for `cpu.max` from millicores, as the kubelet computes it.
pub fn cpu_max(cpu_millis: u64) -> String {
    let quota = (cpu_millis.saturating_mul(CPU_PERIOD_US) / 1000).max(CPU_MIN_QUOTA_US);
    format!("{quota} {CPU_PERIOD_US}")
}

/// Writes `cpu.max` and `memory.max`; returns a warning for each limit
/// whose controller the group does not have.
pub fn apply_limits(path: &Path, limits: &Limits) -> io::Result<Vec<String>> {
    let wanted = [
        ("cpu", "cpu.max", limits.cpu_millis.map(cpu_max)),
        (
            "memory",
            "memory.max",
            limits.memory_bytes.map(|b| b.to_string()),
        ),
    ];
    let mut warnings = Vec::new();
    for (controller, file, value) in wanted {
        let Some(value) = value else { continue };
        let file = path.join(file);
        if file.exists() {
            fs::write(&file, &value).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("writing {value:?} to {}: {e}", file.display()),
                )
            })?;
        } else {
            warnings.push(format!(
                "{controller} limit not enforced: the cgroup v2 hierarchy has no {controller} controller on this host"
            ));
        }
    }
    Ok(warnings)
}

/// Pids in the cgroup `path` (not its descendants).
pub fn procs(path: &Path) -> io::Result<Vec<i32>> {
    Ok(fs::read_to_string(path.join("cgroup.procs"))?
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect())
}

/// `path` and every cgroup below it, deepest first.
fn subtree(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(path) {
        for e in entries.filter_map(Result::ok) {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(subtree(&e.path()));
            }
        }
    }
    out.push(path.to_path_buf());
    out
}

/// Whether `cgroup.events` says the group (with descendants) is populated.
fn populated(path: &Path) -> bool {
    fs::read_to_string(path.join("cgroup.events"))
        .map(|s| s.lines().any(|l| l == "populated 1"))
        .unwrap_or(false)
}

/// Kills every process in the cgroup `path` and below (`cgroup.kill`, or
/// SIGKILL to each member where that file is missing), waits for them to
/// go (a few milliseconds, at most 5 s: call it from `spawn_blocking` in
/// async code), then removes the groups bottom-up. A missing group is fine.
pub fn remove_cgroup(path: &Path) -> io::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let groups = subtree(path);
    let has_kill = fs::write(path.join("cgroup.kill"), "1").is_ok();
    let deadline = std::time::Instant::now() + DRAIN_TIMEOUT;
    while populated(path) && std::time::Instant::now() < deadline {
        if !has_kill {
            // Repeated: a member may have forked since the last round.
            for pid in groups.iter().flat_map(|g| procs(g).unwrap_or_default()) {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    for g in &groups {
        match fs::remove_dir(g) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("removing cgroup {}: {e}", g.display()),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}
