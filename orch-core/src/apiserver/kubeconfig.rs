//! Writing kubeconfig files that orchctl, kubectl and kube-rs accept.
use base64::Engine;
use serde_json::json;

/// A kubeconfig for `server` trusting `ca_pem`, authenticating with `token`.
pub fn render(server: &str, ca_pem: &str, token: &str, user: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "orch", "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "orch", "context": {"cluster": "orch", "user": user, "namespace": "default"}}],
        "current-context": "orch",
        "preferences": {},
    });
    serde_yaml::to_string(&doc).unwrap_or_default()
}
