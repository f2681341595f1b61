//! A real `orch server` process for integration tests: a temporary data
//! directory, a free loopback port, kube-rs and raw HTTPS clients, and
//! kill/restart helpers. The process is killed and the directory removed on
//! drop, also when a test panics.
#![allow(dead_code)]

pub mod agent;

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Debian's kubectl: `ORCH_KUBECTL` (set by `cargo xtask test`), or where
/// `cargo xtask setup` puts it. `None` (after printing "skipped") when it
/// is missing, except under CI, where that fails.
pub fn kubectl() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("ORCH_KUBECTL").map(PathBuf::from),
        Some(PathBuf::from("/opt/orch/kubernetes-client/usr/bin/kubectl")),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.is_file());
    if found.is_none() {
        let msg = "Debian's kubectl is missing: run `cargo xtask setup`";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("skipped: {msg}");
    }
    found
}

/// Runs a CLI (`orchctl` or kubectl) with `--kubeconfig kubeconfig ARGS`
/// and `stdin`; returns (success, stdout, stderr).
pub fn run_cli(
    program: &Path,
    kubeconfig: &Path,
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(program)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether a root-only test may run: as root yes; otherwise it prints
/// "skipped: needs root" — except under CI, where it fails instead.
pub fn root_or_skip() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "needs root (creates namespaces); CI must run as root"
        );
        eprintln!("skipped: needs root (creates network namespaces)");
    }
    root
}

/// A workspace binary under test: `$ORCH_BIN_DIR/<name>` when that is set
/// (prebuilt binaries, as inside `cargo xtask vm`), else the one cargo
/// built for this test run (`built`, from `CARGO_BIN_EXE_<name>`).
pub fn bin(name: &str, built: &str) -> PathBuf {
    match std::env::var_os("ORCH_BIN_DIR") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => PathBuf::from(built),
    }
}

/// Factor for the tests' time limits: `ORCH_TEST_TIME_SCALE` (default 1).
/// Set where everything runs several times slower than on the hardware the
/// limits were chosen on (`cargo xtask vm` under TCG emulation).
pub fn time_scale() -> u64 {
    std::env::var("ORCH_TEST_TIME_SCALE")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// The `orch` binary under test.
pub fn orch() -> PathBuf {
    bin("orch", env!("CARGO_BIN_EXE_orch"))
}

/// The `orchctl` binary under test.
pub fn orchctl() -> PathBuf {
    bin("orchctl", env!("CARGO_BIN_EXE_orchctl"))
}

/// The object names in a watch response body (JSON lines), checking that
/// every event is ADDED.
pub fn added_names(body: &[u8]) -> Vec<String> {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice::<serde_json::Value>(l).unwrap())
        .map(|ev| {
            assert_eq!(ev["type"], "ADDED", "{ev}");
            ev["object"]["metadata"]["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Who holds the controller manager's leader Lease
/// (`kube-system/orch-controller-manager`), if anyone.
pub async fn controller_lease_holder(c: &kube::Client) -> Option<String> {
    let lease = kube::Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(
        c.clone(),
        "kube-system",
    )
    .get_opt("orch-controller-manager")
    .await
    .ok()??;
    lease.spec?.holder_identity.filter(|h| !h.is_empty())
}

/// A running server.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    extra: Vec<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl TestServer {
    /// Starts a server with extra flags.
    pub fn start_with(extra: &[&str]) -> Self {
        let mut s = Self {
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        s.spawn();
        s
    }

    /// Starts a server with defaults.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server runs").id()
    }

    /// How many sockets the server process has open.
    pub fn sockets(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("reading the server's file descriptors")
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy().starts_with("socket:"))
            .count()
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("admin.kubeconfig")
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("admin-token"))
            .unwrap()
            .trim()
            .to_string()
    }

    fn spawn(&mut self) {
        let _ = std::fs::remove_file(self.kubeconfig());
        let mut cmd = Command::new(orch());
        cmd.args(["server", "--data-dir"])
            .arg(self.dir.path())
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .args(&self.extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        self.child = Some(cmd.spawn().expect("starting orch server"));
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("orch server exited early: {status}");
                }
            }
            if self.kubeconfig().exists()
                && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("orch server did not become ready in 30s");
    }

    /// kill -9 and wait for the process to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }

    /// Starts the same server again on the same data directory and port.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Starts the server again on the same data directory and port, with
    /// `extra` as its flags from now on (killing it first if it runs).
    pub fn restart_with(&mut self, extra: &[&str]) {
        self.kill9();
        self.extra = extra.iter().map(|s| s.to_string()).collect();
        self.spawn();
    }

    /// A kube-rs client from the admin kubeconfig.
    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(self.kubeconfig()).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(cfg).unwrap()
    }

    /// A raw HTTPS client trusting the cluster CA.
    pub fn http(&self) -> reqwest_like::Http {
        reqwest_like::Http::new(&self.dir.path().join("ca.crt"), self.url())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A small HTTPS client over kube-rs' transport-free pieces: rustls +
/// hyper, so tests can send malformed bodies and odd headers.
pub mod reqwest_like {
    use std::{path::Path, sync::Arc};

    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::TokioIo;
    use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};

    pub struct Http {
        cfg: Arc<rustls::ClientConfig>,
        base: String,
        server_name: String,
    }

    pub struct Resp {
        pub status: u16,
        pub body: Vec<u8>,
    }

    impl Resp {
        pub fn json(&self) -> serde_json::Value {
            serde_json::from_slice(&self.body).unwrap_or_else(|e| {
                panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body))
            })
        }
    }

    impl Http {
        pub fn new(ca: &Path, base: String) -> Self {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).unwrap() {
                roots.add(c.unwrap()).unwrap();
            }
            let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
            Self {
                cfg: Arc::new(cfg),
                base,
                server_name: "localhost".into(),
            }
        }

        /// Verifies the server's certificate for `name` (not "localhost").
        pub fn with_server_name(mut self, name: &str) -> Self {
            self.server_name = name.to_string();
            self
        }

        pub async fn send(
            &self,
            method: &str,
            path: &str,
            token: Option<&str>,
            headers: &[(&str, &str)],
            body: Vec<u8>,
        ) -> Resp {
            let addr = self.base.trim_start_matches("https://").to_string();
            let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let tls = tokio_rustls::TlsConnector::from(self.cfg.clone())
                .connect(ServerName::try_from(self.server_name.clone()).unwrap(), tcp)
                .await
                .unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .unwrap();
            tokio::spawn(conn);
            let mut req = http::Request::builder()
                .method(method)
                .uri(path)
                .header("host", "localhost");
            if let Some(t) = token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let resp = sender
                .send_request(req.body(Full::new(bytes::Bytes::from(body))).unwrap())
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .to_vec();
            Resp { status, body }
        }
    }
}
