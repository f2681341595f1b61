//! What the agent persists per container to re-adopt it after a restart:
//! `<state_dir>/<container>.json` with the shim's pid and its start time
//! (field 22 of `/proc/<pid>/stat`, which detects pid reuse), and helpers to
//! check and wait for such a process, which is no longer our child.
use std::{
    fs, io,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use super::{namespaces::check_component, process::Exit, sys};

/// How often [`wait_adopted`] polls when pidfds are unavailable.
const POLL: Duration = Duration::from_millis(500);

/// The persisted state of one running container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerState {
    /// Container name.
    pub name: String,
    /// Pid of the container's init shim (in the agent's PID namespace).
    pub pid: i32,
    /// Start time of that pid, in clock ticks since boot.
    pub start_time: u64,
    /// How many times the container has restarted.
    pub restart_count: u32,
    /// When it was started.
    pub started_at: jiff::Timestamp,
    /// Its cgroup.
    pub cgroup: PathBuf,
    /// Its current log file.
    pub log_path: PathBuf,
}

/// `<state_dir>/<name>.json`.
fn state_path(state_dir: &Path, name: &str) -> io::Result<PathBuf> {
    check_component("container name", name)?;
    Ok(state_dir.join(format!("{name}.json")))
}

/// Writes the state atomically (temporary file, then rename).
pub fn save_state(state_dir: &Path, state: &ContainerState) -> io::Result<()> {
    let path = state_path(state_dir, &state.name)?;
    fs::create_dir_all(state_dir)?;
    let tmp = path.with_extension("json.tmp");
    fs::write(
        &tmp,
        serde_json::to_vec_pretty(state).map_err(io::Error::other)?,
    )?;
    fs::rename(&tmp, &path)
}

/// Reads the state of container `name`; `None` if there is none.
pub fn load_state(state_dir: &Path, name: &str) -> io::Result<Option<ContainerState>> {
    match fs::read(state_path(state_dir, name)?) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Deletes the state of container `name`; a missing one is fine.
pub fn remove_state(state_dir: &Path, name: &str) -> io::Result<()> {
    match fs::remove_file(state_path(state_dir, name)?) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// State letter (field 3) and start time (field 22) of `/proc/<pid>/stat`.
fn stat_fields(pid: i32) -> io::Result<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no ')' in stat"))?;
    let mut fields = rest.split_whitespace();
    let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
    // Fields after the name start at 3; start time is field 22.
    let start = fields
        .nth(22 - 4)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no start time in stat"))?;
    Ok((state, start))
}

/// Start time of `pid` in clock ticks since boot.
pub fn process_start_time(pid: i32) -> io::Result<u64> {
    stat_fields(pid).map(|(_, start)| start)
}

/// Whether `pid` is still the process that started at `start_time` and has
/// not exited (zombies count as exited).
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    let Ok((state, start)) = stat_fields(pid) else {
        return false;
    };
    start == start_time && state != 'Z' && state != 'X'
}

/// Waits for an adopted container (not our child, so its status can't be
/// collected) to exit. Returns [`Exit::Unknown`]: Kubernetes reports it as
/// exit code -1, reason "Unknown".
pub async fn wait_adopted(pid: i32, start_time: u64) -> io::Result<Exit> {
    match sys::pidfd_open(pid) {
        // Checked after opening: the pidfd then refers to the right process.
        Ok(fd) if is_alive(pid, start_time) => sys::pidfd_exited(fd).await?,
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
        Err(_) => {
            while is_alive(pid, start_time) {
                tokio::time::sleep(POLL).await;
            }
        }
    }
    Ok(Exit::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_start_time_is_stable() {
        let me = std::process::id() as i32;
        let t = process_start_time(me).unwrap();
        assert!(is_alive(me, t));
        assert!(!is_alive(me, t + 1));
    }
}
