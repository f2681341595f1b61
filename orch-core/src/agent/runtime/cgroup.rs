//! cgroup v2 groups for containers: `<cgroup2 root>/orch/<node>/<pod-uid>/<container>`.
//!
//! The group is always created and the container always placed in it.
//! Limits are applied when the hierarchy has the controller. On a hybrid
//! host whose v2 hierarchy lacks `cpu` or `memory` but that mounts them as
//! cgroup v1 hierarchies, the limit goes into a group at the same relative
//! path there (`cpu.cfs_quota_us`, `memory.limit_in_bytes`), which the
//! container joins too ([`v1_groups`]); with neither, a warning is returned
//! for the caller to surface as a pod Event.
use std::{
    fs, io,
    path::{Path, PathBuf},
    time::Duration,
};

use nix::{sys::signal::Signal, unistd::Pid};

use super::process::Limits;

/// Controllers the runtime enables down the tree when the host has them.
const CONTROLLERS: [&str; 3] = ["cpu", "memory", "pids"];

/// Controllers whose limits fall back to cgroup v1 on hybrid hosts.
const V1_FALLBACK: [&str; 2] = ["cpu", "memory"];

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

/// CPU quota in microseconds per period from millicores, as the kubelet
/// computes it.
fn cpu_quota_us(cpu_millis: u64) -> u64 {
    (cpu_millis.saturating_mul(CPU_PERIOD_US) / 1000).max(CPU_MIN_QUOTA_US)
}

/// `cpu.max` from millicores.
pub fn cpu_max(cpu_millis: u64) -> String {
    format!("{} {CPU_PERIOD_US}", cpu_quota_us(cpu_millis))
}

/// Writes `value` to `file`; the error names both.
fn write_value(file: &Path, value: &str) -> io::Result<()> {
    fs::write(file, value).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("writing {value:?} to {}: {e}", file.display()),
        )
    })
}

/// Writes `cpu.max` and `memory.max`, or the cgroup v1 fallback's files;
/// returns a warning for each limit that could not be enforced.
pub fn apply_limits(path: &Path, limits: &Limits) -> io::Result<Vec<String>> {
    let quota = limits.cpu_millis.map(|m| cpu_quota_us(m).to_string());
    let period = CPU_PERIOD_US.to_string();
    let memory = limits.memory_bytes.map(|b| b.to_string());
    let wanted = [
        (
            "cpu",
            limits.cpu_millis.map(cpu_max),
            "cpu.max",
            quota.as_deref().map(|q| {
                vec![
                    ("cpu.cfs_period_us", period.as_str()),
                    ("cpu.cfs_quota_us", q),
                ]
            }),
        ),
        (
            "memory",
            memory.clone(),
            "memory.max",
            memory
                .as_deref()
                .map(|m| vec![("memory.limit_in_bytes", m)]),
        ),
    ];
    let mut warnings = Vec::new();
    for (controller, value, v2_file, v1_files) in wanted {
        let (Some(value), Some(v1_files)) = (value, v1_files) else {
            continue;
        };
        let file = path.join(v2_file);
        if file.exists() {
            write_value(&file, &value)?;
            continue;
        }
        match v1_counterpart(path, controller) {
            Some(dir) => {
                fs::create_dir_all(&dir).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("creating cgroup {}: {e}", dir.display()),
                    )
                })?;
                for (f, v) in v1_files {
                    write_value(&dir.join(f), v)?;
                }
            }
            None => warnings.push(format!(
                "{controller} limit not enforced: this host has no {controller} controller in cgroup v2 nor a cgroup v1 {controller} hierarchy"
            )),
        }
    }
    Ok(warnings)
}

/// Mount point of the cgroup v1 hierarchy that has `controller`.
fn v1_mount(controller: &str) -> Option<PathBuf> {
    let mounts = fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let has = f.get(2) == Some(&"cgroup") && f.get(3)?.split(',').any(|o| o == controller);
        has.then(|| PathBuf::from(f[1]))
    })
}

/// Where the cgroup v2 group `path` has its `controller` fallback: the same
/// relative path under that controller's v1 hierarchy.
fn v1_counterpart(path: &Path, controller: &str) -> Option<PathBuf> {
    let rel = path.strip_prefix(cgroup2_root().ok()?).ok()?;
    Some(v1_mount(controller)?.join(rel))
}

/// The cgroup v1 groups that hold limits of the container whose v2 group
/// is `path` (none on a pure v2 host, or without limits there).
pub fn v1_groups(path: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = V1_FALLBACK
        .iter()
        .filter_map(|c| v1_counterpart(path, c))
        .filter(|d| d.is_dir())
        .collect();
    out.dedup();
    out
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
/// async code), then removes the groups bottom-up, and their cgroup v1
/// fallback groups. A missing group is fine.
pub fn remove_cgroup(path: &Path) -> io::Result<()> {
    let v1: Vec<PathBuf> = V1_FALLBACK
        .iter()
        .filter_map(|c| v1_counterpart(path, c))
        .collect();
    remove_tree(path)?;
    for dir in v1 {
        remove_tree(&dir)?;
    }
    Ok(())
}

/// [`remove_cgroup`] of one hierarchy.
fn remove_tree(path: &Path) -> io::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let groups = subtree(path);
    let has_kill = fs::write(path.join("cgroup.kill"), "1").is_ok();
    let deadline = std::time::Instant::now() + DRAIN_TIMEOUT;
    let members = |groups: &[PathBuf]| -> Vec<i32> {
        groups
            .iter()
            .flat_map(|g| procs(g).unwrap_or_default())
            .collect()
    };
    // v2 says when the tree is empty in `cgroup.events`; v1 only by its
    // members.
    let busy = |groups: &[PathBuf]| {
        if path.join("cgroup.events").exists() {
            populated(path)
        } else {
            !members(groups).is_empty()
        }
    };
    while busy(&groups) && std::time::Instant::now() < deadline {
        if !has_kill {
            // Repeated: a member may have forked since the last round.
            for pid in members(&groups) {
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

/// Removes the cgroup `path` and its cgroup v1 fallback groups if they are
/// empty (a parent shared with other nodes); anything else is left.
pub fn remove_if_empty(path: &Path) {
    let _ = fs::remove_dir(path);
    for c in V1_FALLBACK {
        if let Some(dir) = v1_counterpart(path, c) {
            let _ = fs::remove_dir(dir);
        }
    }
}
