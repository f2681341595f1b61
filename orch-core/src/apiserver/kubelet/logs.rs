//! `GET pods/NAME/log`: picks the container, finds the pod's node and its
//! agent's address (`InternalIP` and `daemonEndpoints.kubeletEndpoint`),
//! and streams what the agent's `/containerLogs` answers. Errors are
//! Status objects: 400 for bad options, an unknown container or a pod not
//! on a node yet, 404 for an unknown pod, 503 when the agent can't be
//! reached; the agent's own Status errors pass through.
use std::net::{IpAddr, SocketAddr};

use axum::{
    body::Body,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use http_body_util::BodyExt;
use serde_json::Value;

use super::{connect, query::LogQuery};
use crate::apiserver::{
    objects::{self, ObjectRef},
    resources,
    state::ApiState,
    status::ApiError,
};

/// Port of the agent's endpoint when the Node does not say.
pub const DEFAULT_KUBELET_PORT: u16 = 10250;

/// Largest error body read back from an agent.
const MAX_ERROR_BODY: usize = 64 << 10;

/// The container to read: the one asked for, or the only one.
pub fn pick_container(pod: &Value, asked: Option<&str>) -> Result<String, ApiError> {
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let names: Vec<&str> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    match asked {
        Some(c) if names.contains(&c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}: choose one of: [{}]",
            names.join(" ")
        ))),
        None if names.len() == 1 => Ok(names[0].to_string()),
        None => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}, choose one of: [{}]",
            names.join(" ")
        ))),
    }
}

/// Where the agent of `node` listens: its InternalIP and advertised port.
fn agent_address(node: &Value) -> Option<SocketAddr> {
    let ip: IpAddr = node
        .pointer("/status/addresses")?
        .as_array()?
        .iter()
        .find(|a| a["type"] == "InternalIP")?["address"]
        .as_str()?
        .parse()
        .ok()?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    Some(SocketAddr::new(ip, port))
}

/// Serves `GET pods/NAME/log?query`.
pub async fn pod_log(
    state: &ApiState,
    oref: ObjectRef<'_>,
    query: &str,
) -> Result<Response, ApiError> {
    let mut q = LogQuery::parse(query).map_err(ApiError::bad_request)?;
    let pod = objects::get(state, oref).await?;
    let container = pick_container(&pod, q.container.as_deref())?;
    let name = oref.name;
    let node = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "pod {name} does not have a host assigned: it is not scheduled to a node yet"
            ))
        })?
        .to_string();
    let nodes = resources::by_kind("Node").expect("served");
    let node_obj = objects::get(
        state,
        ObjectRef {
            res: nodes,
            namespace: None,
            name: &node,
        },
    )
    .await
    .map_err(|e| {
        ApiError::unavailable(format!(
            "the node {node} of pod {name} cannot be read: {}",
            e.message
        ))
    })?;
    let addr = agent_address(&node_obj).ok_or_else(|| {
        ApiError::unavailable(format!(
            "node {node} has no InternalIP address: its agent has not registered"
        ))
    })?;
    q.pod_uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let ns = oref.namespace.unwrap_or("default");
    let path = format!(
        "/containerLogs/{ns}/{name}/{container}?{}",
        q.to_agent_query()
    );
    let resp = connect::get(state.node_certs.client_config(), &node, addr, &path)
        .await
        .map_err(|e| {
            ApiError::unavailable(format!(
                "cannot reach the agent of node {node} at {addr}: {e}"
            ))
        })?;
    let status = resp.status();
    if status.is_success() {
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            Body::new(resp.into_body()),
        )
            .into_response());
    }
    let body = http_body_util::Limited::new(resp.into_body(), MAX_ERROR_BODY)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    match serde_json::from_slice::<Value>(&body) {
        Ok(v) if v["kind"] == "Status" => {
            Ok((status, [(header::CONTENT_TYPE, "application/json")], body).into_response())
        }
        _ => Err(ApiError::unavailable(format!(
            "the agent of node {node} answered {status}: {}",
            String::from_utf8_lossy(&body).trim()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_only_container_is_the_default() {
        let one = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}});
        assert_eq!(pick_container(&one, None).unwrap(), "a");
        let e = pick_container(&one, Some("b")).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(
            e.message.contains("container b is not valid for pod p") && e.message.contains("[a]")
        );
        let two = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let e = pick_container(&two, None).unwrap_err();
        assert!(e.message.contains("choose one of: [a b]"), "{}", e.message);
        assert_eq!(pick_container(&two, Some("b")).unwrap(), "b");
    }

    #[test]
    fn agent_address_uses_the_advertised_port() {
        let n = json!({"status": {"addresses": [{"type": "Hostname", "address": "n"}, {"type": "InternalIP", "address": "10.250.0.2"}], "daemonEndpoints": {"kubeletEndpoint": {"Port": 10251}}}});
        assert_eq!(agent_address(&n), Some("10.250.0.2:10251".parse().unwrap()));
        let n = json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.250.0.3"}]}});
        assert_eq!(agent_address(&n), Some("10.250.0.3:10250".parse().unwrap()));
        assert_eq!(agent_address(&json!({})), None);
    }
}
