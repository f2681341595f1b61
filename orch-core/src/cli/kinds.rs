//! Resolving what users type (`po`, `pods`, `deployment.apps`, `Service`)
//! to a served resource, and building its API paths.
use crate::apiserver::resources::{Resource, RESOURCES};

use super::client::CliError;

/// Finds the resource for a user-typed name.
pub fn resolve(name: &str) -> Result<&'static Resource, CliError> {
    let lower = name.to_ascii_lowercase();
    let (base, group) = match lower.split_once('.') {
        Some((b, g)) => (b.to_string(), Some(g.to_string())),
        None => (lower.clone(), None),
    };
    RESOURCES
        .iter()
        .find(|r| {
            let names_match = r.plural == base
                || r.singular == base
                || r.kind.to_ascii_lowercase() == base
                || r.short_names.contains(&base.as_str());
            names_match && group.as_deref().is_none_or(|g| g == r.group)
        })
        .ok_or_else(|| {
            CliError::Other(format!(
                "the server doesn't have a resource type \"{name}\""
            ))
        })
}

/// Finds the resource for an object's apiVersion and kind.
pub fn for_object(api_version: &str, kind: &str) -> Result<&'static Resource, CliError> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
        .ok_or_else(|| {
            CliError::Other(format!(
                "no matches for kind \"{kind}\" in version \"{api_version}\""
            ))
        })
}

/// The collection path, in `namespace` (or across all for `None`).
pub fn collection_path(r: &Resource, namespace: Option<&str>) -> String {
    let base = if r.group.is_empty() {
        format!("/api/{}", r.version)
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    match namespace {
        Some(ns) if r.namespaced => format!("{base}/namespaces/{ns}/{}", r.plural),
        _ => format!("{base}/{}", r.plural),
    }
}

/// The path of one object.
pub fn object_path(r: &Resource, namespace: Option<&str>, name: &str) -> String {
    format!("{}/{name}", collection_path(r, namespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_short_singular_plural_kind_and_group() {
        assert_eq!(resolve("po").unwrap().plural, "pods");
        assert_eq!(resolve("Deployment").unwrap().plural, "deployments");
        assert_eq!(resolve("deployments.apps").unwrap().plural, "deployments");
        assert_eq!(resolve("svc").unwrap().plural, "services");
        assert!(resolve("deployments.batch").is_err());
        assert!(resolve("widgets")
            .unwrap_err()
            .to_string()
            .contains("widgets"));
    }

    #[test]
    fn builds_paths() {
        let d = resolve("deploy").unwrap();
        assert_eq!(
            object_path(d, Some("x"), "web"),
            "/apis/apps/v1/namespaces/x/deployments/web"
        );
        let n = resolve("nodes").unwrap();
        assert_eq!(object_path(n, Some("x"), "n1"), "/api/v1/nodes/n1");
    }
}
