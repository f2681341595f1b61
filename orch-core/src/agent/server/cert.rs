//! The agent's TLS identity for its HTTPS endpoint: a fresh key at every
//! start and a serving certificate for the node's name and address, signed
//! by the cluster CA from the agent's CSR (`POST /orch/v1/node-serving-cert`
//! with the node token). Clients are verified against the cluster CA; a
//! client without a certificate gets through the handshake only to be
//! told why it is refused (see [`super::auth`]).
use std::{net::IpAddr, sync::Arc};

use http::{Method, Request};
use kube::Client;
use rustls::{
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    server::WebPkiClientVerifier,
};
use serde_json::{json, Value};

use crate::{agent::AgentError, apiserver::kubelet};

fn config_err(what: &str, e: impl std::fmt::Display) -> AgentError {
    AgentError::Config(format!("{what}: {e}"))
}

/// Asks the API server for a serving certificate for `node` at `ip`;
/// returns the certificate and key PEM.
async fn issue(client: &Client, node: &str, ip: IpAddr) -> Result<(String, String), AgentError> {
    let (csr, key) =
        kubelet::serving_csr(node, &[ip]).map_err(|e| config_err("making the CSR", e))?;
    let body = serde_json::to_vec(&json!({ "csr": csr }))
        .map_err(|e| config_err("encoding the CSR", e))?;
    let req = Request::builder()
        .method(Method::POST)
        .uri("/orch/v1/node-serving-cert")
        .header("content-type", "application/json")
        .body(body)
        .map_err(|e| config_err("building the request", e))?;
    let v: Value = client.request(req).await?;
    let cert = v["certificate"]
        .as_str()
        .ok_or_else(|| AgentError::Config("no certificate in the node-serving-cert answer".into()))?
        .to_string();
    Ok((cert, key.serialize_pem()))
}

/// The TLS server configuration of `node`'s endpoint at `ip`.
pub async fn server_config(
    client: &Client,
    node: &str,
    ip: IpAddr,
    ca_pem: &str,
) -> Result<rustls::ServerConfig, AgentError> {
    let (cert_pem, key_pem) = issue(client, node, ip).await?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(c.map_err(|e| config_err("the cluster CA", e))?)
            .map_err(|e| config_err("the cluster CA", e))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| config_err("the client verifier", e))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| config_err("the serving certificate", e))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| config_err("the serving key", e))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| config_err("TLS versions", e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| config_err("the serving certificate", e))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}
