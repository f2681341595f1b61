//! `/openapi/v2`: a Swagger 2.0 document with the definitions of every
//! served kind, so kubectl validates manifests client-side, explains fields
//! and computes `apply` patches as it does against Kubernetes. Built once,
//! on first use; served as gnostic protobuf (what kubectl asks for) or JSON.
mod encode;
mod gnostic;
mod patch_meta;
mod schemas;
#[cfg(test)]
mod tests;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap};
use prost::Message;
use serde_json::{json, Value};

/// The `Content-Type` of the protobuf encoding. Clients ask for
/// `...spec.v2@v1.0+protobuf`, but Go's media-type parser (which kubectl runs
/// on every response) refuses the `@`, so the answer says `.v1.0`.
pub const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// The document in both encodings.
#[derive(Debug)]
pub struct Encoded {
    /// JSON.
    pub json: Bytes,
    /// gnostic `openapi.v2.Document` protobuf.
    pub protobuf: Bytes,
    /// How long building both took.
    pub built_in: Duration,
}

/// The document as JSON value.
pub fn document() -> Value {
    let (mut defs, roots) = schemas::definitions();
    patch_meta::annotate(&mut defs, &roots);
    json!({
        "swagger": "2.0",
        "info": {"title": "orch", "version": crate::apiserver::discovery::version()["gitVersion"]},
        "paths": {},
        "definitions": defs,
    })
}

/// The cached encodings, built on first call.
pub fn encoded() -> &'static Encoded {
    static DOC: OnceLock<Encoded> = OnceLock::new();
    DOC.get_or_init(|| {
        let started = Instant::now();
        let doc = document();
        let protobuf = encode::document(&doc).encode_to_vec();
        // Serialising a `Value` cannot fail (its keys are strings).
        let json = serde_json::to_vec(&doc).unwrap_or_default();
        let built = Encoded {
            json: Bytes::from(json),
            protobuf: Bytes::from(protobuf),
            built_in: started.elapsed(),
        };
        tracing::info!(
            json_bytes = built.json.len(),
            protobuf_bytes = built.protobuf.len(),
            ms = built.built_in.as_millis() as u64,
            "built the OpenAPI v2 document"
        );
        built
    })
}

/// `GET /openapi/v2`: protobuf when the client accepts it, JSON otherwise.
pub fn response(headers: &HeaderMap) -> Response {
    let doc = encoded();
    let wants_protobuf = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("protobuf"));
    if wants_protobuf {
        ([(header::CONTENT_TYPE, PROTOBUF)], doc.protobuf.clone()).into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/json")],
            doc.json.clone(),
        )
            .into_response()
    }
}
