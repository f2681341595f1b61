//! Packet path: the `connect4` program redirects a Service VIP to a backend
//! for sockets in a scoped network namespace, and leaves every other
//! namespace alone. Needs root.
use std::net::SocketAddr;

use std::net::Ipv4Addr;

use orch_proxy::{
    ebpf::table::Table,
    model::{Endpoint, Frontend, PortName, Protocol, ServicePort},
};
use orch_tests::{
    bpf::program_loaded, cgroup::CgroupGuard, require_root, server::Greeter, BridgeGuard,
    NetnsGuard, SockLbGuard, VethGuard,
};

const VIP: [u8; 4] = [10, 96, 213, 1];
const SERVER_IP: [u8; 4] = [10, 213, 0, 2];

/// The test Service: VIP:80/TCP → SERVER_IP:8080.
fn service() -> ServicePort {
    ServicePort {
        frontend: Frontend {
            ip: Ipv4Addr::from(VIP),
            port: 80,
            protocol: Protocol::Tcp,
        },
        name: PortName::default(),
        endpoints: vec![Endpoint {
            ip: Ipv4Addr::from(SERVER_IP),
            port: 8080,
        }],
    }
}

/// Connects from inside `ns` with bash's /dev/tcp and returns the first line
/// the peer sent, or the error text.
fn fetch(ns: &NetnsGuard, ip: [u8; 4], port: u16) -> Result<String, String> {
    let script = format!(
        "exec 3<>/dev/tcp/{}.{}.{}.{}/{port} && head -n1 <&3",
        ip[0], ip[1], ip[2], ip[3]
    );
    let out = ns.exec(&["timeout", "5", "bash", "-c", &script]);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

#[test]
fn connect4_redirects_only_scoped_namespaces() {
    if !require_root("loads eBPF at the cgroup v2 root and creates network namespaces") {
        return;
    }
    let bridge = BridgeGuard::new();
    let server = NetnsGuard::new("ots");
    let listed = NetnsGuard::new("otl");
    let unlisted = NetnsGuard::new("otu");
    let veths = [
        VethGuard::new(&server, "10.213.0.2/24"),
        VethGuard::new(&listed, "10.213.0.3/24"),
        VethGuard::new(&unlisted, "10.213.0.4/24"),
    ];
    for v in &veths {
        v.attach_to(&bridge);
    }
    let _backend = Greeter::start(
        &server.path(),
        SocketAddr::from((SERVER_IP, 8080)),
        "backend",
    );
    // In the unlisted namespace the VIP is a local address with its own
    // server, so "not redirected" is observed as a positive answer.
    unlisted.exec_ok(&["ip", "addr", "add", "10.96.213.1/32", "dev", "lo"]);
    let _local = Greeter::start(
        &unlisted.path(),
        SocketAddr::from((VIP, 80)),
        "unlisted-local",
    );

    // The backend is reachable directly, and the VIP is not (no route).
    assert_eq!(fetch(&listed, SERVER_IP, 8080).as_deref(), Ok("backend"));
    assert!(
        fetch(&listed, VIP, 80).is_err(),
        "VIP answered before any program was loaded"
    );

    let mut lb = SockLbGuard::load();
    let cgroup_root = orch_proxy::cgroup::cgroup2_root().expect("cgroup v2 is mounted");
    lb.lb()
        .attach(&cgroup_root)
        .expect("attaching connect4 at the cgroup v2 root");
    let cookie = orch_proxy::sys::netns_cookie(&listed.path()).expect("reading the netns cookie");
    let host_cookie = orch_proxy::sys::current_netns_cookie().expect("host netns cookie");
    assert_ne!(
        cookie, host_cookie,
        "a test namespace must have its own cookie"
    );
    lb.lb()
        .maps()
        .scope_netns(cookie, 1)
        .expect("scoping the listed namespace");
    let mut table = Table::new(1024);
    table
        .upsert(lb.lb().maps(), &service())
        .expect("programming the service");

    assert_eq!(
        fetch(&listed, VIP, 80).as_deref(),
        Ok("backend"),
        "listed namespace redirected"
    );
    assert_eq!(
        fetch(&unlisted, VIP, 80).as_deref(),
        Ok("unlisted-local"),
        "unlisted namespace must not be redirected"
    );

    // Removing the service stops the redirect at once.
    table
        .remove(lb.lb().maps(), &service().frontend)
        .expect("removing the service");
    assert!(
        fetch(&listed, VIP, 80).is_err(),
        "VIP still redirected after removal"
    );

    // Detach: nothing of the program stays loaded, attached or pinned.
    let ids = lb.lb().program_ids().expect("program ids");
    assert_eq!(ids.len(), 4, "connect4, sendmsg4, recvmsg4, getpeername4");
    assert!(ids.iter().all(|id| program_loaded(*id)));
    let pins = lb.pin_dir().to_path_buf();
    assert!(
        pins.join(orch_proxy_common::MAP_SERVICES).exists(),
        "maps are pinned while loaded"
    );
    lb.teardown();
    for id in ids {
        assert!(
            !program_loaded(id),
            "program {id} still loaded after teardown"
        );
    }
    assert!(
        !pins.exists(),
        "pin directory {} left behind",
        pins.display()
    );
}

#[test]
fn attach_to_child_cgroup_scopes_by_cgroup_too() {
    if !require_root("loads eBPF and creates cgroups and network namespaces") {
        return;
    }
    // Attached below the root, the program sees only sockets of processes
    // in that cgroup: a client outside it is not redirected even though its
    // namespace is scoped.
    let cgroup_root = orch_proxy::cgroup::cgroup2_root().expect("cgroup v2 is mounted");
    let child = CgroupGuard::new(&cgroup_root, "otg");
    let bridge = BridgeGuard::new();
    let server = NetnsGuard::new("ots");
    let client = NetnsGuard::new("otl");
    let veths = [
        VethGuard::new(&server, "10.213.0.2/24"),
        VethGuard::new(&client, "10.213.0.3/24"),
    ];
    for v in &veths {
        v.attach_to(&bridge);
    }
    let _backend = Greeter::start(
        &server.path(),
        SocketAddr::from((SERVER_IP, 8080)),
        "backend",
    );
    let mut lb = SockLbGuard::load();
    lb.lb()
        .attach(child.path())
        .expect("attaching connect4 to a child cgroup");
    let cookie = orch_proxy::sys::netns_cookie(&client.path()).expect("netns cookie");
    lb.lb().maps().scope_netns(cookie, 1).expect("scope");
    Table::new(1024)
        .upsert(lb.lb().maps(), &service())
        .expect("service");

    assert!(
        fetch(&client, VIP, 80).is_err(),
        "a process outside the cgroup was redirected"
    );

    // The same client started inside the child cgroup is redirected. It
    // joins the cgroup from the host side: `ip netns exec` remounts /sys.
    let procs = child.path().join("cgroup.procs");
    let script = format!(
        "echo $$ > {} && exec ip netns exec {} timeout 5 bash -c \
         'exec 3<>/dev/tcp/10.96.213.1/80 && head -n1 <&3'",
        procs.display(),
        client.name()
    );
    let out = orch_tests::cmd::try_run("bash", &["-c", &script]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "backend",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lb.teardown();
}

/// Collects what the eBPF programs log (through aya-log and the `log`
/// facade).
struct Collect(std::sync::Mutex<Vec<String>>);

impl log::Log for Collect {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        self.0
            .lock()
            .unwrap()
            .push(format!("{} {}", record.level(), record.args()));
    }
    fn flush(&self) {}
}

static LOGS: Collect = Collect(std::sync::Mutex::new(Vec::new()));

#[test]
fn no_endpoints_refuses_at_once_and_logs_when_asked() {
    if !require_root("loads eBPF at the cgroup v2 root and creates network namespaces") {
        return;
    }
    let _ = log::set_logger(&LOGS);
    log::set_max_level(log::LevelFilter::Trace);
    let client = NetnsGuard::new("otl");
    client.exec_ok(&["ip", "link", "set", "lo", "up"]);
    let mut lb = SockLbGuard::load_with(orch_proxy::ebpf::LoadOptions {
        log_level: orch_proxy::ebpf::LogLevel::Debug,
        ..Default::default()
    });
    let root = orch_proxy::cgroup::cgroup2_root().expect("cgroup v2 is mounted");
    lb.lb()
        .attach(&root)
        .expect("attaching at the cgroup v2 root");
    let cookie = orch_proxy::sys::netns_cookie(&client.path()).expect("netns cookie");
    lb.lb().maps().scope_netns(cookie, 1).expect("scope");
    let mut empty = service();
    empty.endpoints.clear();
    Table::new(1024)
        .upsert(lb.lb().maps(), &empty)
        .expect("programming a Service without endpoints");

    let vip = SocketAddr::from((VIP, 80));
    let started = std::time::Instant::now();
    let err = orch_proxy::sys::in_netns(&client.path(), move || {
        std::net::TcpStream::connect_timeout(&vip, std::time::Duration::from_secs(3)).map(|_| ())
    })
    .expect_err("connected to a Service without endpoints");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(1));

    lb.lb().flush_logs();
    let logs = LOGS.0.lock().unwrap().clone();
    assert!(
        logs.iter()
            .any(|l| l.contains("refused 10.96.213.1:80: no endpoints")),
        "eBPF log lines: {logs:?}"
    );
    lb.teardown();
}
