//! A real etcd (Debian's `etcd-server`, 3.4) for tests and benchmarks: one
//! member in a temporary data directory, client and peer URLs on loopback
//! with free ports, default durability (fsync on every commit). It can be
//! killed and started again on the same directory and ports, or started
//! from a snapshot file (restored with `etcdctl snapshot restore`), or serve
//! clients over TLS with client certificates ([`Etcd::start_tls`]). The
//! process is killed and its directory removed on drop.
use std::{
    io::{self, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use crate::{free_port, ChildGuard};

/// How long etcd gets to answer `/health` after a start.
const READY: Duration = Duration::from_secs(20);

/// Where the etcd binary is: `$ORCH_ETCD`, else `/usr/bin/etcd`.
pub fn binary() -> PathBuf {
    std::env::var_os("ORCH_ETCD").map_or_else(|| PathBuf::from("/usr/bin/etcd"), PathBuf::from)
}

/// Where etcdctl is: next to [`binary`].
pub fn etcdctl() -> PathBuf {
    binary().with_file_name("etcdctl")
}

/// `etcd --version`'s first line, for reports.
pub fn version(bin: &Path) -> String {
    Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "etcd (unknown version)".into())
}

/// A running single-member etcd.
#[derive(Debug)]
pub struct Etcd {
    // Declared before `dir` so the process dies before its directory goes.
    child: Option<ChildGuard>,
    dir: tempfile::TempDir,
    bin: PathBuf,
    client_port: u16,
    peer_port: u16,
    starts: usize,
    /// Member name and `--initial-cluster`, for members of a cluster.
    member: Option<(String, String)>,
    /// Client TLS, and the plain-HTTP port `/health` is then asked on.
    tls: Option<(TlsFiles, u16)>,
}

/// The files of an etcd that serves clients over TLS and requires a client
/// certificate (PEM).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA that signed the server's certificate and that client
    /// certificates must chain to.
    pub ca: PathBuf,
    /// The server's certificate (naming 127.0.0.1).
    pub cert: PathBuf,
    /// The server's key.
    pub key: PathBuf,
}

impl Etcd {
    /// Starts etcd with an empty data directory and waits until it is
    /// healthy.
    pub fn start(bin: &Path) -> io::Result<Self> {
        let mut etcd = Self::prepare(bin)?;
        etcd.spawn()?;
        Ok(etcd)
    }

    /// Starts etcd on the data of a snapshot file (written by etcd's
    /// Maintenance Snapshot call).
    pub fn start_from_snapshot(bin: &Path, snapshot: &Path) -> io::Result<Self> {
        let mut etcd = Self::prepare(bin)?;
        let out = Command::new(etcdctl())
            .args(["snapshot", "restore"])
            .arg(snapshot)
            .arg("--data-dir")
            .arg(etcd.data_dir())
            .args(["--name", "default"])
            .args(["--initial-cluster", &etcd.initial_cluster()])
            .args(["--initial-advertise-peer-urls", &etcd.peer_url()])
            .env("ETCDCTL_API", "3")
            .output()
            .map_err(|e| io::Error::new(e.kind(), format!("running etcdctl: {e}")))?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "etcdctl snapshot restore {} failed: {}",
                snapshot.display(),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        etcd.spawn()?;
        Ok(etcd)
    }

    fn prepare(bin: &Path) -> io::Result<Self> {
        if !bin.exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} not found: run `cargo xtask setup` (Debian package etcd-server)",
                    bin.display()
                ),
            ));
        }
        Ok(Self {
            child: None,
            dir: tempfile::Builder::new().prefix("orch-etcd").tempdir()?,
            bin: bin.to_owned(),
            client_port: free_port()?,
            peer_port: free_port()?,
            starts: 0,
            member: None,
            tls: None,
        })
    }

    /// Starts etcd serving clients over TLS (`https://`), requiring client
    /// certificates signed by `tls.ca`.
    pub fn start_tls(bin: &Path, tls: TlsFiles) -> io::Result<Self> {
        let mut etcd = Self::prepare(bin)?;
        etcd.tls = Some((tls, free_port()?));
        etcd.spawn()?;
        Ok(etcd)
    }

    /// A member `name` of a cluster whose peers are `initial_cluster`
    /// (`name=peer-url,...`), not started; see [`super::etcd_cluster`].
    pub(crate) fn member(
        bin: &Path,
        name: &str,
        client_port: u16,
        peer_port: u16,
        initial_cluster: &str,
    ) -> io::Result<Self> {
        let mut m = Self::prepare(bin)?;
        m.client_port = client_port;
        m.peer_port = peer_port;
        m.member = Some((name.to_string(), initial_cluster.to_string()));
        Ok(m)
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS).
    pub fn client_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    fn name(&self) -> &str {
        self.member.as_ref().map_or("default", |(n, _)| n)
    }

    fn initial_cluster(&self) -> String {
        match &self.member {
            Some((_, c)) => c.clone(),
            None => format!("default={}", self.peer_url()),
        }
    }

    fn spawn(&mut self) -> io::Result<()> {
        self.launch()?;
        self.wait_ready()
    }

    /// Starts the process without waiting for it to be healthy (a member
    /// of a cluster is not, until a quorum of members runs).
    pub(crate) fn launch(&mut self) -> io::Result<()> {
        let (client, peer) = (self.client_url(), self.peer_url());
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--name")
            .arg(self.name())
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &self.initial_cluster()])
            .args(["--logger", "zap", "--log-level", "warn"])
            .args(self.tls_args())
            .env_remove("ETCD_UNSUPPORTED_ARCH");
        self.starts += 1;
        let log = self.dir.path().join(format!("etcd-{}.log", self.starts));
        self.child = Some(ChildGuard::spawn("etcd", &mut cmd, &log)?);
        Ok(())
    }

    /// The flags of client TLS: certificates, and `/health` over plain
    /// HTTP on a port of its own.
    fn tls_args(&self) -> Vec<String> {
        let Some((t, port)) = &self.tls else {
            return Vec::new();
        };
        let path = |p: &PathBuf| p.display().to_string();
        vec![
            "--cert-file".into(),
            path(&t.cert),
            "--key-file".into(),
            path(&t.key),
            "--client-cert-auth".into(),
            "--trusted-ca-file".into(),
            path(&t.ca),
            "--listen-metrics-urls".into(),
            format!("http://127.0.0.1:{port}"),
        ]
    }

    /// Waits until this member says it is healthy (it has a leader).
    pub(crate) fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + READY;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                child.check_running()?;
            }
            let port = self.tls.as_ref().map_or(self.client_port, |t| t.1);
            match health(port) {
                Ok(true) => return Ok(()),
                Ok(false) => last = "not healthy yet".into(),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(io::Error::other(format!(
            "etcd did not become healthy within {} s (last: {last}); log:\n{}",
            READY.as_secs(),
            self.log_tail(20)
        )))
    }

    /// Kills etcd (SIGKILL) and waits for it to be gone; the data stays.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill();
        }
    }

    /// Kills etcd if it runs, then starts it again on the same data
    /// directory and ports.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.spawn()
    }

    /// The process id (0 while killed).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, ChildGuard::pid)
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The end of the current process's log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.child
            .as_ref()
            .map(|c| c.log_tail(lines))
            .unwrap_or_default()
    }
}

/// `GET /health` on the client port: whether etcd says it is healthy.
fn health(port: u16) -> io::Result<bool> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    Ok(reply.starts_with("HTTP/1.0 200") && reply.contains("\"health\":\"true\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_is_named() {
        let e = Etcd::start(Path::new("/nonexistent/etcd")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/etcd"), "{e}");
        assert!(e.to_string().contains("etcd-server"), "{e}");
    }

    #[test]
    fn starts_restarts_and_cleans_up() {
        let mut etcd = Etcd::start(&binary()).unwrap();
        let (pid, dir) = (etcd.pid(), etcd.data_dir());
        assert!(health(etcd.client_port).unwrap());
        etcd.restart().unwrap();
        assert_ne!(etcd.pid(), pid);
        assert!(health(etcd.client_port).unwrap());
        let pid = etcd.pid();
        drop(etcd);
        assert!(!dir.exists(), "the data directory is removed");
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "the process is gone"
        );
    }
}
