//! Legacy discovery (`/api`, `/apis`, `/api/v1`, `/apis/G/V`) and
//! `/version`; the OpenAPI document is in `openapi`.
use serde_json::{json, Value};

use super::resources::{self, Resource, Sub};

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": format!("v1.33.0-orch.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": "linux/amd64",
    })
}

/// `/api`.
pub fn api_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    })
}

/// `/apis`.
pub fn api_group_list() -> Value {
    let groups: Vec<Value> = resources::groups()
        .into_iter()
        .map(|(g, v)| {
            let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .chain(std::iter::once({
            // Scale lives in autoscaling/v1.
            let gv = json!({"groupVersion": "autoscaling/v1", "version": "v1"});
            json!({"name": "autoscaling", "versions": [gv.clone()], "preferredVersion": gv})
        }))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn verbs(r: &Resource) -> Vec<&'static str> {
    let _ = r;
    vec![
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ]
}

/// `/api/v1` or `/apis/G/V`; `None` if nothing is served there.
pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    if group == "autoscaling" && version == "v1" {
        return Some(
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "autoscaling/v1", "resources": []}),
        );
    }
    let rs: Vec<&Resource> = resources::RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if rs.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for r in rs {
        out.push(json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": verbs(r),
            "shortNames": r.short_names,
        }));
        for s in r.subs {
            let (kind, verbs, extra) = match s {
                Sub::Status => (r.kind, vec!["get", "patch", "update"], None),
                Sub::Binding => ("Binding", vec!["create"], None),
                Sub::Log => ("Pod", vec!["get"], None),
                Sub::Scale => (
                    "Scale",
                    vec!["get", "patch", "update"],
                    Some(("autoscaling", "v1")),
                ),
            };
            let mut v = json!({
                "name": format!("{}/{}", r.plural, s.name()),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": kind,
                "verbs": verbs,
            });
            if let Some((g, ver)) = extra {
                v["group"] = json!(g);
                v["version"] = json!(ver);
            }
            out.push(v);
        }
        if r.kind == "Namespace" {
            out.push(json!({"name": "namespaces/finalize", "singularName": "", "namespaced": false, "kind": "Namespace", "verbs": ["update"]}));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_list_has_subresources_and_short_names() {
        let v = resource_list("", "v1").unwrap();
        let names: Vec<&str> = v["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        for n in [
            "pods",
            "pods/status",
            "pods/binding",
            "pods/log",
            "services",
            "namespaces/finalize",
            "nodes/status",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        let apps = resource_list("apps", "v1").unwrap();
        let scale = apps["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "deployments/scale")
            .unwrap();
        assert_eq!(scale["group"], "autoscaling");
        assert_eq!(scale["kind"], "Scale");
        assert!(resource_list("nope", "v1").is_none());
    }

    #[test]
    fn group_list_names_every_group() {
        let v = api_group_list();
        let names: Vec<&str> = v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        for g in [
            "apps",
            "discovery.k8s.io",
            "coordination.k8s.io",
            "autoscaling",
        ] {
            assert!(names.contains(&g));
        }
    }
}
