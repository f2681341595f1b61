//! The agent's API client: trusts the cluster CA, authenticates with its
//! node token, which it gets once by exchanging the join token and keeps
//! in its data directory.
use std::path::Path;

use http::{Method, Request};
use http_body_util::BodyExt;
use kube::{client::Body, config::Kubeconfig, Client};
use serde_json::{json, Value};

use super::AgentError;
use crate::apiserver::kubeconfig;

/// A client for `server`, trusting `ca_pem`, sending `token`.
pub async fn connect(server: &str, ca_pem: &str, token: &str) -> Result<Client, AgentError> {
    let yaml = kubeconfig::render(server, ca_pem, token, "orch-agent");
    let kc =
        Kubeconfig::from_yaml(&yaml).map_err(|e| AgentError::Config(format!("kubeconfig: {e}")))?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .map_err(|e| AgentError::Config(format!("client configuration: {e}")))?;
    Ok(Client::try_from(cfg)?)
}

/// The node token of `node`: read from `token_file` if present, otherwise
/// obtained from the server with the join token and saved there.
pub async fn node_token(
    server: &str,
    ca_pem: &str,
    token: &str,
    node: &str,
    token_file: &Path,
) -> Result<String, AgentError> {
    if !token.starts_with("join.") {
        return Ok(token.to_string());
    }
    if let Ok(saved) = std::fs::read_to_string(token_file) {
        if !saved.trim().is_empty() {
            return Ok(saved.trim().to_string());
        }
    }
    let client = connect(server, ca_pem, token).await?;
    let body = serde_json::to_vec(&json!({"nodeName": node})).unwrap_or_default();
    let req = Request::builder()
        .method(Method::POST)
        .uri("/orch/v1/node-credentials")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .map_err(|e| AgentError::Config(e.to_string()))?;
    let resp = client.send(req).await?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| AgentError::Config(e.to_string()))?
        .to_bytes();
    if !status.is_success() {
        return Err(AgentError::Config(format!(
            "the server refused the join token ({status}): {}",
            String::from_utf8_lossy(&bytes)
        )));
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| AgentError::Config(e.to_string()))?;
    let t = v["token"]
        .as_str()
        .ok_or_else(|| AgentError::Config("no token in the node-credentials answer".into()))?
        .to_string();
    crate::util::write_private(token_file, t.as_bytes())?;
    Ok(t)
}
