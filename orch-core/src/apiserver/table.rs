//! Server-side printing: objects as `meta.k8s.io/v1` Tables with the columns
//! kubectl users know. Both kubectl and orchctl print these.
use serde_json::{json, Value};

use super::resources::Resource;

/// One column: name, and whether it shows only with `-o wide`.
struct Col(&'static str, bool);

fn columns(kind: &str) -> Vec<Col> {
    let c = |n| Col(n, false);
    let w = |n| Col(n, true);
    match kind {
        "Namespace" => vec![c("Name"), c("Status"), c("Age")],
        "Node" => vec![
            c("Name"),
            c("Status"),
            c("Roles"),
            c("Age"),
            c("Version"),
            w("Internal-IP"),
            w("Pod-CIDR"),
        ],
        "Pod" => vec![
            c("Name"),
            c("Ready"),
            c("Status"),
            c("Restarts"),
            c("Age"),
            w("IP"),
            w("Node"),
            w("Netns"),
        ],
        "Service" => vec![
            c("Name"),
            c("Type"),
            c("Cluster-IP"),
            c("External-IP"),
            c("Port(s)"),
            c("Age"),
            w("Selector"),
        ],
        "Deployment" => vec![
            c("Name"),
            c("Ready"),
            c("Up-to-date"),
            c("Available"),
            c("Age"),
            w("Selector"),
        ],
        "ReplicaSet" => vec![c("Name"), c("Desired"), c("Current"), c("Ready"), c("Age")],
        "EndpointSlice" => vec![
            c("Name"),
            c("AddressType"),
            c("Ports"),
            c("Endpoints"),
            c("Age"),
        ],
        "ConfigMap" => vec![c("Name"), c("Data"), c("Age")],
        "Secret" => vec![c("Name"), c("Type"), c("Data"), c("Age")],
        "Lease" => vec![c("Name"), c("Holder"), c("Age")],
        "Event" => vec![
            c("Last Seen"),
            c("Type"),
            c("Reason"),
            c("Object"),
            c("Message"),
        ],
        _ => vec![c("Name"), c("Age")],
    }
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn n(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

/// Kubernetes-style short age: 45s, 3m, 2h, 5d.
pub fn age(ts: &str) -> String {
    let Ok(t) = ts.parse::<jiff::Timestamp>() else {
        return "<unknown>".into();
    };
    let secs = jiff::Timestamp::now().duration_since(t).as_secs().max(0);
    match secs {
        0..=119 => format!("{secs}s"),
        120..=7199 => format!("{}m", secs / 60),
        7200..=172_799 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

fn or_none(s: String) -> String {
    if s.is_empty() {
        "<none>".into()
    } else {
        s
    }
}

fn pod_cells(o: &Value) -> Vec<Value> {
    let statuses = o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total = o
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let ready = statuses
        .iter()
        .filter(|c| c["ready"].as_bool() == Some(true))
        .count();
    let restarts: i64 = statuses
        .iter()
        .map(|c| c["restartCount"].as_i64().unwrap_or(0))
        .sum();
    let waiting = statuses
        .iter()
        .find_map(|c| c.pointer("/state/waiting/reason").and_then(Value::as_str));
    let mut status = waiting.unwrap_or_else(|| s(o, "/status/phase")).to_string();
    if o.pointer("/metadata/deletionTimestamp").is_some() {
        status = "Terminating".into();
    }
    vec![
        json!(s(o, "/metadata/name")),
        json!(format!("{ready}/{total}")),
        json!(status),
        json!(restarts),
        json!(age(s(o, "/metadata/creationTimestamp"))),
        json!(or_none(s(o, "/status/podIP").into())),
        json!(or_none(s(o, "/spec/nodeName").into())),
        json!(or_none(s(o, "/metadata/annotations/orch.io~1netns").into())),
    ]
}

fn service_ports(o: &Value) -> String {
    let ports = o
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let p: Vec<String> = ports
        .iter()
        .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP")))
        .collect();
    or_none(p.join(","))
}

fn selector_string(v: Option<&Value>) -> String {
    let Some(m) = v.and_then(Value::as_object) else {
        return "<none>".into();
    };
    or_none(
        m.iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(","),
    )
}

fn cells(kind: &str, o: &Value) -> Vec<Value> {
    let name = json!(s(o, "/metadata/name"));
    let age_v = json!(age(s(o, "/metadata/creationTimestamp")));
    match kind {
        "Namespace" => vec![name, json!(s(o, "/status/phase")), age_v],
        "Node" => {
            let conds = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let ready = conds
                .iter()
                .find(|c| c["type"] == "Ready")
                .map(|c| c["status"].as_str().unwrap_or(""));
            let mut st = match ready {
                Some("True") => "Ready".to_string(),
                Some("False") => "NotReady".to_string(),
                _ => "Unknown".to_string(),
            };
            if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
                st.push_str(",SchedulingDisabled");
            }
            let ip = o
                .pointer("/status/addresses")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|x| x["type"] == "InternalIP"))
                .and_then(|x| x["address"].as_str())
                .unwrap_or("<none>");
            vec![
                name,
                json!(st),
                json!("<none>"),
                age_v,
                json!(s(o, "/status/nodeInfo/kubeletVersion")),
                json!(ip),
                json!(or_none(s(o, "/spec/podCIDR").into())),
            ]
        }
        "Pod" => pod_cells(o),
        "Service" => vec![
            name,
            json!(s(o, "/spec/type")),
            json!(or_none(s(o, "/spec/clusterIP").into())),
            json!(or_none(s(o, "/spec/externalName").into())),
            json!(service_ports(o)),
            age_v,
            json!(selector_string(o.pointer("/spec/selector"))),
        ],
        "Deployment" => vec![
            name,
            json!(format!(
                "{}/{}",
                n(o, "/status/readyReplicas"),
                n(o, "/spec/replicas")
            )),
            json!(n(o, "/status/updatedReplicas")),
            json!(n(o, "/status/availableReplicas")),
            age_v,
            json!(selector_string(o.pointer("/spec/selector/matchLabels"))),
        ],
        "ReplicaSet" => vec![
            name,
            json!(n(o, "/spec/replicas")),
            json!(n(o, "/status/replicas")),
            json!(n(o, "/status/readyReplicas")),
            age_v,
        ],
        "EndpointSlice" => {
            let ports: Vec<String> = o
                .pointer("/ports")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|p| p["port"].to_string())
                .collect();
            let eps: Vec<String> = o
                .pointer("/endpoints")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .iter()
                .flat_map(|e| e["addresses"].as_array().cloned().unwrap_or_default())
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect();
            vec![
                name,
                json!(s(o, "/addressType")),
                json!(or_none(ports.join(","))),
                json!(or_none(eps.join(","))),
                age_v,
            ]
        }
        "ConfigMap" => vec![
            name,
            json!(o
                .get("data")
                .and_then(Value::as_object)
                .map_or(0, |m| m.len())),
            age_v,
        ],
        "Secret" => vec![
            name,
            json!(s(o, "/type")),
            json!(o
                .get("data")
                .and_then(Value::as_object)
                .map_or(0, |m| m.len())),
            age_v,
        ],
        "Lease" => vec![
            name,
            json!(or_none(s(o, "/spec/holderIdentity").into())),
            age_v,
        ],
        "Event" => {
            let last = [
                s(o, "/lastTimestamp"),
                s(o, "/eventTime"),
                s(o, "/metadata/creationTimestamp"),
            ]
            .into_iter()
            .find(|t| !t.is_empty())
            .unwrap_or("");
            vec![
                json!(age(last)),
                json!(s(o, "/type")),
                json!(s(o, "/reason")),
                json!(format!(
                    "{}/{}",
                    s(o, "/involvedObject/kind").to_lowercase(),
                    s(o, "/involvedObject/name")
                )),
                json!(s(o, "/message")),
            ]
        }
        _ => vec![name, age_v],
    }
}

fn partial_metadata(o: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata").cloned().unwrap_or_default()})
}

/// Renders one object or a list as a Table.
pub fn to_table(res: &Resource, body: &Value, include_object: bool) -> Value {
    let cols = columns(res.kind);
    let defs: Vec<Value> = cols
        .iter()
        .map(|Col(name, wide)| {
            json!({"name": name, "type": "string", "format": if *name == "Name" { "name" } else { "" }, "description": "", "priority": if *wide { 1 } else { 0 }})
        })
        .collect();
    let items: Vec<&Value> = match body.get("items").and_then(Value::as_array) {
        Some(items) => items.iter().collect(),
        None => vec![body],
    };
    let rows: Vec<Value> = items
        .into_iter()
        .map(|o| {
            let object = if include_object {
                o.clone()
            } else {
                partial_metadata(o)
            };
            json!({"cells": cells(res.kind, o), "object": object})
        })
        .collect();
    let mut meta = json!({"resourceVersion": body.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!(""))});
    if let Some(c) = body.pointer("/metadata/continue") {
        meta["continue"] = c.clone();
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": defs, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources::by_kind;

    #[test]
    fn every_kind_has_one_cell_per_column() {
        for r in crate::apiserver::resources::RESOURCES {
            let t = to_table(r, &json!({"metadata": {"name": "x"}}), false);
            let ncols = t["columnDefinitions"].as_array().unwrap().len();
            let ncells = t["rows"][0]["cells"].as_array().unwrap().len();
            assert_eq!(ncols, ncells, "{}", r.kind);
        }
    }

    #[test]
    fn pod_row_shows_readiness_restarts_and_netns() {
        let pod = json!({
            "metadata": {"name": "web-1", "annotations": {"orch.io/netns": "orch-default-web-1-ab12"}},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "node-1"},
            "status": {"phase": "Running", "podIP": "10.244.1.5", "containerStatuses": [
                {"ready": true, "restartCount": 2}, {"ready": false, "restartCount": 1}]}
        });
        let t = to_table(
            by_kind("Pod").unwrap(),
            &json!({"metadata": {}, "items": [pod]}),
            false,
        );
        let cells = &t["rows"][0]["cells"];
        assert_eq!(cells[1], "1/2");
        assert_eq!(cells[2], "Running");
        assert_eq!(cells[3], 3);
        assert_eq!(cells[7], "orch-default-web-1-ab12");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }

    #[test]
    fn ages_are_short() {
        assert_eq!(age("nonsense"), "<unknown>");
        let ts = jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_secs(300))
            .unwrap()
            .to_string();
        assert_eq!(age(&ts), "5m");
    }
}
