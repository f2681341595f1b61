//! Named network namespaces under `/run/netns`, compatible with
//! `ip netns`: the directory is a shared mount so that removing a namespace
//! also releases it in mount namespaces created later (containers).
use std::{
    fs, io,
    path::{Path, PathBuf},
};

use nix::{
    mount::{mount, umount2, MntFlags, MsFlags},
    sched::{unshare, CloneFlags},
};

/// Where named namespaces are bound.
pub const NETNS_DIR: &str = "/run/netns";

/// Path of the namespace `name`.
pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(name)
}

/// Whether the namespace `name` exists.
pub fn exists(name: &str) -> bool {
    path(name).exists()
}

fn io_err(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Creates the named namespace (with `lo` down, as the kernel makes it).
/// Succeeds without change if it already exists.
pub fn create(name: &str) -> io::Result<PathBuf> {
    let target = path(name);
    if target.exists() {
        return Ok(target);
    }
    // Shared, as `ip netns add` makes it.
    super::runtime::namespaces::ensure_shared_dir(Path::new(NETNS_DIR))?;
    fs::File::create(&target)?;
    let t = target.clone();
    // unshare(CLONE_NEWNET) moves only the calling thread; the thread ends
    // right after binding its namespace to the file.
    let result = std::thread::spawn(move || -> io::Result<()> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(io_err)?;
        let own = format!("/proc/self/task/{}/ns/net", nix::unistd::gettid());
        mount(
            Some(own.as_str()),
            &t,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(io_err)
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked")));
    if let Err(e) = result {
        let _ = fs::remove_file(&target);
        return Err(e);
    }
    Ok(target)
}

/// Deletes the named namespace. Processes still inside keep it alive until
/// they exit, as with `ip netns del`. Missing namespaces are fine.
pub fn delete(name: &str) -> io::Result<()> {
    let target = path(name);
    if !target.exists() {
        return Ok(());
    }
    let _ = umount2(&target, MntFlags::MNT_DETACH);
    match fs::remove_file(&target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Names of the namespaces under `/run/netns` that start with `prefix`.
pub fn list(prefix: &str) -> Vec<String> {
    fs::read_dir(NETNS_DIR)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}
