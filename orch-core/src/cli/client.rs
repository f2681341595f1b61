//! orchctl's connection to the API: kubeconfig discovery, raw requests
//! through kube-rs, and errors that print the Status message and causes.
use std::path::PathBuf;

use bytes::Bytes;
use futures::Stream;
use http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt;
use kube::client::Body;
use serde_json::Value;

/// An error for the user: the message, and field causes if the server sent
/// any.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server answered with a Status.
    #[error("Error from server ({reason}): {message}{}", causes_text(.causes))]
    Server {
        /// HTTP code.
        code: u16,
        /// Status reason.
        reason: String,
        /// Status message.
        message: String,
        /// (field, message) pairs.
        causes: Vec<(String, String)>,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

fn causes_text(causes: &[(String, String)]) -> String {
    causes
        .iter()
        .map(|(f, m)| format!("\n  * {}: {m}", if f.is_empty() { "<object>" } else { f }))
        .collect()
}

impl CliError {
    /// The HTTP code for server errors.
    pub fn code(&self) -> Option<u16> {
        match self {
            CliError::Server { code, .. } => Some(*code),
            CliError::Other(_) => None,
        }
    }
}

impl From<kube::Error> for CliError {
    fn from(e: kube::Error) -> Self {
        CliError::Other(format!("connection to the API server failed: {e}"))
    }
}

/// Finds the kubeconfig: `--kubeconfig`, then `KUBECONFIG`, then
/// `~/.kube/config`, then `/var/lib/orch/admin.kubeconfig`.
pub fn kubeconfig_path(flag: Option<PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(p) = flag {
        return Ok(p);
    }
    if let Some(p) = std::env::var_os("KUBECONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let candidates = [
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config")),
        Some(PathBuf::from("/var/lib/orch/admin.kubeconfig")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .ok_or_else(|| {
            CliError::Other(
                "no kubeconfig: pass --kubeconfig, set KUBECONFIG, or write ~/.kube/config".into(),
            )
        })
}

/// A client bound to one cluster.
#[derive(Clone)]
pub struct ApiClient {
    client: kube::Client,
    /// The kubeconfig's default namespace.
    pub default_namespace: String,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("default_namespace", &self.default_namespace)
            .finish()
    }
}

impl ApiClient {
    /// Connects using the kubeconfig at `path`.
    pub async fn connect(path: &std::path::Path) -> Result<Self, CliError> {
        let kc = kube::config::Kubeconfig::read_from(path)
            .map_err(|e| CliError::Other(format!("reading kubeconfig {}: {e}", path.display())))?;
        let cfg =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| CliError::Other(format!("kubeconfig {}: {e}", path.display())))?;
        let default_namespace = cfg.default_namespace.clone();
        let client = kube::Client::try_from(cfg)
            .map_err(|e| CliError::Other(format!("building the client: {e}")))?;
        Ok(Self {
            client,
            default_namespace,
        })
    }

    /// Sends a request; a non-2xx answer becomes [`CliError::Server`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        accept: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Bytes, CliError> {
        let resp = self.send(method, path, content_type, accept, body).await?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| CliError::Other(e.to_string()))?
            .to_bytes();
        if status.is_success() {
            Ok(bytes)
        } else {
            Err(server_error(status, &bytes))
        }
    }

    /// Sends a request and returns the JSON answer.
    pub async fn json(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let body = body
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default();
        let bytes = self
            .call(
                method,
                path,
                content_type.or(Some("application/json")),
                Some("application/json"),
                body,
            )
            .await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| CliError::Other(format!("the server sent invalid JSON: {e}")))
    }

    /// A streaming GET (watch, follow logs): yields body chunks.
    pub async fn stream(
        &self,
        path: &str,
    ) -> Result<impl Stream<Item = Result<Bytes, CliError>>, CliError> {
        let resp = self
            .send(
                Method::GET,
                path,
                None,
                Some("application/json"),
                Vec::new(),
            )
            .await?;
        let status = resp.status();
        if !status.is_success() {
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| CliError::Other(e.to_string()))?
                .to_bytes();
            return Err(server_error(status, &bytes));
        }
        let body = resp.into_body();
        Ok(futures::stream::unfold(body, |mut body| async move {
            loop {
                match body.frame().await {
                    None => return None,
                    Some(Err(e)) => return Some((Err(CliError::Other(e.to_string())), body)),
                    Some(Ok(f)) => {
                        if let Ok(data) = f.into_data() {
                            return Some((Ok(data), body));
                        }
                    }
                }
            }
        }))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        accept: Option<&str>,
        body: Vec<u8>,
    ) -> Result<http::Response<Body>, CliError> {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        if let Some(a) = accept {
            req = req.header(header::ACCEPT, a);
        }
        let req = req
            .body(Body::from(body))
            .map_err(|e| CliError::Other(e.to_string()))?;
        Ok(self.client.send(req).await?)
    }
}

fn server_error(status: StatusCode, body: &[u8]) -> CliError {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v["kind"] == "Status" => CliError::Server {
            code: status.as_u16(),
            reason: v["reason"].as_str().unwrap_or("Unknown").to_string(),
            message: v["message"].as_str().unwrap_or("").to_string(),
            causes: v
                .pointer("/details/causes")
                .and_then(Value::as_array)
                .map(|cs| {
                    cs.iter()
                        .map(|c| {
                            (
                                c["field"].as_str().unwrap_or("").to_string(),
                                c["message"].as_str().unwrap_or("").to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        },
        _ => CliError::Server {
            code: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Unknown").to_string(),
            message: String::from_utf8_lossy(body).trim().to_string(),
            causes: Vec::new(),
        },
    }
}
