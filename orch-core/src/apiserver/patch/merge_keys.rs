//! The patch metadata of the built-in kinds: which lists a strategic merge
//! patch merges (and by which key) instead of replacing. This is the subset
//! of the `patchStrategy`/`patchMergeKey` struct tags of `k8s.io/api` that
//! matters for the kinds orch serves.

/// How a strategic merge patch treats a list field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListKind {
    /// No merge strategy: the patch list replaces the original wholesale.
    Replace,
    /// A list of maps merged element-wise by this key.
    MergeByKey(&'static str),
    /// A list of scalars merged as a set (e.g. `metadata.finalizers`).
    MergePrimitives,
}

/// Kinds whose objects carry a pod template, with the path to it.
fn template_path(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => Some(&["spec", "template"]),
        "CronJob" => Some(&["spec", "jobTemplate", "spec", "template"]),
        "PodTemplate" => Some(&["template"]),
        _ => None,
    }
}

/// Strips `prefix` from `path`.
fn strip<'p>(path: &'p [&'p str], prefix: &[&str]) -> Option<&'p [&'p str]> {
    (path.len() >= prefix.len() && path[..prefix.len()] == *prefix).then(|| &path[prefix.len()..])
}

/// Lists of `ObjectMeta`, at the top level or in a pod template.
fn metadata_list(kind: &str, path: &[&str]) -> Option<ListKind> {
    let rest = strip(path, &["metadata"]).or_else(|| {
        let template = template_path(kind)?;
        let rest = strip(path, template)?;
        strip(rest, &["metadata"])
    })?;
    match rest {
        ["ownerReferences"] => Some(ListKind::MergeByKey("uid")),
        ["finalizers"] => Some(ListKind::MergePrimitives),
        _ => None,
    }
}

fn is_container_list(field: &str) -> bool {
    matches!(
        field,
        "containers" | "initContainers" | "ephemeralContainers"
    )
}

/// Lists of a `PodSpec`: a Pod's `spec` or a template's `spec`.
fn pod_spec_list(kind: &str, path: &[&str]) -> Option<ListKind> {
    let rest = if kind == "Pod" {
        strip(path, &["spec"])?
    } else {
        let rest = strip(path, template_path(kind)?)?;
        strip(rest, &["spec"])?
    };
    let key = match rest {
        [c] if is_container_list(c) => "name",
        [c, "ports"] if is_container_list(c) => "containerPort",
        [c, "env"] if is_container_list(c) => "name",
        [c, "volumeMounts"] if is_container_list(c) => "mountPath",
        [c, "volumeDevices"] if is_container_list(c) => "devicePath",
        ["volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates"] => "name",
        ["hostAliases"] => "ip",
        ["topologySpreadConstraints"] => "topologyKey",
        _ => return None,
    };
    Some(ListKind::MergeByKey(key))
}

/// Kind-specific lists outside the pod spec and metadata.
fn kind_list(kind: &str, path: &[&str]) -> Option<ListKind> {
    let by = ListKind::MergeByKey;
    match (kind, path) {
        (
            "Pod"
            | "Node"
            | "Namespace"
            | "Service"
            | "Deployment"
            | "ReplicaSet"
            | "StatefulSet"
            | "DaemonSet"
            | "Job"
            | "ReplicationController",
            ["status", "conditions"],
        ) => Some(by("type")),
        ("Pod", ["status", "podIPs" | "hostIPs"]) => Some(by("ip")),
        ("Pod", ["status", "resourceClaimStatuses"]) => Some(by("name")),
        ("Node", ["status", "addresses"]) => Some(by("type")),
        ("Node", ["spec", "podCIDRs"]) => Some(ListKind::MergePrimitives),
        ("Service", ["spec", "ports"]) => Some(by("port")),
        _ => None,
    }
}

/// The strategy for the list at `path` (field names from the object root;
/// list elements add no path segment) in an object of kind `kind`.
pub(crate) fn list_kind(kind: &str, path: &[String]) -> ListKind {
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    metadata_list(kind, &path)
        .or_else(|| pod_spec_list(kind, &path))
        .or_else(|| kind_list(kind, &path))
        .unwrap_or(ListKind::Replace)
}

#[cfg(test)]
mod tests {
    use super::{list_kind, ListKind};

    fn lk(kind: &str, path: &str) -> ListKind {
        let path: Vec<String> = path.split('.').map(str::to_owned).collect();
        list_kind(kind, &path)
    }

    #[test]
    fn pod_spec_lists() {
        assert_eq!(lk("Pod", "spec.containers"), ListKind::MergeByKey("name"));
        assert_eq!(
            lk("Pod", "spec.initContainers.env"),
            ListKind::MergeByKey("name")
        );
        assert_eq!(
            lk("Pod", "spec.containers.ports"),
            ListKind::MergeByKey("containerPort")
        );
        assert_eq!(
            lk("Pod", "spec.containers.volumeMounts"),
            ListKind::MergeByKey("mountPath")
        );
        assert_eq!(
            lk("Pod", "spec.ephemeralContainers"),
            ListKind::MergeByKey("name")
        );
        assert_eq!(lk("Pod", "spec.volumes"), ListKind::MergeByKey("name"));
        assert_eq!(
            lk("Pod", "spec.imagePullSecrets"),
            ListKind::MergeByKey("name")
        );
        assert_eq!(lk("Pod", "spec.hostAliases"), ListKind::MergeByKey("ip"));
        assert_eq!(
            lk("Pod", "spec.topologySpreadConstraints"),
            ListKind::MergeByKey("topologyKey")
        );
        assert_eq!(lk("Pod", "spec.tolerations"), ListKind::Replace);
        assert_eq!(lk("Pod", "spec.containers.args"), ListKind::Replace);
    }

    #[test]
    fn templates_and_metadata() {
        for kind in ["Deployment", "ReplicaSet"] {
            assert_eq!(
                lk(kind, "spec.template.spec.containers"),
                ListKind::MergeByKey("name")
            );
            assert_eq!(
                lk(kind, "spec.template.spec.containers.env"),
                ListKind::MergeByKey("name")
            );
            assert_eq!(
                lk(kind, "spec.template.spec.volumes"),
                ListKind::MergeByKey("name")
            );
            assert_eq!(
                lk(kind, "spec.template.metadata.finalizers"),
                ListKind::MergePrimitives
            );
            assert_eq!(lk(kind, "spec.containers"), ListKind::Replace);
            assert_eq!(lk(kind, "status.conditions"), ListKind::MergeByKey("type"));
        }
        assert_eq!(
            lk("Pod", "spec.template.spec.containers"),
            ListKind::Replace
        );
        assert_eq!(
            lk("ConfigMap", "metadata.ownerReferences"),
            ListKind::MergeByKey("uid")
        );
        assert_eq!(
            lk("Lease", "metadata.finalizers"),
            ListKind::MergePrimitives
        );
        assert_eq!(lk("Event", "metadata.managedFields"), ListKind::Replace);
    }

    #[test]
    fn kind_specific_lists() {
        assert_eq!(lk("Service", "spec.ports"), ListKind::MergeByKey("port"));
        assert_eq!(lk("Node", "status.addresses"), ListKind::MergeByKey("type"));
        assert_eq!(
            lk("Node", "status.conditions"),
            ListKind::MergeByKey("type")
        );
        assert_eq!(lk("Pod", "status.conditions"), ListKind::MergeByKey("type"));
        assert_eq!(lk("EndpointSlice", "endpoints"), ListKind::Replace);
        assert_eq!(lk("Secret", "status.conditions"), ListKind::Replace);
    }
}
