//! `cargo xtask run` end to end (root): the built xtask binary, run with
//! `--no-build` (a test must not start cargo inside cargo) and a layout of
//! its own (node names, bridge, address ranges, API port, state directory),
//! so it never meets a cluster or test already running on the machine.
//! It waits for the `ready` file, curls the demo's VIP from every demo
//! pod's netns, sends SIGTERM, and checks that the run stopped cleanly and
//! left nothing. It uses the `orch` and `orchctl` binaries of the same
//! build (`cargo xtask test` builds them; build them before running this
//! test alone).
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    thread::sleep,
    time::{Duration, Instant},
};

const XTASK: &str = env!("CARGO_BIN_EXE_xtask");

/// As root yes; otherwise "skipped", except under CI, where it fails.
fn root_or_skip() -> bool {
    let out = Command::new("id").arg("-u").output().expect("running id");
    let root = String::from_utf8_lossy(&out.stdout).trim() == "0";
    if !root {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "needs root (creates namespaces and bridges); CI must run as root"
        );
        eprintln!("skipped: needs root (creates network namespaces)");
    }
    root
}

/// The xtask binary under test.
fn xtask() -> PathBuf {
    bin_dir().join(Path::new(XTASK).file_name().unwrap())
}

/// The directory holding the xtask binary, and so `orch` and `orchctl`:
/// `ORCH_BIN_DIR` when set (prebuilt binaries, as inside `cargo xtask vm`).
fn bin_dir() -> PathBuf {
    match std::env::var_os("ORCH_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(XTASK).parent().unwrap().to_path_buf(),
    }
}

/// A `cargo xtask run` in the background; on drop (also when the test
/// fails) it is stopped, and `--clean` removes anything it still left.
struct Run {
    child: Option<Child>,
    args: Vec<String>,
    state: PathBuf,
    output: Arc<Mutex<Vec<String>>>,
}

impl Run {
    fn start(id: &str, port: u16) -> Self {
        let state = std::env::temp_dir().join(format!("orch-xtask-run-{id}"));
        let _ = std::fs::remove_dir_all(&state);
        let mut args: Vec<String> = [
            "run",
            "--no-build",
            "--nodes",
            "2",
            "--node-prefix",
            &format!("xr{id}n"),
            "--host-bridge",
            &format!("oxr{id}"),
            "--underlay-cidr",
            "10.253.0.0/24",
            "--pod-cidr",
            "10.247.0.0/16",
            "--service-cidr",
            "10.95.0.0/16",
            "--api-port",
            &port.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push("--state-dir".into());
        args.push(state.display().to_string());
        if bin_dir().ends_with("release") {
            args.push("--release".into());
        }
        let mut child = Command::new(xtask())
            .args(&args)
            .env("CARGO_TARGET_DIR", bin_dir().parent().unwrap())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting xtask run");
        let output = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                eprintln!("xtask| {line}");
                sink.lock().unwrap().push(line);
            }
        });
        Self {
            child: Some(child),
            args,
            state,
            output,
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// Waits for the `ready` file; fails if xtask exits first.
    fn wait_ready(&mut self, limit: Duration) -> String {
        let ready = self.state.join("ready");
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(vip) = std::fs::read_to_string(&ready) {
                return vip.trim().to_string();
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "xtask run exited ({status}) before ready:\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no ready file after {}s:\n{}",
                limit.as_secs(),
                self.output()
            );
            sleep(Duration::from_millis(200));
        }
    }

    /// SIGTERM, then waits (bounded) for the exit.
    fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.terminate(Duration::from_secs(120));
        let _ = Command::new(xtask())
            .args(&self.args)
            .arg("--clean")
            .env("CARGO_TARGET_DIR", bin_dir().parent().unwrap())
            .stdout(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn netns_list() -> String {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The demo pods' network namespaces, through orchctl.
fn demo_netns(state: &Path) -> Vec<String> {
    let out = Command::new(bin_dir().join("orchctl"))
        .arg("--kubeconfig")
        .arg(state.join("admin.kubeconfig"))
        .args(["get", "pods", "-l", "app=web", "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "orchctl get pods failed");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["metadata"]["annotations"]["orch.io/netns"].as_str())
        .map(str::to_string)
        .collect()
}

fn curl_in(netns: &str, url: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", netns, "curl", "-sS", "-m", "3", url])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn run_starts_a_cluster_that_answers_and_stops_cleanly() {
    if !root_or_skip() {
        return;
    }
    let id = format!("{:x}", std::process::id() % 0xffff);
    let mut run = Run::start(&id, free_port());
    let vip = run.wait_ready(Duration::from_secs(180));
    assert!(
        vip.starts_with("10.95."),
        "VIP {vip:?} is not in the run's service CIDR"
    );
    let out = run.output();
    assert!(out.contains("demo answering"), "{out}");
    assert!(out.contains("cluster DNS"), "{out}");

    let netns = demo_netns(&run.state);
    assert!(!netns.is_empty(), "no demo pod has a netns");
    for ns in &netns {
        let body = curl_in(ns, &format!("http://{vip}/"));
        assert!(body.starts_with("web-"), "curl {vip} from {ns}: {body:?}");
    }

    let status = run.terminate(Duration::from_secs(120));
    let out = run.output();
    assert!(
        status.is_some_and(|s| s.success()),
        "xtask run did not stop cleanly on SIGTERM ({status:?}):\n{out}"
    );
    assert!(out.contains("nothing is left"), "{out}");
    assert!(!run.state.join("ready").exists(), "ready file left");
    let left = netns_list();
    for ns in netns
        .iter()
        .chain([&format!("orch-xr{id}n1"), &format!("orch-xr{id}n2")])
    {
        assert!(!left.contains(ns.as_str()), "netns {ns} left:\n{left}");
    }
    let bridge = Command::new("ip")
        .args(["link", "show", &format!("oxr{id}")])
        .output()
        .unwrap();
    assert!(!bridge.status.success(), "bridge oxr{id} left");
    for node in [format!("xr{id}n1"), format!("xr{id}n2")] {
        let pins = Path::new("/sys/fs/bpf/orch").join(&node);
        assert!(!pins.exists(), "{} left", pins.display());
    }
}
