//! One pod's worker: creates its sandbox, starts its containers, restarts
//! them as the restart policy says (with backoff), runs probes, reports
//! status, and on deletion stops the containers within the grace period,
//! removes the sandbox and finishes deleting the pod.
use std::{net::IpAddr, path::PathBuf, sync::Arc, time::Duration};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use super::{
    backoff,
    container::{self, ContainerEvent, Slot},
    env,
    prober::{self, ProbeEvent, ProbeKind},
    shared::Shared,
    status::{self, StatusInput, Terminated},
};
use crate::{
    agent::{
        runtime::{self, ExecTarget, PodContext, PodNamespaces},
        sandbox::{self, PodIdent, PodNet},
    },
    apiserver::meta,
};

/// Annotation that publishes the pod's network namespace.
pub const NETNS_ANNOTATION: &str = "orch.io/netns";

struct Worker {
    shared: Arc<Shared>,
    uid: String,
    dir: PathBuf,
    sandbox: Option<PodNet>,
    namespaces: Option<Arc<PodNamespaces>>,
    slots: Vec<Slot>,
    start_time: String,
    last_status: Option<Value>,
    events_tx: mpsc::Sender<ContainerEvent>,
    probes_tx: mpsc::Sender<ProbeEvent>,
    sandbox_error: Option<String>,
    annotated: bool,
}

fn pod_key(uid: &str) -> String {
    uid.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

fn ident(pod: &Pod) -> PodIdent {
    let m = &pod.metadata;
    let spec = pod.spec.as_ref();
    PodIdent {
        namespace: m.namespace.clone().unwrap_or_else(|| "default".into()),
        name: m.name.clone().unwrap_or_default(),
        uid: m.uid.clone().unwrap_or_default(),
        hostname: spec
            .and_then(|s| s.hostname.clone())
            .or_else(|| m.name.clone())
            .unwrap_or_default(),
        subdomain: spec.and_then(|s| s.subdomain.clone()),
    }
}

/// Runs the worker of the pod with `uid` until the pod is gone.
pub async fn run(shared: Arc<Shared>, uid: String, mut updates: watch::Receiver<Option<Pod>>) {
    let (events_tx, mut events_rx) = mpsc::channel(64);
    let (probes_tx, mut probes_rx) = mpsc::channel(64);
    let dir = shared.pod_dir(&uid);
    let mut w = Worker {
        shared,
        uid,
        dir,
        sandbox: None,
        namespaces: None,
        slots: Vec::new(),
        start_time: meta::now(),
        last_status: None,
        events_tx,
        probes_tx,
        sandbox_error: None,
        annotated: false,
    };
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        let pod = updates.borrow_and_update().clone();
        let Some(pod) = pod else {
            w.teardown(Duration::ZERO).await;
            return;
        };
        if pod.metadata.deletion_timestamp.is_some() {
            let grace = pod
                .metadata
                .deletion_grace_period_seconds
                .unwrap_or(30)
                .max(0) as u64;
            w.teardown(Duration::from_secs(grace)).await;
            w.finish_deletion(&pod).await;
            return;
        }
        w.sync(&pod).await;
        tokio::select! {
            changed = updates.changed() => {
                if changed.is_err() {
                    w.teardown(Duration::ZERO).await;
                    return;
                }
            }
            Some(ev) = events_rx.recv() => w.on_exit(&pod, ev),
            Some(ev) = probes_rx.recv() => w.on_probe(&pod, ev).await,
            _ = tick.tick() => {}
        }
    }
}

impl Worker {
    fn pods_api(&self, pod: &Pod) -> Api<Pod> {
        Api::namespaced(
            self.shared.client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or("default"),
        )
    }

    /// Brings the pod toward its spec and reports its status. With
    /// `RUST_LOG=orch_core::agent=debug` it logs how long each part took.
    async fn sync(&mut self, pod: &Pod) {
        let t = std::time::Instant::now();
        let had_sandbox = self.sandbox.is_some();
        if self.sandbox.is_none() {
            if let Err(e) = self.ensure_sandbox(pod).await {
                let msg = format!("creating the pod sandbox failed: {e}");
                if self.sandbox_error.as_deref() != Some(msg.as_str()) {
                    tracing::warn!(pod = ?pod.metadata.name, error = %msg);
                    self.sandbox_error = Some(msg);
                }
            }
        }
        if self.slots.is_empty() {
            let logs = self.dir.join("logs");
            self.slots = pod
                .spec
                .as_ref()
                .map(|s| s.containers.clone())
                .unwrap_or_default()
                .into_iter()
                .map(|c| Slot::new(c, logs.clone()))
                .collect();
            self.adopt_running(pod);
        }
        let t_sandbox = t.elapsed();
        if self.sandbox.is_some() {
            self.start_due(pod).await;
        }
        let t_start = t.elapsed();
        self.report(pod).await;
        self.annotate(pod).await;
        if !had_sandbox {
            tracing::debug!(
                pod = ?pod.metadata.name,
                sandbox_ms = t_sandbox.as_secs_f64() * 1e3,
                containers_ms = (t_start - t_sandbox).as_secs_f64() * 1e3,
                status_ms = (t.elapsed() - t_start).as_secs_f64() * 1e3,
                "first sync"
            );
        }
    }

    async fn ensure_sandbox(&mut self, pod: &Pod) -> std::io::Result<()> {
        let id = ident(pod);
        std::fs::create_dir_all(&self.dir)?;
        // Recorded first, so that a teardown after a crash half-way
        // through finds the namespace.
        let netns = sandbox::netns_name(&id.namespace, &id.name, &id.uid);
        std::fs::write(
            self.dir.join("sandbox.json"),
            serde_json::to_vec(
                &json!({"netns": netns, "namespace": id.namespace, "name": id.name}),
            )?,
        )?;
        let t = std::time::Instant::now();
        let addr = {
            let mut ipam = self.shared.ipam.lock().await;
            sandbox::PodAddr::allocate(&mut ipam, &id.uid)?
        };
        // The token request runs while the kernel work is done.
        let (net, ()) = tokio::join!(
            sandbox::create_at(&self.shared.nodenet, addr, &id, &self.shared.dns, &self.dir),
            self.write_service_account(pod)
        );
        let net = net?;
        let t_net = t.elapsed();
        let key = pod_key(&self.uid);
        let ns = match PodNamespaces::open(&key) {
            Ok(ns) => ns,
            Err(_) => PodNamespaces::create(&key, &net.netns_path, &id.hostname)?,
        };
        tracing::debug!(
            pod = %id.name,
            network_and_token_ms = t_net.as_secs_f64() * 1e3,
            namespaces_ms = (t.elapsed() - t_net).as_secs_f64() * 1e3,
            "sandbox ready"
        );
        self.namespaces = Some(Arc::new(ns));
        self.sandbox = Some(net);
        self.sandbox_error = None;
        Ok(())
    }

    /// Publishes the pod's network namespace in its annotation, once,
    /// after the status (it is not on the way to Ready).
    async fn annotate(&mut self, pod: &Pod) {
        let Some(net) = &self.sandbox else { return };
        let current = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(NETNS_ANNOTATION));
        if self.annotated || current == Some(&net.netns_name) {
            return;
        }
        let patch = json!({"metadata": {"annotations": {NETNS_ANNOTATION: net.netns_name}}});
        match self
            .pods_api(pod)
            .patch(
                pod.metadata.name.as_deref().unwrap_or(""),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await
        {
            Ok(_) => self.annotated = true,
            Err(e) => tracing::warn!(error = %e, "annotating the pod with its netns failed"),
        }
    }

    /// Writes token, ca.crt and namespace for in-cluster clients.
    async fn write_service_account(&self, pod: &Pod) {
        let sa = self.dir.join("serviceaccount");
        if sa.join("token").exists() {
            return;
        }
        let ns = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = pod.metadata.name.clone().unwrap_or_default();
        let req = http::Request::builder()
            .method(http::Method::POST)
            .uri("/orch/v1/pod-token")
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&json!({"namespace": ns, "name": name})).unwrap_or_default());
        let token = match req {
            Ok(r) => self
                .shared
                .client
                .request::<Value>(r)
                .await
                .ok()
                .and_then(|v| v["token"].as_str().map(str::to_string)),
            Err(_) => None,
        };
        let Some(token) = token else {
            tracing::warn!(pod = %name, "could not get a service account token for the pod");
            return;
        };
        let _ = std::fs::create_dir_all(&sa);
        let _ = crate::util::write_private(&sa.join("token"), token.as_bytes());
        let _ = std::fs::write(sa.join("ca.crt"), &self.shared.ca_pem);
        let _ = std::fs::write(sa.join("namespace"), &ns);
    }

    /// Where the probes of a container run go.
    fn probe_target(&self, sandbox: &PodNet, exec: ExecTarget) -> prober::Target {
        prober::Target {
            netns: sandbox.netns_path.clone(),
            ip: IpAddr::V4(sandbox.ip),
            exec,
            runtime: self.shared.runtime.clone(),
        }
    }

    /// The environment of container `c` of `pod`.
    fn container_env(
        &self,
        pod: &Pod,
        c: &k8s_openapi::api::core::v1::Container,
        sandbox: &PodNet,
    ) -> Vec<(String, String)> {
        let services = self.shared.services.state();
        let services: Vec<_> = services.iter().map(|s| (**s).clone()).collect();
        env::build(
            pod,
            c,
            &services,
            &sandbox.ip.to_string(),
            &self.shared.node,
        )
    }

    /// Re-adopts containers still running from before an agent restart,
    /// and starts their probes again.
    fn adopt_running(&mut self, pod: &Pod) {
        let state_dir = self.dir.join("state");
        for i in 0..self.slots.len() {
            let name = self.slots[i].spec.name.clone();
            let Some((st, running)) = container::adopt(&state_dir, &name) else {
                continue;
            };
            let probes = self.sandbox.clone().and_then(|sandbox| {
                let c = &self.slots[i].spec;
                let exec = ExecTarget {
                    pid: st.pid,
                    start_time: st.start_time,
                    cgroup: st.cgroup.clone(),
                    env: self.container_env(pod, c, &sandbox),
                    working_dir: c.working_dir.as_ref().map(PathBuf::from),
                };
                let target = self.probe_target(&sandbox, exec);
                prober::spawn(c, st.restart_count, target, self.probes_tx.clone())
            });
            let slot = &mut self.slots[i];
            slot.restart_count = st.restart_count;
            slot.started = Some((
                tokio::time::Instant::now(),
                st.started_at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            ));
            slot.state = status::State::Running {
                started_at: st.started_at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            };
            slot.container_id = format!(
                "orch://{}/{}/{}",
                self.uid, slot.spec.name, st.restart_count
            );
            slot.started_ok = slot.spec.startup_probe.is_none();
            slot.ready = slot.spec.readiness_probe.is_none() && slot.started_ok;
            slot.handle = Some(container::watch(
                running,
                slot.spec.name.clone(),
                st.restart_count,
                self.events_tx.clone(),
            ));
            slot.probes = probes;
        }
    }

    async fn start_due(&mut self, pod: &Pod) {
        let now = tokio::time::Instant::now();
        let (Some(sandbox), Some(namespaces)) = (self.sandbox.clone(), self.namespaces.clone())
        else {
            return;
        };
        for i in 0..self.slots.len() {
            let slot = &self.slots[i];
            if slot.handle.is_some() || slot.done || slot.not_before.is_some_and(|t| t > now) {
                continue;
            }
            let env = self.container_env(pod, &slot.spec, &sandbox);
            let spec = match container::runtime_spec(&slot.spec, env, slot.restart_count) {
                Ok(s) => s,
                Err(msg) => {
                    let slot = &mut self.slots[i];
                    slot.state = status::State::Waiting {
                        reason: "CreateContainerConfigError".into(),
                        message: msg,
                    };
                    slot.done = true;
                    continue;
                }
            };
            let sa = self.dir.join("serviceaccount");
            let ctx = PodContext {
                pod_key: pod_key(&self.uid),
                netns_path: sandbox.netns_path.clone(),
                namespaces: &namespaces,
                resolv_conf: sandbox.etc_dir.join("resolv.conf"),
                hosts: sandbox.etc_dir.join("hosts"),
                service_account_dir: sa.join("token").exists().then_some(sa),
                cgroup_parent: match runtime::pod_cgroup(&self.shared.node, &pod_key(&self.uid)) {
                    Ok(p) => p,
                    Err(e) => {
                        self.slots[i].state = status::State::Waiting {
                            reason: "RunContainerError".into(),
                            message: e.to_string(),
                        };
                        continue;
                    }
                },
            };
            let log = runtime::LogSink::new(self.slots[i].log_dir.clone());
            match self.shared.runtime.start(&spec, &ctx, &log) {
                Ok(running) => {
                    for w in &running.warnings {
                        tracing::warn!(pod = ?pod.metadata.name, container = %spec.name, "{w}");
                    }
                    let started_at = running
                        .started_at
                        .strftime("%Y-%m-%dT%H:%M:%SZ")
                        .to_string();
                    let _ = runtime::save_state(
                        &self.dir.join("state"),
                        &running.state(&spec.name, spec.restart_count),
                    );
                    let exec = ExecTarget {
                        pid: running.pid,
                        start_time: running.start_time,
                        cgroup: running.cgroup.clone(),
                        env: spec.env.clone(),
                        working_dir: spec.working_dir.clone(),
                    };
                    let target = self.probe_target(&sandbox, exec);
                    let slot = &mut self.slots[i];
                    slot.container_id =
                        format!("orch://{}/{}/{}", self.uid, spec.name, spec.restart_count);
                    slot.started = Some((tokio::time::Instant::now(), started_at.clone()));
                    slot.state = status::State::Running { started_at };
                    slot.started_ok = slot.spec.startup_probe.is_none();
                    slot.ready = slot.spec.readiness_probe.is_none() && slot.started_ok;
                    slot.not_before = None;
                    slot.handle = Some(container::watch(
                        running,
                        spec.name.clone(),
                        spec.restart_count,
                        self.events_tx.clone(),
                    ));
                    slot.probes = prober::spawn(
                        &slot.spec,
                        spec.restart_count,
                        target,
                        self.probes_tx.clone(),
                    );
                }
                Err(e) => {
                    let slot = &mut self.slots[i];
                    slot.state = status::State::Waiting {
                        reason: "RunContainerError".into(),
                        message: e.to_string(),
                    };
                    slot.restart_count += 1;
                    slot.not_before = Some(
                        now + backoff::delay(
                            &self.shared.backoff,
                            slot.restart_count,
                            Duration::ZERO,
                        ),
                    );
                }
            }
        }
    }

    fn on_exit(&mut self, pod: &Pod, ev: ContainerEvent) {
        let ContainerEvent::Exited {
            name,
            generation,
            exit,
        } = ev;
        let policy = pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.clone())
            .unwrap_or_else(|| "Always".into());
        let cfg = self.shared.backoff;
        let Some(slot) = self.slots.iter_mut().find(|s| s.spec.name == name) else {
            return;
        };
        if slot
            .handle
            .as_ref()
            .is_none_or(|h| h.generation != generation)
        {
            return;
        }
        slot.handle = None;
        slot.stop_probes();
        slot.ready = false;
        let (ran, started_at) = slot
            .started
            .take()
            .map_or((Duration::ZERO, meta::now()), |(t, s)| (t.elapsed(), s));
        let term = Terminated {
            exit_code: exit.exit_code(),
            reason: exit.reason().to_string(),
            started_at,
            finished_at: meta::now(),
        };
        let restart = match policy.as_str() {
            "Never" => false,
            "OnFailure" => exit.exit_code() != 0,
            _ => true,
        };
        if restart {
            slot.restart_count += 1;
            let delay = backoff::delay(&cfg, slot.restart_count, ran);
            slot.not_before = Some(tokio::time::Instant::now() + delay);
            slot.state = status::State::Waiting {
                reason: "CrashLoopBackOff".into(),
                message: format!(
                    "back-off {}s restarting failed container={name} pod={}",
                    delay.as_secs(),
                    pod.metadata.name.as_deref().unwrap_or("")
                ),
            };
            slot.last = Some(term);
        } else {
            slot.done = true;
            slot.state = status::State::Terminated(term);
        }
    }

    /// Applies a probe verdict. Failed startup and liveness probes stop the
    /// container within the pod's termination grace period (it then
    /// restarts as its restart policy says).
    async fn on_probe(&mut self, pod: &Pod, ev: ProbeEvent) {
        let grace = Duration::from_secs(
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
                .unwrap_or(30)
                .max(0) as u64,
        );
        let Some(slot) = self.slots.iter_mut().find(|s| s.spec.name == ev.name) else {
            return;
        };
        if slot
            .handle
            .as_ref()
            .is_none_or(|h| h.generation != ev.generation)
        {
            return;
        }
        match ev.kind {
            ProbeKind::Startup => {
                slot.started_ok = ev.passing;
                if ev.passing && slot.spec.readiness_probe.is_none() {
                    slot.ready = true;
                }
                if !ev.passing {
                    tracing::info!(container = %ev.name, "startup probe failed, restarting: {}", ev.message);
                    if let Some(h) = &slot.handle {
                        h.stop(grace).await;
                    }
                }
            }
            ProbeKind::Readiness => slot.ready = ev.passing && slot.started_ok,
            ProbeKind::Liveness => {
                if !ev.passing {
                    tracing::info!(container = %ev.name, "liveness probe failed, restarting: {}", ev.message);
                    if let Some(h) = &slot.handle {
                        h.stop(grace).await;
                    }
                }
            }
        }
    }

    async fn report(&mut self, pod: &Pod) {
        let views: Vec<_> = self.slots.iter().map(Slot::view).collect();
        let policy = pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.clone())
            .unwrap_or_else(|| "Always".into());
        let stored = pod
            .status
            .as_ref()
            .and_then(|s| serde_json::to_value(s).ok());
        let previous = self.last_status.clone().or(stored.clone());
        let mut st = status::pod_status(&StatusInput {
            containers: &views,
            restart_policy: &policy,
            sandbox_ready: self.sandbox.is_some(),
            pod_ip: self.sandbox.as_ref().map(|s| s.ip.to_string()),
            host_ip: self.shared.node_ip.to_string(),
            start_time: self.start_time.clone(),
            previous: previous.as_ref(),
            now: meta::now(),
        });
        if let Some(e) = &self.sandbox_error {
            st["message"] = json!(e);
            st["reason"] = json!("SandboxCreationFailed");
        }
        let unchanged = self
            .last_status
            .as_ref()
            .is_some_and(|l| status::comparable(l) == status::comparable(&st));
        if unchanged {
            return;
        }
        let name = pod.metadata.name.clone().unwrap_or_default();
        match self
            .pods_api(pod)
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": st.clone()})),
            )
            .await
        {
            Ok(_) => self.last_status = Some(st),
            Err(e) => tracing::debug!(pod = %name, error = %e, "status update failed; will retry"),
        }
    }

    /// Stops every container (SIGTERM, SIGKILL after `grace`) and removes
    /// the sandbox, cgroups, namespaces and state.
    async fn teardown(&mut self, grace: Duration) {
        let mut waiting = Vec::new();
        for slot in &mut self.slots {
            slot.stop_probes();
            if let Some(h) = slot.handle.take() {
                h.stop(grace).await;
                waiting.push(h);
            }
        }
        // The container tasks report their exits; wait until they did.
        let deadline = tokio::time::Instant::now() + grace + Duration::from_secs(10);
        for h in waiting {
            while !h.is_finished() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        teardown_sandbox(&self.shared, &self.uid).await;
    }

    async fn finish_deletion(&self, pod: &Pod) {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: pod.metadata.uid.clone().map(|u| kube::api::Preconditions {
                uid: Some(u),
                resource_version: None,
            }),
            ..Default::default()
        };
        if let Err(e) = self.pods_api(pod).delete(&name, &dp).await {
            tracing::debug!(pod = %name, error = %e, "finishing the deletion failed");
        }
    }
}

/// Removes every host resource of the pod with `uid`, whether or not a
/// worker for it is running: containers' cgroups, pod namespaces, the
/// network sandbox, its address, and its directory.
pub async fn teardown_sandbox(shared: &Shared, uid: &str) {
    let dir = shared.pod_dir(uid);
    let key = pod_key(uid);
    if let Ok(cg) = runtime::pod_cgroup(&shared.node, &key) {
        let _ = runtime::remove_cgroup(&cg);
    }
    let _ = PodNamespaces::remove(&key);
    let netns = std::fs::read(dir.join("sandbox.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["netns"].as_str().map(str::to_string));
    if let Some(name) = netns {
        let mut ipam = shared.ipam.lock().await;
        if let Err(e) = sandbox::destroy(&shared.nodenet, &mut ipam, uid, &name).await {
            tracing::warn!(error = %e, "removing the pod sandbox failed");
        }
    } else {
        let mut ipam = shared.ipam.lock().await;
        let _ = ipam.release(uid);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
