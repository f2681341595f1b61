//! Get and list: one object, or a filtered page of a consistent snapshot.
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{decode, ObjectRef};
use crate::apiserver::{
    resources::Resource,
    selector::{FieldSelector, LabelSelector},
    state::ApiState,
    status::ApiError,
};
use crate::store::{ListOptions, Revision, StoreError};

/// Reads one object.
pub async fn get(state: &ApiState, oref: ObjectRef<'_>) -> Result<Value, ApiError> {
    let kv = state
        .store
        .get(&oref.key())
        .await
        .map_err(|e| oref.store_err(e))?
        .ok_or_else(|| oref.not_found())?;
    decode(&kv)
}

/// Query parameters of a list (and of a watch).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    /// Label selector, Kubernetes string syntax.
    pub label_selector: Option<String>,
    /// Field selector.
    pub field_selector: Option<String>,
    /// Page size.
    pub limit: Option<usize>,
    /// Continue token of the previous page.
    #[serde(rename = "continue")]
    pub continue_token: Option<String>,
    /// "" (consistent), "0" (any), or a revision.
    pub resource_version: Option<String>,
    /// NotOlderThan or Exact.
    pub resource_version_match: Option<String>,
    /// Watch instead of list.
    pub watch: Option<String>,
    /// Send BOOKMARK events.
    pub allow_watch_bookmarks: Option<bool>,
    /// End the watch after this many seconds.
    pub timeout_seconds: Option<u64>,
    /// Streaming list: initial ADDED events, then a BOOKMARK.
    pub send_initial_events: Option<bool>,
}

impl ListQuery {
    /// Whether this request is a watch.
    pub fn is_watch(&self) -> bool {
        matches!(self.watch.as_deref(), Some("true" | "1"))
    }
}

/// Parsed selectors of a request.
#[derive(Debug, Default)]
pub struct Filter {
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

impl Filter {
    /// Parses and checks the selectors of `q` for resource `res`.
    pub fn parse(res: &Resource, q: &ListQuery) -> Result<Self, ApiError> {
        let labels =
            match q.label_selector.as_deref().filter(|s| !s.trim().is_empty()) {
                Some(s) => Some(LabelSelector::parse(s).map_err(|e| {
                    ApiError::bad_request(format!("unable to parse requirement: {e}"))
                })?),
                None => None,
            };
        let fields = match q.field_selector.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => {
                let f =
                    FieldSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?;
                f.validate_fields(&allowed_fields(res.kind))
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                Some(f)
            }
            None => None,
        };
        Ok(Self { labels, fields })
    }

    /// Whether `obj` passes both selectors.
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.as_ref().is_none_or(|l| l.matches_object(obj))
            && self.fields.as_ref().is_none_or(|f| f.matches(obj))
    }
}

/// Field selectors each kind supports.
fn allowed_fields(kind: &str) -> Vec<&'static str> {
    let mut v = vec!["metadata.name", "metadata.namespace"];
    match kind {
        "Pod" => v.extend([
            "spec.nodeName",
            "status.phase",
            "spec.schedulerName",
            "spec.restartPolicy",
            "status.podIP",
        ]),
        "Namespace" => v.push("status.phase"),
        "Node" => v.push("spec.unschedulable"),
        "Secret" => v.push("type"),
        "Event" => v.extend([
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "source",
            "type",
        ]),
        _ => {}
    }
    v
}

#[derive(Serialize, Deserialize)]
struct Continue {
    rv: Revision,
    start: String,
}

fn encode_continue(rv: Revision, start: &str) -> String {
    let raw = serde_json::to_vec(&Continue {
        rv,
        start: start.to_string(),
    })
    .unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(token: &str) -> Result<Continue, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "continue key is not valid: it must be a token returned by a previous list",
            )
        })
}

/// Lists objects of `res` (in `namespace`, or everywhere), filtered and
/// paged over one snapshot.
pub async fn list(
    state: &ApiState,
    res: &'static Resource,
    namespace: Option<&str>,
    q: &ListQuery,
) -> Result<Value, ApiError> {
    let filter = Filter::parse(res, q)?;
    let prefix = res.key_prefix(namespace);
    let limit = q.limit.unwrap_or(0);
    let (mut revision, mut start_after) =
        match q.continue_token.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => {
                let c = decode_continue(t)?;
                if !c.start.starts_with(&prefix) {
                    return Err(ApiError::bad_request(
                        "continue key does not belong to this list",
                    ));
                }
                (Some(c.rv), Some(c.start))
            }
            None => (exact_revision(q)?, None),
        };
    let mut items = Vec::new();
    let mut next_token = None;
    loop {
        let want = if limit == 0 {
            0
        } else {
            (limit - items.len()).max(1)
        };
        let page = state
            .store
            .list(&ListOptions { prefix: prefix.clone(), start_after: start_after.clone(), limit: want, revision })
            .await
            .map_err(|e| match e {
                StoreError::Compacted { .. } if q.continue_token.is_some() => ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                ),
                e => ApiError::from_store(e, &res.qualified(), res.group, ""),
            })?;
        revision = Some(page.revision);
        let last_key = page.items.last().map(|kv| kv.key.clone());
        for kv in &page.items {
            let obj = decode(kv)?;
            if filter.matches(&obj) {
                items.push(obj);
            }
        }
        if !page.more {
            break;
        }
        start_after = last_key;
        if limit > 0 && items.len() >= limit {
            next_token = start_after
                .as_deref()
                .map(|k| encode_continue(page.revision, k));
            break;
        }
    }
    let rv = revision.unwrap_or(0).to_string();
    let mut meta = json!({"resourceVersion": rv});
    if let Some(t) = next_token {
        meta["continue"] = json!(t);
    }
    Ok(json!({
        "kind": format!("{}List", res.kind),
        "apiVersion": res.api_version(),
        "metadata": meta,
        "items": items,
    }))
}

/// The revision to read at when the client asked for an exact one.
fn exact_revision(q: &ListQuery) -> Result<Option<Revision>, ApiError> {
    match (
        q.resource_version.as_deref(),
        q.resource_version_match.as_deref(),
    ) {
        (Some(rv), Some("Exact")) => rv
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("resourceVersion {rv:?} is not a number"))),
        (_, Some("NotOlderThan" | "Exact") | None) => Ok(None),
        (_, Some(other)) => Err(ApiError::bad_request(format!(
            "resourceVersionMatch {other:?} is not supported: expected NotOlderThan or Exact"
        ))),
    }
}
