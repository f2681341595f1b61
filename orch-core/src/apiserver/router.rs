//! HTTP entry: authentication, health and metrics endpoints, discovery, and
//! dispatch of every resource path to the generic object operations.
use std::{sync::Arc, time::Instant};

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde_json::{json, Value};

use super::{
    auth::{authorize, Access, Identity},
    discovery, kubelet,
    objects::{self, DeleteOptions, ListQuery, ObjectRef, WriteTarget},
    patch::PatchType,
    paths::{self, ResourcePath, SubPath},
    resources::Sub,
    special::{self, ScaleWrite},
    state::ApiState,
    status::ApiError,
    table, watch,
};

/// Builds the API server's router.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/healthz", get(ok_text))
        .route("/livez", get(ok_text))
        .route("/readyz", get(ok_text))
        .fallback(entry)
        .with_state(state)
}

async fn ok_text() -> &'static str {
    "ok"
}

async fn entry(
    State(state): State<Arc<ApiState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let (verb, resource) = describe(&method, &uri);
    let resp = match handle(&state, &method, &uri, &headers, body).await {
        Ok(r) => r,
        Err(e) => {
            if e.code >= 500 {
                tracing::warn!(%method, %uri, error = %e, "request failed");
            }
            e.into_response()
        }
    };
    if verb != "watch" {
        state.metrics.observe(
            verb,
            &resource,
            resp.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    resp
}

/// Verb and resource labels for metrics.
fn describe(method: &Method, uri: &Uri) -> (&'static str, String) {
    let rp = paths::parse(uri.path()).and_then(Result::ok);
    let resource = rp.as_ref().map_or_else(
        || "other".to_string(),
        |r| match r.sub {
            Some(SubPath::Known(s)) => format!("{}/{}", r.res.plural, s.name()),
            Some(SubPath::Finalize) => format!("{}/finalize", r.res.plural),
            None => r.res.plural.to_string(),
        },
    );
    let named = rp.as_ref().is_some_and(|r| r.name.is_some());
    let watching = uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let verb = match *method {
        Method::GET if watching => "watch",
        Method::GET if named => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "other",
    };
    (verb, resource)
}

fn authenticate(state: &ApiState, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(ApiError::unauthorized)?;
    state
        .auth
        .authenticate(token)
        .ok_or_else(ApiError::unauthorized)
}

fn json_response(code: StatusCode, v: Value) -> Response {
    (code, Json(v)).into_response()
}

async fn handle(
    state: &Arc<ApiState>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let who = authenticate(state, headers)?;
    let path = uri.path().trim_end_matches('/');
    match (method, path) {
        (&Method::GET, "/metrics") => {
            return Ok((
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                state.metrics.render(),
            )
                .into_response())
        }
        (&Method::GET, "/version") => {
            return Ok(json_response(StatusCode::OK, discovery::version()))
        }
        (&Method::GET, "/api") => {
            return Ok(json_response(StatusCode::OK, discovery::api_versions()))
        }
        (&Method::GET, "/apis") => {
            return Ok(json_response(StatusCode::OK, discovery::api_group_list()))
        }
        (&Method::GET, "/openapi/v2") => return Ok(super::openapi::response(headers)),
        (&Method::GET, "/orch/v1/snapshot") => {
            if who != Identity::Admin {
                return Err(ApiError::forbidden("only the admin may take snapshots"));
            }
            return snapshot(state).await;
        }
        (&Method::POST, "/orch/v1/pod-token") => {
            let body = read_body(state, body).await?;
            let v = parse_json(&body, headers)?;
            let (ns, name) = match (v["namespace"].as_str(), v["name"].as_str()) {
                (Some(ns), Some(n)) if !ns.is_empty() && !n.is_empty() => {
                    (ns.to_string(), n.to_string())
                }
                _ => {
                    return Err(ApiError::bad_request(
                        "namespace and name of the pod are required",
                    ))
                }
            };
            let pods = super::resources::by_kind("Pod").expect("served");
            let pod = objects::get(
                state,
                ObjectRef {
                    res: pods,
                    namespace: Some(&ns),
                    name: &name,
                },
            )
            .await?;
            let bound = pod
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .unwrap_or("");
            let allowed = match &who {
                Identity::Admin => true,
                Identity::Node(n) => n == bound,
                _ => false,
            };
            if !allowed {
                return Err(ApiError::forbidden(format!(
                    "only the node pod {ns}/{name} is bound to may ask for its token"
                )));
            }
            let sa = pod
                .pointer("/spec/serviceAccountName")
                .and_then(Value::as_str)
                .unwrap_or("default");
            let token = state
                .auth
                .read_only_token(&format!("system:serviceaccount:{ns}:{sa}"));
            return Ok(json_response(StatusCode::OK, json!({"token": token})));
        }
        (&Method::POST, "/orch/v1/node-serving-cert") => {
            let body = read_body(state, body).await?;
            let v = parse_json(&body, headers)?;
            let cert = kubelet::serving_cert(&state.node_certs, &who, &v)?;
            return Ok(json_response(StatusCode::OK, cert));
        }
        (&Method::POST, "/orch/v1/node-credentials") => {
            if !matches!(who, Identity::Joiner | Identity::Admin) {
                return Err(ApiError::forbidden(
                    "only the join token may ask for node credentials",
                ));
            }
            let body = read_body(state, body).await?;
            let v = parse_json(&body, headers)?;
            let node = v
                .get("nodeName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| ApiError::bad_request("nodeName is required"))?;
            return Ok(json_response(
                StatusCode::OK,
                json!({"nodeName": node, "token": state.auth.node_token(node)}),
            ));
        }
        _ => {}
    }
    if method == Method::GET {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let gv = match segs.as_slice() {
            ["api", v] => Some(("", *v)),
            ["apis", g, v] => Some((*g, *v)),
            _ => None,
        };
        if let Some((g, v)) = gv {
            return discovery::resource_list(g, v)
                .map(|l| json_response(StatusCode::OK, l))
                .ok_or_else(|| {
                    ApiError::no_route(format!(
                        "the server could not find the requested resource: {path}"
                    ))
                });
        }
    }
    let rp = match paths::parse(path) {
        Some(r) => r?,
        None => {
            return Err(ApiError::no_route(format!(
                "the server could not find the requested resource: {path}"
            )))
        }
    };
    let query: ListQuery = serde_urlencoded::from_str(uri.query().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("invalid query parameters: {e}")))?;
    dispatch(state, &who, method, &rp, &query, uri, headers, body).await
}

/// Writes a consistent copy of the store and sends it back.
async fn snapshot(state: &ApiState) -> Result<Response, ApiError> {
    let dir = tempfile_dir()?;
    let path = dir.join("snapshot.redb");
    let result = async {
        let rev = state
            .store
            .snapshot(&path)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok::<_, ApiError>((rev, bytes))
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    let (rev, bytes) = result?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::ETAG, rev.to_string()),
        ],
        bytes,
    )
        .into_response())
}

fn tempfile_dir() -> Result<std::path::PathBuf, ApiError> {
    let dir = std::env::temp_dir().join(format!(
        "orch-snapshot-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(dir)
}

async fn read_body(state: &ApiState, body: Body) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, state.max_body)
        .await
        .map_err(|_| ApiError::too_large(state.max_body))
}

/// Parses a JSON (or YAML) request body; errors name the position.
fn parse_json(body: &[u8], headers: &HeaderMap) -> Result<Value, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if ct.contains("yaml") {
        return serde_yaml::from_slice::<Value>(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "error decoding JSON at line {} column {}: {e}",
            e.line(),
            e.column()
        ))
    })
}

fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"))
}

#[allow(clippy::too_many_arguments)]
async fn dispatch(
    state: &Arc<ApiState>,
    who: &Identity,
    method: &Method,
    rp: &ResourcePath,
    q: &ListQuery,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let res = rp.res;
    let ns = rp.namespace.as_deref();
    if res.namespaced && rp.name.is_some() && ns.is_none() {
        return Err(ApiError::no_route(format!(
            "{} is namespaced: use /namespaces/NAMESPACE/{}",
            res.qualified(),
            res.plural
        )));
    }
    let sub = rp.sub;
    let read_only = *method == Method::GET;
    // Nodes may write pods only when the pod is bound to them.
    let bound_node = match (who, res.kind, read_only, rp.name.as_deref()) {
        (Identity::Node(_), "Pod", false, Some(name)) => {
            let oref = ObjectRef {
                res,
                namespace: ns,
                name,
            };
            objects::get(state, oref).await.ok().and_then(|p| {
                p.pointer("/spec/nodeName")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
        }
        _ => None,
    };
    let sub_name = match sub {
        Some(SubPath::Known(s)) => Some(s.name()),
        Some(SubPath::Finalize) => Some("finalize"),
        None => None,
    };
    authorize(
        who,
        &Access {
            read_only,
            resource: res.plural,
            sub: sub_name,
            namespace: ns,
            name: rp.name.as_deref(),
            bound_node: bound_node.as_deref(),
        },
    )
    .map_err(ApiError::forbidden)?;

    let table = wants_table(headers);
    let include_object = uri
        .query()
        .is_some_and(|q| q.contains("includeObject=Object"));
    let render = |v: Value| {
        if table {
            json_response(StatusCode::OK, table::to_table(res, &v, include_object))
        } else {
            json_response(StatusCode::OK, v)
        }
    };

    let Some(name) = rp.name.as_deref() else {
        return match *method {
            Method::GET if q.is_watch() => {
                watch::watch(state.clone(), res, rp.namespace.clone(), q.clone()).await
            }
            Method::GET => Ok(render(objects::list(state, res, ns, q).await?)),
            Method::POST => {
                let body = read_body(state, body).await?;
                let obj = parse_json(&body, headers)?;
                let created = objects::create(state, res, ns, obj).await?;
                Ok(json_response(StatusCode::CREATED, created))
            }
            Method::DELETE => {
                let body = read_body(state, body).await?;
                let opts = delete_options(uri, &body)?;
                let list = objects::list(state, res, ns, q).await?;
                let mut deleted = Vec::new();
                for item in list["items"].as_array().cloned().unwrap_or_default() {
                    let item_ns = item
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    let item_name = item
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let oref = ObjectRef {
                        res,
                        namespace: item_ns.as_deref(),
                        name: &item_name,
                    };
                    match objects::delete(state, oref, &opts).await {
                        Ok(v) => deleted.push(v),
                        Err(e) if e.code == 404 => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(json_response(
                    StatusCode::OK,
                    json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(), "metadata": {}, "items": deleted}),
                ))
            }
            _ => Err(ApiError::method_not_allowed(format!(
                "{method} is not supported on a collection"
            ))),
        };
    };
    let oref = ObjectRef {
        res,
        namespace: ns,
        name,
    };
    match (method.clone(), sub) {
        (Method::GET, None | Some(SubPath::Known(Sub::Status))) => {
            Ok(render(objects::get(state, oref).await?))
        }
        (Method::GET, Some(SubPath::Known(Sub::Scale))) => Ok(json_response(
            StatusCode::OK,
            special::scale_of(&objects::get(state, oref).await?),
        )),
        (Method::GET, Some(SubPath::Known(Sub::Log))) => {
            kubelet::pod_log(state, oref, uri.query().unwrap_or("")).await
        }
        (Method::POST, Some(SubPath::Known(Sub::Binding))) => {
            let body = read_body(state, body).await?;
            let v = parse_json(&body, headers)?;
            Ok(json_response(
                StatusCode::CREATED,
                special::bind(state, oref, &v).await?,
            ))
        }
        (Method::PUT, None | Some(SubPath::Known(Sub::Status))) => {
            let body = read_body(state, body).await?;
            let v = parse_json(&body, headers)?;
            let target = if sub.is_some() {
                WriteTarget::Status
            } else {
                WriteTarget::Main
            };
            Ok(json_response(
                StatusCode::OK,
                objects::update(state, oref, target, v).await?,
            ))
        }
        (Method::PUT, Some(SubPath::Finalize)) => {
            let body = read_body(state, body).await?;
            let v = parse_json(&body, headers)?;
            Ok(json_response(
                StatusCode::OK,
                special::finalize_namespace(state, oref, &v).await?,
            ))
        }
        (Method::PUT, Some(SubPath::Known(Sub::Scale))) => {
            let body = read_body(state, body).await?;
            let v = parse_json(&body, headers)?;
            Ok(json_response(
                StatusCode::OK,
                special::write_scale(state, oref, ScaleWrite::Replace(&v)).await?,
            ))
        }
        (Method::PATCH, None | Some(SubPath::Known(Sub::Status | Sub::Scale))) => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let pt =
                PatchType::from_content_type(ct).ok_or_else(|| ApiError::unsupported_media(ct))?;
            let body = read_body(state, body).await?;
            let out = match sub {
                Some(SubPath::Known(Sub::Scale)) => {
                    special::write_scale(state, oref, ScaleWrite::Patch(pt, &body)).await?
                }
                Some(_) => objects::patch(state, oref, WriteTarget::Status, pt, &body).await?,
                None => objects::patch(state, oref, WriteTarget::Main, pt, &body).await?,
            };
            Ok(json_response(StatusCode::OK, out))
        }
        (Method::DELETE, None) => {
            let body = read_body(state, body).await?;
            let opts = delete_options(uri, &body)?;
            Ok(json_response(
                StatusCode::OK,
                objects::delete(state, oref, &opts).await?,
            ))
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "{method} is not supported on {}",
            uri.path()
        ))),
    }
}

/// DeleteOptions from the body, with query parameters taking precedence.
fn delete_options(uri: &Uri, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    let mut opts: DeleteOptions = if body.iter().all(u8::is_ascii_whitespace) {
        DeleteOptions::default()
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "invalid DeleteOptions at line {} column {}: {e}",
                e.line(),
                e.column()
            ))
        })?
    };
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Q {
        grace_period_seconds: Option<i64>,
        propagation_policy: Option<String>,
    }
    let q: Q = serde_urlencoded::from_str(uri.query().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("invalid query parameters: {e}")))?;
    if q.grace_period_seconds.is_some() {
        opts.grace_period_seconds = q.grace_period_seconds;
    }
    if q.propagation_policy.is_some() {
        opts.propagation_policy = q.propagation_policy;
    }
    Ok(opts)
}
