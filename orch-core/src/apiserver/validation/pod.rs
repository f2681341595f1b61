//! Pod spec validation, shared by Pods and the pod templates of Deployments
//! and ReplicaSets: containers, ports, env, resources and restart policy.

use std::collections::HashSet;

use serde_json::Value;

use super::cause::Cause;
use super::common::{
    check_enum, check_port, check_protocol, check_required_port, check_required_syntax,
    check_syntax, check_unique,
};
use super::json::{self, child, key, Object};
use super::names;
use super::quantity;

const QUANTITY_MSG: &str = "quantities must match the regular expression \
'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// Restart policies a pod may have.
const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];

/// Validates a pod spec found at `path` (`spec` for a Pod,
/// `spec.template.spec` for a template). Pod templates of workloads must
/// use `restartPolicy: Always`.
pub(super) fn validate_pod_spec(
    spec: Option<&Value>,
    path: &str,
    template: bool,
    errs: &mut Vec<Cause>,
) {
    let Ok(spec) = json::optional_object(spec, path, errs) else {
        return;
    };
    let mut container_names = HashSet::new();

    let init_path = child(path, "initContainers");
    for (cpath, c) in json::objects(json::get(spec, "initContainers"), &init_path, errs) {
        validate_container(c, &cpath, &mut container_names, errs);
    }

    let containers_path = child(path, "containers");
    let containers = json::get(spec, "containers");
    if json::is_empty(containers) {
        errs.push(Cause::required(&containers_path));
    }
    for (cpath, c) in json::objects(containers, &containers_path, errs) {
        validate_container(c, &cpath, &mut container_names, errs);
    }

    let allowed = if template {
        &["Always"][..]
    } else {
        RESTART_POLICIES
    };
    check_enum(
        json::get(spec, "restartPolicy"),
        &child(path, "restartPolicy"),
        allowed,
        errs,
    );
}

/// Validates one container; `seen` holds the container names of the pod so
/// far (names must be unique across init and regular containers).
fn validate_container(c: &Object, path: &str, seen: &mut HashSet<String>, errs: &mut Vec<Cause>) {
    let c = Some(c);

    let name_path = child(path, "name");
    let name = check_required_syntax(json::get(c, "name"), &name_path, names::dns1123_label, errs);
    if let Some(name) = name {
        check_unique(seen, name, &name_path, errs);
    }

    validate_container_ports(json::get(c, "ports"), &child(path, "ports"), errs);
    validate_env(json::get(c, "env"), &child(path, "env"), errs);
    validate_resources(json::get(c, "resources"), &child(path, "resources"), errs);
}

fn validate_container_ports(ports: Option<&Value>, path: &str, errs: &mut Vec<Cause>) {
    let mut port_names = HashSet::new();
    for (ppath, p) in json::objects(ports, path, errs) {
        let p = Some(p);
        check_required_port(
            json::get(p, "containerPort"),
            &child(&ppath, "containerPort"),
            errs,
        );
        check_port(
            json::get(p, "hostPort"),
            &child(&ppath, "hostPort"),
            0,
            errs,
        );
        check_protocol(json::get(p, "protocol"), &child(&ppath, "protocol"), errs);
        let name_path = child(&ppath, "name");
        if let Some(name) =
            check_syntax(json::get(p, "name"), &name_path, names::iana_svc_name, errs)
        {
            if !name.is_empty() {
                check_unique(&mut port_names, name, &name_path, errs);
            }
        }
    }
}

fn validate_env(env: Option<&Value>, path: &str, errs: &mut Vec<Cause>) {
    for (epath, e) in json::objects(env, path, errs) {
        check_required_syntax(
            json::get(Some(e), "name"),
            &child(&epath, "name"),
            names::env_var_name,
            errs,
        );
    }
}

fn validate_resources(res: Option<&Value>, path: &str, errs: &mut Vec<Cause>) {
    let res = json::object(res, path, errs);
    for section in ["limits", "requests"] {
        let spath = child(path, section);
        let Some(map) = json::object(json::get(res, section), &spath, errs) else {
            continue;
        };
        for (name, q) in map {
            validate_quantity(q, &key(&spath, name), errs);
        }
    }
}

/// Validates a resource quantity given as a string or a JSON number.
fn validate_quantity(q: &Value, path: &str, errs: &mut Vec<Cause>) {
    let parsed = match q {
        Value::String(s) => quantity::parse(s),
        Value::Number(n) => quantity::parse(&n.to_string()),
        other => {
            errs.push(json::type_error(path, other, "a quantity"));
            return;
        }
    };
    match parsed {
        None => errs.push(Cause::invalid(path, QUANTITY_MSG)),
        Some(q) if q.negative => {
            errs.push(Cause::invalid(path, "must be greater than or equal to 0"))
        }
        Some(_) => {}
    }
}
