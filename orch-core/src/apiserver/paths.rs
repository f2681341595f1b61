//! Parsing Kubernetes resource paths:
//! `/api/v1[/namespaces/NS]/PLURAL[/NAME[/SUB]]` and the same under
//! `/apis/GROUP/VERSION`.
use super::{
    resources::{self, Resource, Sub},
    status::ApiError,
};

/// A parsed resource path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    /// The resource.
    pub res: &'static Resource,
    /// Namespace from the path, if any.
    pub namespace: Option<String>,
    /// Object name, if any.
    pub name: Option<String>,
    /// Subresource, if any (`finalize` maps to Status for namespaces).
    pub sub: Option<SubPath>,
}

/// A subresource segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubPath {
    /// One of the kind's declared subresources.
    Known(Sub),
    /// `namespaces/NAME/finalize`.
    Finalize,
}

/// Parses `path`; `None` if it is not a resource path at all.
pub fn parse(path: &str) -> Option<Result<ResourcePath, ApiError>> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return None,
    };
    Some(parse_rest(group, version, rest))
}

fn parse_rest(group: &str, version: &str, rest: &[&str]) -> Result<ResourcePath, ApiError> {
    let find = |plural: &str| {
        resources::find(group, version, plural).ok_or_else(|| {
            let gv = if group.is_empty() {
                version.to_string()
            } else {
                format!("{group}/{version}")
            };
            ApiError::no_route(format!(
                "the server could not find the requested resource: {plural} in {gv} (served: {})",
                served()
            ))
        })
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, tail @ ..]
            if !tail.is_empty() && tail[0] != "status" && tail[0] != "finalize" =>
        {
            (Some(ns.to_string()), tail)
        }
        _ => (None, rest),
    };
    let (plural, name, sub) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(name.to_string()), None),
        [plural, name, sub] => (*plural, Some(name.to_string()), Some(*sub)),
        _ => {
            return Err(ApiError::no_route(
                "the server could not find the requested resource",
            ))
        }
    };
    let res = find(plural)?;
    if namespace.is_some() && !res.namespaced {
        return Err(ApiError::no_route(format!(
            "{} is not namespaced",
            res.qualified()
        )));
    }
    let sub = match sub {
        None => None,
        Some("finalize") if res.kind == "Namespace" => Some(SubPath::Finalize),
        Some(s) => Some(SubPath::Known(
            res.subs
                .iter()
                .copied()
                .find(|k| k.name() == s)
                .ok_or_else(|| {
                    ApiError::no_route(format!("{} has no subresource {s:?}", res.qualified()))
                })?,
        )),
    };
    if let Some(n) = &name {
        if n.is_empty() {
            return Err(ApiError::bad_request("name must not be empty"));
        }
    }
    Ok(ResourcePath {
        res,
        namespace,
        name,
        sub,
    })
}

fn served() -> String {
    resources::RESOURCES
        .iter()
        .map(|r| format!("{}/{}", r.api_version(), r.plural))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(p: &str) -> ResourcePath {
        parse(p).unwrap().unwrap()
    }

    #[test]
    fn parses_core_and_group_paths() {
        let p = ok("/api/v1/namespaces/default/pods/web/status");
        assert_eq!(p.res.plural, "pods");
        assert_eq!(p.namespace.as_deref(), Some("default"));
        assert_eq!(p.name.as_deref(), Some("web"));
        assert_eq!(p.sub, Some(SubPath::Known(Sub::Status)));
        let d = ok("/apis/apps/v1/namespaces/x/deployments/d/scale");
        assert_eq!(d.sub, Some(SubPath::Known(Sub::Scale)));
        assert_eq!(ok("/api/v1/pods").namespace, None);
        assert_eq!(ok("/api/v1/nodes/n1").name.as_deref(), Some("n1"));
    }

    #[test]
    fn namespaces_are_cluster_scoped_with_subresources() {
        let p = ok("/api/v1/namespaces/foo");
        assert_eq!(p.res.plural, "namespaces");
        assert_eq!(p.name.as_deref(), Some("foo"));
        assert_eq!(
            ok("/api/v1/namespaces/foo/status").sub,
            Some(SubPath::Known(Sub::Status))
        );
        assert_eq!(
            ok("/api/v1/namespaces/foo/finalize").sub,
            Some(SubPath::Finalize)
        );
    }

    #[test]
    fn unknown_things_are_errors_naming_what_is_served() {
        let e = parse("/api/v1/namespaces/d/widgets").unwrap().unwrap_err();
        assert_eq!(e.code, 404);
        assert!(
            e.message.contains("widgets") && e.message.contains("v1/pods"),
            "{}",
            e.message
        );
        assert_eq!(
            parse("/apis/apps/v2/deployments")
                .unwrap()
                .unwrap_err()
                .code,
            404
        );
        assert_eq!(
            parse("/api/v1/namespaces/d/pods/p/bogus")
                .unwrap()
                .unwrap_err()
                .code,
            404
        );
        assert!(parse("/healthz").is_none());
        assert!(parse("/api").is_none());
    }
}
