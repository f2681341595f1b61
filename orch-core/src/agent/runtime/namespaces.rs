//! A pod's UTS and IPC namespaces, kept alive without any process by
//! bind-mounting them under `/run/orch/ns/<pod-key>/`, as `ip netns add`
//! does for network namespaces (see [`crate::agent::netns`]). The pod's
//! network namespace is given (a path under `/run/netns`) and recorded next
//! to them, so that an agent restart can reopen all three.
use std::{
    ffi::OsStr,
    fs, io,
    os::{fd::OwnedFd, unix::ffi::OsStrExt},
    path::{Path, PathBuf},
};

use nix::{
    mount::{mount, umount2, MntFlags, MsFlags},
    sched::{unshare, CloneFlags},
};

/// Where pod namespaces are bound, one directory per pod key.
pub const NS_DIR: &str = "/run/orch/ns";

/// `statfs` magic number of nsfs, the filesystem of namespace files.
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// The longest hostname the kernel (and Kubernetes) accepts.
const HOSTNAME_MAX: usize = 63;

/// The UTS and IPC namespaces of one pod, plus its network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNamespaces {
    pod_key: String,
    netns: PathBuf,
}

/// Rejects keys that are not a single, plain path component.
pub(crate) fn check_component(what: &str, s: &str) -> io::Result<()> {
    if s.is_empty() || s == "." || s == ".." || s.contains('/') || s.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} {s:?} is not a plain file name"),
        ));
    }
    Ok(())
}

/// Makes `dir` a shared mount point (bound onto itself if it is not a mount
/// point yet), so that unmounting a namespace file under it also releases
/// it in the mount namespaces of containers started earlier.
pub(crate) fn ensure_shared_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let shared = MsFlags::MS_SHARED | MsFlags::MS_REC;
    if is_mount_point(dir)? {
        return Ok(mount(
            None::<&str>,
            dir,
            None::<&str>,
            shared,
            None::<&str>,
        )?);
    }
    let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(Some(dir), dir, None::<&str>, bind, None::<&str>)?;
    Ok(mount(
        None::<&str>,
        dir,
        None::<&str>,
        shared,
        None::<&str>,
    )?)
}

/// Whether `dir` is listed as a mount point in `/proc/self/mountinfo`.
fn is_mount_point(dir: &Path) -> io::Result<bool> {
    let dir = fs::canonicalize(dir)?;
    let info = fs::read_to_string("/proc/self/mountinfo")?;
    Ok(info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|p| Path::new(p) == dir))
}

/// Truncates a pod name to a valid hostname as the kubelet does: at most 63
/// bytes, without a trailing `-` or `.`.
pub fn hostname_for(pod_name: &str) -> &str {
    let mut end = pod_name.len().min(HOSTNAME_MAX);
    while !pod_name.is_char_boundary(end) {
        end -= 1;
    }
    pod_name[..end].trim_end_matches(['-', '.'])
}

impl PodNamespaces {
    /// Directory of the pod's namespace files.
    fn dir(pod_key: &str) -> PathBuf {
        Path::new(NS_DIR).join(pod_key)
    }

    /// Creates the pod's UTS namespace (hostname `hostname`, truncated to a
    /// valid hostname) and IPC namespace and binds them under
    /// `/run/orch/ns/<pod_key>/`. `netns_path` is the pod's network
    /// namespace, which must exist. Creating namespaces that already exist
    /// fails with `AlreadyExists`; use [`PodNamespaces::open`] for them.
    pub fn create(pod_key: &str, netns_path: &Path, hostname: &str) -> io::Result<PodNamespaces> {
        check_component("pod key", pod_key)?;
        if !is_nsfs(netns_path)? {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a namespace file", netns_path.display()),
            ));
        }
        ensure_shared_dir(Path::new(NS_DIR))?;
        let dir = Self::dir(pod_key);
        fs::create_dir(&dir)?;
        let ns = PodNamespaces {
            pod_key: pod_key.to_string(),
            netns: netns_path.to_path_buf(),
        };
        let made = ns.bind_new(hostname_for(hostname));
        if let Err(e) = made {
            let _ = Self::remove(pod_key);
            return Err(e);
        }
        Ok(ns)
    }

    /// Writes the netns record and binds fresh UTS and IPC namespaces.
    fn bind_new(&self, hostname: &str) -> io::Result<()> {
        fs::write(
            self.dir_path().join("netns"),
            self.netns.as_os_str().as_bytes(),
        )?;
        let (uts, ipc) = (self.uts_path(), self.ipc_path());
        fs::File::create(&uts)?;
        fs::File::create(&ipc)?;
        let hostname = hostname.to_string();
        // unshare moves only the calling thread; the thread ends right after
        // binding its namespaces to the files.
        std::thread::spawn(move || -> io::Result<()> {
            unshare(CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC)?;
            nix::unistd::sethostname(&hostname)?;
            let task = format!("/proc/self/task/{}/ns", nix::unistd::gettid());
            for (kind, target) in [("uts", &uts), ("ipc", &ipc)] {
                let own = format!("{task}/{kind}");
                mount(
                    Some(own.as_str()),
                    target,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )?;
            }
            Ok(())
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
    }

    /// Reopens the namespaces of `pod_key` made by [`PodNamespaces::create`]
    /// (after an agent restart). `NotFound` if they are not all there.
    pub fn open(pod_key: &str) -> io::Result<PodNamespaces> {
        check_component("pod key", pod_key)?;
        let dir = Self::dir(pod_key);
        let netns = PathBuf::from(OsStr::from_bytes(&fs::read(dir.join("netns"))?));
        let ns = PodNamespaces {
            pod_key: pod_key.to_string(),
            netns,
        };
        for path in [ns.uts_path(), ns.ipc_path(), ns.netns.clone()] {
            if !is_nsfs(&path)? {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{} is not a bound namespace", path.display()),
                ));
            }
        }
        Ok(ns)
    }

    /// Unbinds (lazily) and deletes the namespaces of `pod_key`. Processes
    /// still inside keep them alive until they exit. Missing ones are fine.
    pub fn remove(pod_key: &str) -> io::Result<()> {
        check_component("pod key", pod_key)?;
        let dir = Self::dir(pod_key);
        if !dir.exists() {
            return Ok(());
        }
        for kind in ["uts", "ipc"] {
            let _ = umount2(&dir.join(kind), MntFlags::MNT_DETACH);
        }
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Keys of the pods whose namespaces are bound (to find leftovers).
    pub fn list() -> Vec<String> {
        fs::read_dir(NS_DIR)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The pod key these namespaces belong to.
    pub fn pod_key(&self) -> &str {
        &self.pod_key
    }

    fn dir_path(&self) -> PathBuf {
        Self::dir(&self.pod_key)
    }

    /// The bound UTS namespace.
    pub fn uts_path(&self) -> PathBuf {
        self.dir_path().join("uts")
    }

    /// The bound IPC namespace.
    pub fn ipc_path(&self) -> PathBuf {
        self.dir_path().join("ipc")
    }

    /// The pod's network namespace, as given to [`PodNamespaces::create`].
    pub fn netns_path(&self) -> &Path {
        &self.netns
    }
}

/// Whether `path` is a namespace file (nsfs); `false` if it is missing.
pub(crate) fn is_nsfs(path: &Path) -> io::Result<bool> {
    match open_ns(path) {
        Ok(fd) => Ok(nix::sys::statfs::fstatfs(&fd)?.filesystem_type().0 as i64 == NSFS_MAGIC),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Opens a namespace file for `setns`.
pub(crate) fn open_ns(path: &Path) -> io::Result<OwnedFd> {
    Ok(fs::File::open(path)?.into())
}
