//! `GET /containerLogs/{namespace}/{pod}/{container}`, as the kubelet
//! serves it: `tailLines`, `previous` and `follow` (streamed until the
//! container stops or restarts; `previous` is the last run that ended,
//! as the kubelet has it), plus `podUID`, which the API server sends
//! to tell apart two pods of the same name. Errors are Status objects.
use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use axum::{
    body::Body,
    extract::{Path as UrlPath, RawQuery, State},
    http::header,
    response::{IntoResponse, Response},
    Extension,
};
use serde_json::Value;

use super::auth::Peer;
use crate::{
    agent::{
        pods::shared::{pods_root, Shared},
        runtime::{self, namespaces::check_component},
    },
    apiserver::{kubelet::LogQuery, status::ApiError},
};

/// The pod's directory: `podUID`'s if given, otherwise the newest of the
/// pods named `namespace/name` on this node.
fn pod_dir(data_dir: &Path, namespace: &str, name: &str, uid: Option<&str>) -> Option<PathBuf> {
    let matches = |dir: &Path| {
        std::fs::read(dir.join("sandbox.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|v| v["namespace"] == namespace && v["name"] == name)
    };
    let root = pods_root(data_dir);
    if let Some(uid) = uid {
        check_component("pod uid", uid).ok()?;
        let dir = root.join(uid);
        return matches(&dir).then_some(dir);
    }
    std::fs::read_dir(&root)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|d| matches(d))
        .max_by_key(|d| d.metadata().and_then(|m| m.modified()).ok())
}

/// Whether the container's current run is alive, from its saved state.
fn running(state_dir: PathBuf, container: String) -> impl Fn() -> bool + Send + 'static {
    move || {
        runtime::load_state(&state_dir, &container)
            .ok()
            .flatten()
            .is_some_and(|s| runtime::is_alive(s.pid, s.start_time))
    }
}

/// Whether run `restart` of the container has ended: it is not the run
/// the saved state says is alive (a run starting right now has its log
/// before its state, so a newer log than the state counts as running).
fn ended(state_dir: &Path, container: &str, restart: u32) -> bool {
    match runtime::load_state(state_dir, container).ok().flatten() {
        Some(s) if s.restart_count == restart => !runtime::is_alive(s.pid, s.start_time),
        Some(s) => s.restart_count > restart,
        None => true,
    }
}

/// The run whose log is asked for, as the kubelet picks it: the latest
/// run, or with `previous` the last one that ended (the latest itself while
/// the container waits to restart).
fn pick_run(dir: &Path, container: &str, pod: &str, previous: bool) -> Result<u32, ApiError> {
    let runs = runtime::log_runs(&dir.join("logs"), container);
    let Some(&latest) = runs.last() else {
        return Err(ApiError::bad_request(if previous {
            format!("previous terminated container {container:?} in pod {pod:?} not found")
        } else {
            format!("container {container:?} in pod {pod:?} is waiting to start")
        }));
    };
    if !previous || ended(&dir.join("state"), container, latest) {
        return Ok(latest);
    }
    runs.iter().rev().nth(1).copied().ok_or_else(|| {
        ApiError::bad_request(format!(
            "previous terminated container {container:?} in pod {pod:?} not found"
        ))
    })
}

fn text(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// The handler.
pub async fn container_logs(
    State(shared): State<Arc<Shared>>,
    Extension(peer): Extension<Peer>,
    UrlPath((namespace, pod, container)): UrlPath<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    peer.check()?;
    let q = LogQuery::parse(query.as_deref().unwrap_or("")).map_err(ApiError::bad_request)?;
    check_component("container name", &container)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let dir = pod_dir(&shared.data_dir, &namespace, &pod, q.pod_uid.as_deref()).ok_or_else(
        || {
            ApiError::bad_request(format!(
                "container {container:?} in pod {pod:?} is waiting to start: the pod has no sandbox on node {} yet",
                shared.node
            ))
        },
    )?;
    let logs = dir.join("logs");
    let run = pick_run(&dir, &container, &pod, q.previous)?;
    if q.follow && !q.previous {
        let alive = running(dir.join("state"), container.clone());
        let stream = runtime::follow_logs_while(&logs, &container, q.tail_lines, alive);
        use futures::StreamExt;
        let stream = stream.map(Ok::<_, std::io::Error>);
        return Ok(text(Body::from_stream(stream)));
    }
    let out = tokio::task::spawn_blocking(move || {
        runtime::read_run(&logs, &container, run, q.tail_lines)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(text(Body::from(out)))
}
