//! The API server's side of the node agents' HTTPS endpoint (port 10250,
//! as the kubelet's): issuing agents' serving certificates, the API
//! server's client certificate, and `pods/NAME/log`, which it proxies to
//! the agent of the pod's node.
//!
//! Trust is mutual TLS under the cluster CA. An agent sends a CSR with its
//! node token (`POST /orch/v1/node-serving-cert`) and gets a certificate
//! for its node name and addresses that can only serve; the API server
//! verifies agents as their node's name, so a node can only answer for
//! itself. The API server presents a client certificate whose common name
//! is [`CLIENT_CN`]; agents accept no other client.
mod certs;
mod connect;
mod logs;
mod query;

use serde_json::{json, Value};

pub use certs::{common_name, serving_csr, NodeCerts, CLIENT_CN};
pub use logs::{pick_container, pod_log, DEFAULT_KUBELET_PORT};
pub use query::LogQuery;

use super::{auth::Identity, status::ApiError};

/// `POST /orch/v1/node-serving-cert` with `{"csr": PEM}`: a node signs in
/// with its own token and gets `{"certificate": PEM}` for itself.
pub fn serving_cert(certs: &NodeCerts, who: &Identity, body: &Value) -> Result<Value, ApiError> {
    let Identity::Node(node) = who else {
        return Err(ApiError::forbidden(
            "only a node's token may ask for a node serving certificate",
        ));
    };
    let csr = body
        .get("csr")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("csr: a PEM certificate request is required"))?;
    let cert = certs
        .sign_serving(node, csr)
        .map_err(ApiError::bad_request)?;
    Ok(json!({"nodeName": node, "certificate": cert}))
}
