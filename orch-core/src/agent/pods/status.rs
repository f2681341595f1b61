//! Pod status as the agent reports it: phase, conditions, addresses and
//! one status per container, in Kubernetes' shapes.
use serde_json::{json, Value};

/// A finished run of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminated {
    /// Exit code (128+signal when killed).
    pub exit_code: i32,
    /// `Completed`, `Error`, `OOMKilled`, ...
    pub reason: String,
    /// When it started.
    pub started_at: String,
    /// When it ended.
    pub finished_at: String,
}

/// What a container is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Not running: why (`ContainerCreating`, `CrashLoopBackOff`, ...).
    Waiting {
        /// Reason.
        reason: String,
        /// Message.
        message: String,
    },
    /// Running since.
    Running {
        /// Start time.
        started_at: String,
    },
    /// Ended and will not restart.
    Terminated(Terminated),
}

/// One container as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerView {
    /// Name.
    pub name: String,
    /// Image as written in the spec.
    pub image: String,
    /// Current state.
    pub state: State,
    /// The previous run, if any.
    pub last: Option<Terminated>,
    /// Restarts so far.
    pub restart_count: u32,
    /// Readiness (probe, or running without a probe).
    pub ready: bool,
    /// Started (startup probe passed, or running without one).
    pub started: bool,
    /// Runtime id.
    pub container_id: String,
}

fn terminated_json(t: &Terminated) -> Value {
    json!({"exitCode": t.exit_code, "reason": t.reason, "startedAt": t.started_at, "finishedAt": t.finished_at})
}

fn container_json(c: &ContainerView) -> Value {
    let state = match &c.state {
        State::Waiting { reason, message } => {
            json!({"waiting": {"reason": reason, "message": message}})
        }
        State::Running { started_at } => json!({"running": {"startedAt": started_at}}),
        State::Terminated(t) => json!({"terminated": terminated_json(t)}),
    };
    let mut v = json!({
        "name": c.name,
        "image": c.image,
        "imageID": "",
        "state": state,
        "lastState": c.last.as_ref().map_or(json!({}), |t| json!({"terminated": terminated_json(t)})),
        "ready": c.ready,
        "started": c.started,
        "restartCount": c.restart_count,
    });
    if !c.container_id.is_empty() {
        v["containerID"] = json!(c.container_id);
    }
    v
}

/// The pod phase from its containers and restart policy.
pub fn phase(
    containers: &[ContainerView],
    restart_policy: &str,
    sandbox_ready: bool,
) -> &'static str {
    if !sandbox_ready || containers.is_empty() {
        return "Pending";
    }
    let running = containers
        .iter()
        .any(|c| matches!(c.state, State::Running { .. }));
    let all_terminated = containers
        .iter()
        .all(|c| matches!(c.state, State::Terminated(_)));
    if all_terminated {
        let failed = containers
            .iter()
            .any(|c| matches!(&c.state, State::Terminated(t) if t.exit_code != 0));
        return if failed { "Failed" } else { "Succeeded" };
    }
    if running
        || containers
            .iter()
            .any(|c| c.restart_count > 0 || c.last.is_some())
    {
        return "Running";
    }
    let _ = restart_policy;
    "Pending"
}

/// Everything the status is computed from.
#[derive(Debug)]
pub struct StatusInput<'a> {
    /// Containers in spec order.
    pub containers: &'a [ContainerView],
    /// `spec.restartPolicy`.
    pub restart_policy: &'a str,
    /// Whether the sandbox exists.
    pub sandbox_ready: bool,
    /// The pod IP, once known.
    pub pod_ip: Option<String>,
    /// The node IP.
    pub host_ip: String,
    /// When the agent started the pod.
    pub start_time: String,
    /// The status currently stored (to keep transition times).
    pub previous: Option<&'a Value>,
    /// Now.
    pub now: String,
}

fn condition(prev: Option<&Value>, kind: &str, ok: bool, reason: Option<&str>, now: &str) -> Value {
    let status = if ok { "True" } else { "False" };
    let prev = prev
        .and_then(|p| p.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind));
    let since = match prev {
        Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
        _ => json!(now),
    };
    let mut c =
        json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": since});
    if let Some(r) = reason.filter(|_| !ok) {
        c["reason"] = json!(r);
    }
    c
}

/// The full `status` object.
pub fn pod_status(i: &StatusInput<'_>) -> Value {
    let phase = phase(i.containers, i.restart_policy, i.sandbox_ready);
    let ready = !i.containers.is_empty() && i.containers.iter().all(|c| c.ready);
    let finished = matches!(phase, "Succeeded" | "Failed");
    let conds = vec![
        condition(
            i.previous,
            "PodReadyToStartContainers",
            i.sandbox_ready,
            None,
            &i.now,
        ),
        condition(i.previous, "Initialized", true, None, &i.now),
        condition(
            i.previous,
            "Ready",
            ready && !finished,
            Some(if finished {
                "PodCompleted"
            } else {
                "ContainersNotReady"
            }),
            &i.now,
        ),
        condition(
            i.previous,
            "ContainersReady",
            ready && !finished,
            Some(if finished {
                "PodCompleted"
            } else {
                "ContainersNotReady"
            }),
            &i.now,
        ),
        condition(i.previous, "PodScheduled", true, None, &i.now),
    ];
    let mut s = json!({
        "phase": phase,
        "conditions": conds,
        "hostIP": i.host_ip,
        "hostIPs": [{"ip": i.host_ip}],
        "startTime": i.start_time,
        "qosClass": "BestEffort",
        "containerStatuses": i.containers.iter().map(container_json).collect::<Vec<_>>(),
    });
    if let Some(ip) = &i.pod_ip {
        s["podIP"] = json!(ip);
        s["podIPs"] = json!([{"ip": ip}]);
    }
    s
}

/// Status without timestamps that change on every computation, for
/// deciding whether to write.
pub fn comparable(status: &Value) -> Value {
    let mut s = status.clone();
    if let Some(cs) = s.get_mut("conditions").and_then(Value::as_array_mut) {
        for c in cs {
            if let Some(m) = c.as_object_mut() {
                m.remove("lastTransitionTime");
                m.remove("lastProbeTime");
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(state: State, ready: bool) -> ContainerView {
        ContainerView {
            name: "c".into(),
            image: "i".into(),
            state,
            last: None,
            restart_count: 0,
            ready,
            started: ready,
            container_id: String::new(),
        }
    }

    fn term(code: i32) -> State {
        State::Terminated(Terminated {
            exit_code: code,
            reason: "x".into(),
            started_at: "a".into(),
            finished_at: "b".into(),
        })
    }

    #[test]
    fn phases() {
        let running = view(
            State::Running {
                started_at: "t".into(),
            },
            true,
        );
        assert_eq!(
            phase(std::slice::from_ref(&running), "Always", false),
            "Pending"
        );
        assert_eq!(
            phase(std::slice::from_ref(&running), "Always", true),
            "Running"
        );
        assert_eq!(phase(&[view(term(0), false)], "Never", true), "Succeeded");
        assert_eq!(
            phase(&[view(term(1), false), running], "Never", true),
            "Running"
        );
        assert_eq!(phase(&[view(term(1), false)], "Never", true), "Failed");
        let waiting = view(
            State::Waiting {
                reason: "ContainerCreating".into(),
                message: String::new(),
            },
            false,
        );
        assert_eq!(phase(&[waiting], "Always", true), "Pending");
    }

    #[test]
    fn ready_condition_keeps_its_transition_time() {
        let cs = [view(
            State::Running {
                started_at: "t".into(),
            },
            true,
        )];
        let input = |prev, now: &str| StatusInput {
            containers: &cs,
            restart_policy: "Always",
            sandbox_ready: true,
            pod_ip: Some("10.244.1.2".into()),
            host_ip: "10.250.0.2".into(),
            start_time: "s".into(),
            previous: prev,
            now: now.into(),
        };
        let first = pod_status(&input(None, "T1"));
        let ready = |s: &Value| {
            s["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == "Ready")
                .unwrap()
                .clone()
        };
        assert_eq!(ready(&first)["status"], "True");
        assert_eq!(ready(&first)["lastTransitionTime"], "T1");
        let second = pod_status(&input(Some(&first), "T2"));
        assert_eq!(ready(&second)["lastTransitionTime"], "T1");
        assert_eq!(comparable(&first), comparable(&second));
        assert_eq!(first["podIP"], "10.244.1.2");
    }
}
