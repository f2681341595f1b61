//! The container runtime against the real kernel: namespaces, PID 1, bind
//! mounts, exit codes, signals and grace periods, logs, cgroups and
//! re-adoption. Needs root: elsewhere each test prints `skipped: needs root
//! (...)`, except under `CI=true` where it runs (and fails).
//!
//! Every resource is named `<prefix><pid>x<counter>` and released by a guard
//! even when a test panics.
#![cfg(target_os = "linux")]

use std::{
    fs,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use futures::StreamExt;
use nix::sys::signal::Signal;
use orch_core::agent::{
    netns,
    runtime::{
        self, cgroup, logs, ContainerSpec, ExecTarget, Exit, Limits, LogSink, PodContext,
        PodNamespaces, Running, Runtime, RuntimeConfig,
    },
};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// `<prefix><pid in hex>x<counter in hex>`, unique across runs and tests.
fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{:x}x{n:x}", std::process::id())
}

/// Whether the test may run: as root, or under CI (where lacking root must
/// fail rather than skip).
fn may_run(why: &str) -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if nix::unistd::geteuid().is_root() || ci {
        return true;
    }
    eprintln!("skipped: needs root ({why})");
    false
}

/// A pod: netns, UTS/IPC namespaces, files and cgroup, all released on drop.
struct TestPod {
    key: String,
    netns_name: String,
    netns: PathBuf,
    ns: PodNamespaces,
    tmp: tempfile::TempDir,
    node_cgroup: PathBuf,
    cgroup_parent: PathBuf,
}

impl TestPod {
    fn new() -> TestPod {
        let key = unique("rtpod");
        let netns_name = unique("rt");
        let netns = netns::create(&netns_name).expect("creating the netns");
        let node = unique("rtnode");
        let cgroup_parent = cgroup::pod_cgroup(&node, &key).expect("cgroup path");
        let node_cgroup = cgroup_parent.parent().unwrap().to_path_buf();
        let tmp = tempfile::tempdir().unwrap();
        // Build the guard before the namespaces, so a failure below cleans up.
        let pod = TestPod {
            ns: PodNamespaces::create(&key, &netns, &key).unwrap_or_else(|e| {
                let _ = netns::delete(&netns_name);
                panic!("creating pod namespaces: {e}")
            }),
            key,
            netns_name,
            netns,
            tmp,
            node_cgroup,
            cgroup_parent,
        };
        let resolv = format!(
            "nameserver 10.96.0.10\nsearch {}.svc.cluster.local\noptions ndots:5\n",
            pod.key
        );
        fs::write(pod.path("resolv.conf"), resolv).unwrap();
        fs::write(
            pod.path("hosts"),
            format!("127.0.0.1 localhost\n10.244.1.9 {}\n", pod.key),
        )
        .unwrap();
        fs::create_dir(pod.path("sa")).unwrap();
        fs::write(pod.path("sa/token"), "secret-token").unwrap();
        fs::create_dir(pod.path("work")).unwrap();
        pod
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    fn ctx(&self) -> PodContext<'_> {
        PodContext {
            pod_key: self.key.clone(),
            netns_path: self.netns.clone(),
            namespaces: &self.ns,
            resolv_conf: self.path("resolv.conf"),
            hosts: self.path("hosts"),
            service_account_dir: Some(self.path("sa")),
            cgroup_parent: self.cgroup_parent.clone(),
        }
    }

    fn logs(&self) -> LogSink {
        LogSink::new(self.path("logs"))
    }

    fn start(&self, spec: &ContainerSpec) -> Running {
        self.start_with(spec, &self.logs())
    }

    fn start_with(&self, spec: &ContainerSpec, log: &LogSink) -> Running {
        runtime()
            .start(spec, &self.ctx(), log)
            .unwrap_or_else(|e| panic!("starting {}: {e}", spec.name))
    }

    fn read_logs(&self, container: &str) -> String {
        runtime::read_logs(&self.path("logs"), container, false, None).unwrap()
    }

    /// Waits until the container's log contains `text`.
    async fn wait_for_log(&self, container: &str, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let logs =
                runtime::read_logs(&self.path("logs"), container, false, None).unwrap_or_default();
            if logs.contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no {text:?} in the log of {container}: {logs:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestPod {
    fn drop(&mut self) {
        // Kills whatever still runs in the pod's cgroups.
        let _ = cgroup::remove_cgroup(&self.node_cgroup);
        cgroup::remove_if_empty(self.node_cgroup.parent().unwrap());
        let _ = PodNamespaces::remove(&self.key);
        let _ = netns::delete(&self.netns_name);
    }
}

/// The `orch` binary; with `ORCH_BIN_DIR`, the prebuilt one there (as
/// inside `cargo xtask vm`).
fn orch_binary() -> PathBuf {
    std::env::var_os("ORCH_BIN_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_orch")),
        |dir| PathBuf::from(dir).join("orch"),
    )
}

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        init_binary: orch_binary(),
    })
}

fn sh(name: &str, script: &str) -> ContainerSpec {
    ContainerSpec {
        name: name.into(),
        command: vec!["sh".into(), "-c".into()],
        args: vec![script.into()],
        ..Default::default()
    }
}

async fn wait_exit(running: &mut Running) -> Exit {
    tokio::time::timeout(Duration::from_secs(20), running.wait())
        .await
        .expect("container did not exit in time")
        .expect("waiting for the container")
}

#[tokio::test]
async fn container_runs_as_pid_1_inside_its_pod() {
    if !may_run("creates namespaces, mounts and cgroups") {
        return;
    }
    let pod = TestPod::new();
    let host_resolv = fs::read("/etc/resolv.conf").unwrap();
    let script = "echo pid=$$; echo host=$(hostname); cat /etc/resolv.conf; cat /etc/hosts; \
                  echo net=$(readlink /proc/self/ns/net); echo ipc=$(readlink /proc/self/ns/ipc); \
                  echo env=$GREETING; echo pwd=$(pwd); cat /var/run/secrets/kubernetes.io/serviceaccount/token; echo; \
                  touch /var/run/secrets/kubernetes.io/serviceaccount/x 2>/dev/null || echo sa=read-only; \
                  grep '^0::' /proc/self/cgroup; ip -o link | cut -d: -f2";
    let mut spec = sh("main", script);
    spec.env = vec![("GREETING".into(), "hello pod".into())];
    spec.working_dir = Some(pod.path("work"));
    let mut running = pod.start(&spec);
    assert!(running.pid > 1);
    assert_eq!(wait_exit(&mut running).await, Exit::Code(0));

    let out = pod.read_logs("main");
    let net_ino = fs::metadata(&pod.netns).unwrap().ino();
    let ipc_ino = fs::metadata(pod.ns.ipc_path()).unwrap().ino();
    let cg = pod.cgroup_parent.join("main");
    let cg_rel = cg.strip_prefix(cgroup::cgroup2_root().unwrap()).unwrap();
    for want in [
        "pid=1\n".to_string(),
        format!("host={}\n", pod.key),
        format!("search {}.svc.cluster.local\n", pod.key),
        format!("10.244.1.9 {}\n", pod.key),
        format!("net=net:[{net_ino}]\n"),
        format!("ipc=ipc:[{ipc_ino}]\n"),
        "env=hello pod\n".into(),
        format!("pwd={}\n", pod.path("work").display()),
        "secret-token\n".into(),
        "sa=read-only\n".into(),
        format!("0::/{}\n", cg_rel.display()),
    ] {
        assert!(out.contains(&want), "no {want:?} in:\n{out}");
    }
    // Only the pod's loopback is visible: it is in the pod's netns.
    let links: Vec<&str> = out.lines().filter(|l| l.starts_with(' ')).collect();
    assert_eq!(links, [" lo"], "links in the container:\n{out}");
    // The host was not touched.
    assert_eq!(fs::read("/etc/resolv.conf").unwrap(), host_resolv);
    assert!(!Path::new("/var/run/secrets/kubernetes.io").exists());
}

#[tokio::test]
async fn exit_codes_propagate() {
    if !may_run("creates namespaces, mounts and cgroups") {
        return;
    }
    let pod = TestPod::new();
    let mut three = pod.start(&sh("three", "exit 3"));
    let exit = wait_exit(&mut three).await;
    assert_eq!(exit, Exit::Code(3));
    assert_eq!((exit.exit_code(), exit.reason()), (3, "Error"));

    let mut ok = pod.start(&sh("ok", "true"));
    assert_eq!(wait_exit(&mut ok).await.reason(), "Completed");

    // A command killed by a signal inside the container: 128 + 9.
    let mut inner = pod.start(&sh("inner", "sleep 100 & kill -9 $!; wait $!; exit $?"));
    assert_eq!(wait_exit(&mut inner).await, Exit::Code(137));

    // SIGKILL from the agent kills the shim and, with it, the command.
    let mut killed = pod.start(&sh("killed", "echo up; sleep 100"));
    pod.wait_for_log("killed", "up").await;
    killed.signal(Signal::SIGKILL).unwrap();
    let exit = wait_exit(&mut killed).await;
    assert_eq!(exit.exit_code(), 137);
    assert_cgroup_empties(&killed.cgroup).await;
    // Signalling an exited container is a no-op.
    killed.signal(Signal::SIGTERM).unwrap();
}

#[tokio::test]
async fn exec_runs_inside_the_running_container() {
    if !may_run("creates namespaces, mounts and cgroups") {
        return;
    }
    let pod = TestPod::new();
    let mut spec = sh("target", "echo up; exec sleep 100");
    spec.env = vec![("GREETING".into(), "hello exec".into())];
    spec.working_dir = Some(pod.path("work"));
    let mut running = pod.start(&spec);
    pod.wait_for_log("target", "up").await;
    let target = ExecTarget {
        pid: running.pid,
        start_time: running.start_time,
        cgroup: running.cgroup.clone(),
        env: spec.env.clone(),
        working_dir: spec.working_dir.clone(),
    };
    let rt = runtime();
    let cmd = |s: &str| vec!["sh".to_string(), "-c".into(), s.into()];
    let second = Duration::from_secs(5);

    // The container's PID namespace (its PID 1 is the command), hostname,
    // network, cgroup, environment and working directory.
    let script = "cat /proc/1/comm; hostname; echo net=$(readlink /proc/self/ns/net); \
                  echo env=$GREETING; pwd; grep '^0::' /proc/self/cgroup; echo err >&2";
    let out = rt.exec(&target, &cmd(script), second).await.unwrap();
    assert_eq!(out.exit, Some(Exit::Code(0)), "{}", out.output);
    let net_ino = fs::metadata(&pod.netns).unwrap().ino();
    let cg_rel = running
        .cgroup
        .strip_prefix(cgroup::cgroup2_root().unwrap())
        .unwrap();
    for want in [
        "sleep\n".to_string(),
        format!("{}\n", pod.key),
        format!("net=net:[{net_ino}]\n"),
        "env=hello exec\n".into(),
        format!("{}\n", pod.path("work").display()),
        format!("0::/{}\n", cg_rel.display()),
        "err\n".into(),
    ] {
        assert!(
            out.output.contains(&want),
            "no {want:?} in:\n{}",
            out.output
        );
    }

    let out = rt
        .exec(&target, &cmd("echo failing; exit 3"), second)
        .await
        .unwrap();
    assert_eq!(
        (out.exit, out.output.as_str()),
        (Some(Exit::Code(3)), "failing\n")
    );
    let missing = vec!["no-such-command-orch".to_string()];
    let out = rt.exec(&target, &missing, second).await.unwrap();
    assert_eq!(out.exit, Some(Exit::Code(127)));
    assert!(
        out.output.contains("executable file not found"),
        "{}",
        out.output
    );

    // A timeout kills the command (and what it started).
    let t = Instant::now();
    let out = rt
        .exec(
            &target,
            &cmd("sleep 30 & sleep 30"),
            Duration::from_millis(300),
        )
        .await
        .unwrap();
    assert_eq!(out.exit, None);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let deadline = Instant::now() + Duration::from_secs(5);
    while cgroup::procs(&running.cgroup).unwrap().len() > 2 {
        assert!(
            Instant::now() < deadline,
            "the timed-out exec left processes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Nothing to exec in once the container is gone.
    running.signal(Signal::SIGKILL).unwrap();
    wait_exit(&mut running).await;
    let e = rt.exec(&target, &cmd("true"), second).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
}

/// Waits until nothing runs in the cgroup any more.
async fn assert_cgroup_empties(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cgroup::procs(path).unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "processes left in {}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn stop_honours_the_grace_period() {
    if !may_run("creates namespaces, mounts and cgroups") {
        return;
    }
    let pod = TestPod::new();
    let mut polite = pod.start(&sh(
        "polite",
        "trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.1; done",
    ));
    let mut stubborn = pod.start(&sh(
        "stubborn",
        "trap '' TERM; echo ready; while :; do sleep 0.1; done",
    ));
    pod.wait_for_log("polite", "ready").await;
    pod.wait_for_log("stubborn", "ready").await;

    let t = Instant::now();
    assert_eq!(
        polite.stop(Duration::from_secs(10)).await.unwrap(),
        Exit::Code(0)
    );
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "SIGTERM was not forwarded"
    );
    assert!(pod.read_logs("polite").contains("bye\n"));

    let t = Instant::now();
    let exit = stubborn.stop(Duration::from_millis(500)).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(500));
    assert_eq!(exit, Exit::Signaled(9));
    assert_eq!(exit.exit_code(), 137);
    assert_cgroup_empties(&stubborn.cgroup).await;
}

#[tokio::test]
async fn logs_are_captured_capped_and_read_back() {
    if !may_run("creates namespaces, mounts and cgroups") {
        return;
    }
    let pod = TestPod::new();
    let cap = 4096;
    let sink = pod.logs().with_max_file_bytes(cap);
    let mut spec = sh("chatty", "seq 1 2000; echo oops >&2; printf no-newline");
    let mut running = pod.start_with(&spec, &sink);
    assert_eq!(wait_exit(&mut running).await, Exit::Code(0));
    let current = sink.path("chatty", 0);
    let rotated = PathBuf::from(format!("{}.1", current.display()));
    for f in [&current, &rotated] {
        let size = fs::metadata(f).unwrap().len();
        assert!(size <= cap, "{} is {size} bytes", f.display());
    }
    let raw = fs::read_to_string(&current).unwrap();
    assert!(
        raw.lines()
            .all(|l| l.contains(" stdout ") || l.contains(" stderr ")),
        "{raw}"
    );
    assert!(raw.contains(" stderr F oops\n"), "{raw}");
    let tail = runtime::read_logs(sink.dir(), "chatty", false, Some(3)).unwrap();
    assert_eq!(tail, "2000\noops\nno-newline");

    // Restarts: the current and the previous one are kept.
    for restart in 1..=2 {
        spec = sh("chatty", &format!("echo run {restart}"));
        spec.restart_count = restart;
        let mut r = pod.start_with(&spec, &sink);
        assert_eq!(wait_exit(&mut r).await, Exit::Code(0));
    }
    assert!(
        !current.exists() && !rotated.exists(),
        "restart 0's logs were kept"
    );
    assert_eq!(
        runtime::read_logs(sink.dir(), "chatty", false, None).unwrap(),
        "run 2\n"
    );
    assert_eq!(
        runtime::read_logs(sink.dir(), "chatty", true, None).unwrap(),
        "run 1\n"
    );
    let none = runtime::read_logs(sink.dir(), "other", true, None).unwrap_err();
    assert_eq!(none.kind(), std::io::ErrorKind::NotFound);

    // Following the current file: the tail first, then new lines.
    spec = sh(
        "chatty",
        "echo a; echo b; sleep 1; echo c; sleep 0.3; echo d",
    );
    spec.restart_count = 3;
    let mut r = pod.start_with(&spec, &sink);
    pod.wait_for_log("chatty", "b\n").await;
    let mut follow = Box::pin(logs::follow_logs(sink.dir(), "chatty", Some(1)));
    let mut seen = String::new();
    while !seen.ends_with("d\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), follow.next())
            .await
            .unwrap_or_else(|_| panic!("follow stalled after {seen:?}"))
            .expect("follow ended");
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(seen, "b\nc\nd\n");
    assert_eq!(wait_exit(&mut r).await, Exit::Code(0));
}

#[tokio::test]
async fn a_missing_command_exits_127_with_a_clear_message() {
    if !may_run("creates namespaces, mounts and cgroups") {
        return;
    }
    let pod = TestPod::new();
    let spec = ContainerSpec {
        name: "missing".into(),
        command: vec!["no-such-command-orch".into()],
        ..Default::default()
    };
    let mut running = pod.start(&spec);
    assert_eq!(wait_exit(&mut running).await, Exit::Code(127));
    assert_eq!(
        pod.read_logs("missing"),
        "orch: exec \"no-such-command-orch\": executable file not found in $PATH\n"
    );

    // A set-up failure before exec names its step.
    let mut spec = sh("nowhere", "true");
    spec.working_dir = Some(PathBuf::from("/no/such/dir"));
    let err = runtime().start(&spec, &pod.ctx(), &pod.logs()).unwrap_err();
    assert!(
        err.to_string()
            .contains("changing to workingDir /no/such/dir"),
        "{err}"
    );
}

#[tokio::test]
async fn cgroup_is_created_limited_and_removed() {
    if !may_run("creates namespaces, mounts and cgroups") {
        return;
    }
    let pod = TestPod::new();
    let mut spec = sh("limited", "echo up; sleep 100");
    spec.limits = Limits {
        cpu_millis: Some(250),
        memory_bytes: Some(64 << 20),
    };
    let mut running = pod.start(&spec);
    pod.wait_for_log("limited", "up").await;
    let path = pod.cgroup_parent.join("limited");
    assert_eq!(running.cgroup, path);
    let procs = cgroup::procs(&path).unwrap();
    assert!(procs.contains(&running.pid), "{procs:?}");
    assert!(procs.len() >= 2, "the shim and PID 1: {procs:?}");
    // Limits go into cgroup v2, or on a hybrid host whose v2 hierarchy
    // lacks the controller into the cgroup v1 fallback group, which holds
    // the container too; with neither, a warning says so.
    let v1 = cgroup::v1_groups(&path);
    for (file, value, controller, v1_file, v1_value) in [
        (
            "cpu.max",
            "25000 100000",
            "cpu",
            "cpu.cfs_quota_us",
            "25000",
        ),
        (
            "memory.max",
            "67108864",
            "memory",
            "memory.limit_in_bytes",
            "67108864",
        ),
    ] {
        if let Ok(v) = fs::read_to_string(path.join(file)) {
            assert_eq!(v.trim(), value);
            continue;
        }
        match v1.iter().find(|g| g.join(v1_file).exists()) {
            Some(g) => {
                assert_eq!(
                    fs::read_to_string(g.join(v1_file)).unwrap().trim(),
                    v1_value
                );
                let members = cgroup::procs(g).unwrap();
                assert!(
                    members.contains(&running.pid) && members.len() >= 2,
                    "{} holds {members:?}",
                    g.display()
                );
            }
            None => assert!(
                running
                    .warnings
                    .iter()
                    .any(|w| w.starts_with(&format!("{controller} limit not enforced"))),
                "{:?}",
                running.warnings
            ),
        }
    }

    cgroup::remove_cgroup(&path).unwrap();
    assert!(!path.exists());
    for g in &v1 {
        assert!(!g.exists(), "{} is left", g.display());
    }
    assert_eq!(wait_exit(&mut running).await, Exit::Signaled(9));
    cgroup::remove_cgroup(&path).unwrap();
}

#[tokio::test]
async fn a_running_container_is_re_adopted_from_its_state() {
    if !may_run("creates namespaces, mounts and cgroups") {
        return;
    }
    let pod = TestPod::new();
    let mut spec = sh("adopted", "echo up; exec sleep 100");
    spec.restart_count = 4;
    let first = pod.start(&spec);
    pod.wait_for_log("adopted", "up").await;
    let state_dir = pod.path("state");
    let state = first.state("adopted", 4);
    runtime::save_state(&state_dir, &state).unwrap();
    let loaded = runtime::load_state(&state_dir, "adopted").unwrap().unwrap();
    assert_eq!(loaded, state);
    assert!(runtime::is_alive(loaded.pid, loaded.start_time));
    assert!(!runtime::is_alive(loaded.pid, loaded.start_time + 1));
    drop(first); // the agent "restarts"

    let mut wrong = loaded.clone();
    wrong.start_time += 1;
    assert!(Running::adopt(&wrong).is_none(), "a reused pid was adopted");
    let mut adopted = Running::adopt(&loaded).expect("adopting");
    // `sleep` as PID 1 ignores SIGTERM: SIGKILL after the grace period.
    let exit = adopted.stop(Duration::from_millis(300)).await.unwrap();
    assert_eq!(exit, Exit::Unknown);
    assert_eq!((exit.exit_code(), exit.reason()), (-1, "Unknown"));
    assert!(!runtime::is_alive(loaded.pid, loaded.start_time));
    assert_eq!(
        runtime::wait_adopted(loaded.pid, loaded.start_time)
            .await
            .unwrap(),
        Exit::Unknown
    );
    runtime::remove_state(&state_dir, "adopted").unwrap();
    assert!(runtime::load_state(&state_dir, "adopted")
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn pod_namespaces_are_reopened_and_leave_nothing_behind() {
    if !may_run("creates namespaces and mounts") {
        return;
    }
    let netns_name = unique("rt");
    let netns_path = netns::create(&netns_name).unwrap();
    let key = unique("rtns");
    let long_name = format!("{}-{}", key, "x".repeat(80));
    let created = PodNamespaces::create(&key, &netns_path, &long_name);
    let cleanup = scopeguard(|| {
        let _ = PodNamespaces::remove(&key);
        let _ = netns::delete(&netns_name);
    });
    let ns = created.unwrap();
    assert!(PodNamespaces::create(&key, &netns_path, "again").is_err());
    let reopened = PodNamespaces::open(&key).unwrap();
    assert_eq!(reopened, ns);
    assert_eq!(reopened.netns_path(), netns_path);
    assert!(PodNamespaces::list().contains(&key));

    let uts = ns.uts_path();
    let hostname = std::thread::spawn(move || {
        let f = fs::File::open(uts).unwrap();
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWUTS).unwrap();
        nix::unistd::gethostname().unwrap().into_string().unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(hostname, &long_name[..63]);
    assert_ne!(
        fs::metadata(ns.ipc_path()).unwrap().ino(),
        fs::metadata("/proc/self/ns/ipc").unwrap().ino()
    );

    PodNamespaces::remove(&key).unwrap();
    PodNamespaces::remove(&key).unwrap();
    assert!(!Path::new(runtime::namespaces::NS_DIR).join(&key).exists());
    assert!(!PodNamespaces::list().contains(&key));
    assert_eq!(
        PodNamespaces::open(&key).unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
    drop(cleanup);
}

/// Runs `f` when dropped (cleanup that also runs on panic).
fn scopeguard<F: FnOnce()>(f: F) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

/// `GET path` on 127.0.0.1:port over HTTP/1.0; the status code, or None
/// when nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    resp.split_whitespace().nth(1)?.parse().ok()
}

/// The demo's echo server drains on SIGTERM: `/healthz` fails at once so
/// readiness drops, `/` keeps answering for `--delay-shutdown`, then it
/// exits 0.
#[test]
fn echo_server_keeps_serving_after_sigterm_for_its_delay() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    /// Kills and reaps the server when the test ends, also on panic.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Reap(
        std::process::Command::new(orch_binary())
            .args(["tools", "echo-server", "--tcp", "0", "--udp", "0"])
            .args(["--http", &port.to_string(), "--delay-shutdown", "2"])
            .args(["--name", "drain-test"])
            .spawn()
            .unwrap(),
    );
    let child = &mut child.0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while http_status(port, "/healthz") != Some(200) {
        assert!(Instant::now() < deadline, "echo server never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        Signal::SIGTERM,
    )
    .unwrap();
    let termed = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(http_status(port, "/healthz"), Some(503));
    assert_eq!(http_status(port, "/"), Some(200));
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if termed.elapsed() > Duration::from_secs(8) {
            panic!("echo server still running 8 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    assert!(
        termed.elapsed() >= Duration::from_millis(1900),
        "exited after {:?}, before its 2 s delay",
        termed.elapsed()
    );
}
