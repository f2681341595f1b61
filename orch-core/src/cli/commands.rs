//! The orchctl subcommands.
use futures::StreamExt;
use http::Method;
use serde_json::{json, Map, Value};

use super::{
    client::{ApiClient, CliError},
    kinds, manifest, print, Command,
};
use crate::apiserver::{resources::Resource, table};

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

/// Dispatches one subcommand.
pub async fn run(api: &ApiClient, ns: &str, cmd: Command) -> Result<(), CliError> {
    match cmd {
        Command::Apply { files } => apply(api, ns, &files, false).await,
        Command::Create { files } => apply(api, ns, &files, true).await,
        Command::Get {
            kind,
            names,
            all_namespaces,
            output,
            selector,
            field_selector,
            watch,
        } => {
            get(
                api,
                ns,
                &kind,
                &names,
                all_namespaces,
                output.as_deref(),
                selector.as_deref(),
                field_selector.as_deref(),
                watch,
            )
            .await
        }
        Command::Delete {
            args,
            files,
            grace_period,
            cascade,
        } => delete(api, ns, &args, &files, grace_period, &cascade).await,
        Command::Scale { args, replicas } => scale(api, ns, &args, replicas).await,
        Command::Describe { kind, name } => describe(api, ns, &kind, &name).await,
        Command::Rollout { action } => super::rollout::run(api, ns, action).await,
        Command::Logs {
            pod,
            container,
            follow,
            tail,
            previous,
        } => logs(api, ns, &pod, container, follow, tail, previous).await,
    }
}

fn display_name(r: &Resource, name: &str) -> String {
    if r.group.is_empty() {
        format!("{}/{name}", r.singular)
    } else {
        format!("{}.{}/{name}", r.singular, r.group)
    }
}

fn object_target<'a>(
    obj: &'a Value,
    default_ns: &'a str,
) -> Result<(&'static Resource, Option<&'a str>, &'a str), CliError> {
    let av = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    if av.is_empty() || kind.is_empty() {
        return Err(CliError::Other(
            "error: apiVersion and kind must be set in every object".into(),
        ));
    }
    let r = kinds::for_object(av, kind)?;
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() {
        return Err(CliError::Other(format!(
            "error: a {kind} in the manifest has no metadata.name"
        )));
    }
    let ns = r.namespaced.then(|| {
        obj.pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or(default_ns)
    });
    Ok((r, ns, name))
}

/// Keys present in `old` but gone from `new`, as nulls (recursing into maps)
/// so a strategic merge patch removes them.
fn removals(old: &Value, new: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    if let (Some(o), Some(n)) = (old.as_object(), new.as_object()) {
        for (k, ov) in o {
            match n.get(k) {
                None => {
                    out.insert(k.clone(), Value::Null);
                }
                Some(nv) if ov.is_object() && nv.is_object() => {
                    let inner = removals(ov, nv);
                    if !inner.is_empty() {
                        out.insert(k.clone(), Value::Object(inner));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn merge_into(target: &mut Value, extra: Map<String, Value>) {
    for (k, v) in extra {
        match (target.get_mut(&k), v) {
            (Some(t), Value::Object(m)) if t.is_object() => merge_into(t, m),
            (None, v) => {
                target[&k] = v;
            }
            _ => {}
        }
    }
}

async fn apply(
    api: &ApiClient,
    ns: &str,
    files: &[String],
    create_only: bool,
) -> Result<(), CliError> {
    let mut objs = Vec::new();
    for f in files {
        objs.extend(manifest::read(f)?);
    }
    let mut failures = Vec::new();
    for mut obj in objs {
        let (r, ons, name) = match object_target(&obj, ns) {
            Ok((r, ons, name)) => (r, ons.map(str::to_string), name.to_string()),
            Err(e) => {
                failures.push(e.to_string());
                continue;
            }
        };
        let result = apply_one(api, r, ons.as_deref(), &name, &mut obj, create_only).await;
        match result {
            Ok(verb) => println!("{} {verb}", display_name(r, &name)),
            Err(e) => failures.push(e.to_string()),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::Other(failures.join("\n")))
    }
}

async fn apply_one(
    api: &ApiClient,
    r: &'static Resource,
    ns: Option<&str>,
    name: &str,
    obj: &mut Value,
    create_only: bool,
) -> Result<&'static str, CliError> {
    let mut desired = obj.clone();
    if let Some(m) = desired
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        m.remove(LAST_APPLIED);
    }
    let applied = serde_json::to_string(&desired).unwrap_or_default();
    obj["metadata"]["annotations"][LAST_APPLIED] = json!(applied);
    let path = kinds::object_path(r, ns, name);
    if create_only {
        api.json(
            Method::POST,
            &kinds::collection_path(r, ns),
            None,
            Some(obj),
        )
        .await?;
        return Ok("created");
    }
    let current = match api.json(Method::GET, &path, None, None).await {
        Ok(v) => v,
        Err(e) if e.code() == Some(404) => {
            api.json(
                Method::POST,
                &kinds::collection_path(r, ns),
                None,
                Some(obj),
            )
            .await?;
            return Ok("created");
        }
        Err(e) => return Err(e),
    };
    let previous: Value = current
        .pointer(&format!(
            "/metadata/annotations/{}",
            LAST_APPLIED.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null);
    let mut patch = obj.clone();
    merge_into(&mut patch, removals(&previous, &desired));
    let after = api
        .json(
            Method::PATCH,
            &path,
            Some("application/strategic-merge-patch+json"),
            Some(&patch),
        )
        .await?;
    let changed =
        after.pointer("/metadata/resourceVersion") != current.pointer("/metadata/resourceVersion");
    Ok(if changed { "configured" } else { "unchanged" })
}

/// `TYPE/NAME` or `TYPE NAME...` into (type, names).
fn split_targets(args: &[String]) -> Result<Vec<(String, String)>, CliError> {
    let mut out = Vec::new();
    if args.iter().all(|a| a.contains('/')) {
        for a in args {
            let (k, n) = a.split_once('/').expect("checked");
            out.push((k.to_string(), n.to_string()));
        }
    } else if let Some((kind, names)) = args.split_first() {
        if names.is_empty() {
            return Err(CliError::Other(format!(
                "error: give a name: {kind} NAME or {kind}/NAME"
            )));
        }
        for n in names {
            out.push((kind.clone(), n.clone()));
        }
    }
    if out.is_empty() {
        return Err(CliError::Other(
            "error: nothing to act on: give TYPE NAME, TYPE/NAME or -f FILE".into(),
        ));
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
async fn get(
    api: &ApiClient,
    ns: &str,
    kind: &str,
    names: &[String],
    all: bool,
    output: Option<&str>,
    selector: Option<&str>,
    fields: Option<&str>,
    watch: bool,
) -> Result<(), CliError> {
    let (kind, names): (String, Vec<String>) = match kind.split_once('/') {
        Some((k, n)) => (
            k.to_string(),
            std::iter::once(n.to_string())
                .chain(names.iter().cloned())
                .collect(),
        ),
        None => (kind.to_string(), names.to_vec()),
    };
    let r = kinds::resolve(&kind)?;
    let scope = if all { None } else { Some(ns) };
    let mut query = Vec::new();
    if let Some(s) = selector {
        query.push(format!("labelSelector={}", urlencode(s)));
    }
    if let Some(f) = fields {
        query.push(format!("fieldSelector={}", urlencode(f)));
    }
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    let wide = output == Some("wide");
    match output {
        None | Some("wide") => {
            let mut shown_any = false;
            let mut rv = String::new();
            if names.is_empty() {
                let bytes = api
                    .call(
                        Method::GET,
                        &format!("{}{q}", kinds::collection_path(r, scope)),
                        None,
                        Some(TABLE_ACCEPT),
                        Vec::new(),
                    )
                    .await?;
                let t: Value =
                    serde_json::from_slice(&bytes).map_err(|e| CliError::Other(e.to_string()))?;
                rv = t
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if t["rows"].as_array().is_some_and(|r| !r.is_empty()) {
                    print!("{}", print::table(&t, wide, all && r.namespaced, true));
                    shown_any = true;
                }
            } else {
                for (i, n) in names.iter().enumerate() {
                    let bytes = api
                        .call(
                            Method::GET,
                            &kinds::object_path(r, scope, n),
                            None,
                            Some(TABLE_ACCEPT),
                            Vec::new(),
                        )
                        .await?;
                    let t: Value = serde_json::from_slice(&bytes)
                        .map_err(|e| CliError::Other(e.to_string()))?;
                    print!("{}", print::table(&t, wide, false, i == 0));
                    shown_any = true;
                }
            }
            if !shown_any && !watch {
                match scope.filter(|_| r.namespaced) {
                    Some(ns) => eprintln!("No resources found in {ns} namespace."),
                    None => eprintln!("No resources found"),
                }
            }
            if watch {
                let sep = if q.is_empty() { "?" } else { "&" };
                let path = format!(
                    "{}{q}{sep}watch=true&resourceVersion={rv}",
                    kinds::collection_path(r, scope)
                );
                let mut stream = Box::pin(api.stream(&path).await?);
                let mut buf = Vec::new();
                while let Some(chunk) = stream.next().await {
                    buf.extend_from_slice(&chunk?);
                    while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=pos).collect();
                        let Ok(ev) = serde_json::from_slice::<Value>(&line) else {
                            continue;
                        };
                        if ev["type"] == "BOOKMARK" {
                            continue;
                        }
                        if ev["type"] == "ERROR" {
                            return Err(CliError::Other(format!(
                                "watch ended: {}",
                                ev["object"]["message"]
                            )));
                        }
                        print!(
                            "{}",
                            print::table(
                                &table::to_table(r, &ev["object"], false),
                                wide,
                                all && r.namespaced,
                                !shown_any
                            )
                        );
                        shown_any = true;
                    }
                }
            }
            Ok(())
        }
        Some(fmt @ ("yaml" | "json")) => {
            let v = if names.len() == 1 {
                api.json(
                    Method::GET,
                    &kinds::object_path(r, scope, &names[0]),
                    None,
                    None,
                )
                .await?
            } else if names.is_empty() {
                let mut l = api
                    .json(
                        Method::GET,
                        &format!("{}{q}", kinds::collection_path(r, scope)),
                        None,
                        None,
                    )
                    .await?;
                l["kind"] = json!("List");
                l["apiVersion"] = json!("v1");
                l
            } else {
                let mut items = Vec::new();
                for n in names {
                    items.push(
                        api.json(Method::GET, &kinds::object_path(r, scope, &n), None, None)
                            .await?,
                    );
                }
                json!({"kind": "List", "apiVersion": "v1", "metadata": {}, "items": items})
            };
            if fmt == "yaml" {
                print!("{}", serde_yaml::to_string(&v).unwrap_or_default());
            } else {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            }
            Ok(())
        }
        Some(other) => Err(CliError::Other(format!(
            "error: output format {other:?} is not supported: expected wide, yaml or json"
        ))),
    }
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)])
        .unwrap_or_default()
        .trim_start_matches("x=")
        .to_string()
}

async fn delete(
    api: &ApiClient,
    ns: &str,
    args: &[String],
    files: &[String],
    grace: Option<i64>,
    cascade: &str,
) -> Result<(), CliError> {
    let policy = match cascade {
        "background" | "true" => "Background",
        "foreground" => "Foreground",
        "orphan" | "false" => "Orphan",
        other => {
            return Err(CliError::Other(format!(
                "error: --cascade={other:?}: expected background, foreground or orphan"
            )))
        }
    };
    let mut opts =
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy});
    if let Some(g) = grace {
        opts["gracePeriodSeconds"] = json!(g);
    }
    let mut targets: Vec<(&'static Resource, Option<String>, String)> = Vec::new();
    for f in files {
        for obj in manifest::read(f)? {
            let (r, ons, name) = object_target(&obj, ns)?;
            targets.push((r, ons.map(str::to_string), name.to_string()));
        }
    }
    if files.is_empty() || !args.is_empty() {
        for (k, n) in split_targets(args)? {
            let r = kinds::resolve(&k)?;
            targets.push((r, r.namespaced.then(|| ns.to_string()), n));
        }
    }
    let mut failures = Vec::new();
    for (r, ons, name) in targets {
        match api
            .json(
                Method::DELETE,
                &kinds::object_path(r, ons.as_deref(), &name),
                None,
                Some(&opts),
            )
            .await
        {
            Ok(_) => println!("{} \"{name}\" deleted", r.singular),
            Err(e) => failures.push(e.to_string()),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::Other(failures.join("\n")))
    }
}

async fn scale(api: &ApiClient, ns: &str, args: &[String], replicas: i64) -> Result<(), CliError> {
    if replicas < 0 {
        return Err(CliError::Other("error: --replicas must be >= 0".into()));
    }
    for (k, n) in split_targets(args)? {
        let r = kinds::resolve(&k)?;
        if !r.subs.contains(&crate::apiserver::resources::Sub::Scale) {
            return Err(CliError::Other(format!(
                "error: {} cannot be scaled",
                r.plural
            )));
        }
        let path = format!("{}/scale", kinds::object_path(r, Some(ns), &n));
        api.json(
            Method::PATCH,
            &path,
            Some("application/merge-patch+json"),
            Some(&json!({"spec": {"replicas": replicas}})),
        )
        .await?;
        println!("{} scaled", display_name(r, &n));
    }
    Ok(())
}

async fn describe(api: &ApiClient, ns: &str, kind: &str, name: &str) -> Result<(), CliError> {
    let r = kinds::resolve(kind)?;
    let scope = r.namespaced.then_some(ns);
    let obj = api
        .json(Method::GET, &kinds::object_path(r, scope, name), None, None)
        .await?;
    print!("{}", serde_yaml::to_string(&obj).unwrap_or_default());
    let mut fs = format!("involvedObject.name={name},involvedObject.kind={}", r.kind);
    if let Some(n) = scope {
        fs.push_str(&format!(",involvedObject.namespace={n}"));
    }
    let events_ns = scope.unwrap_or("default");
    let evres = kinds::resolve("events")?;
    let path = format!(
        "{}?fieldSelector={}",
        kinds::collection_path(evres, Some(events_ns)),
        urlencode(&fs)
    );
    let bytes = api
        .call(Method::GET, &path, None, Some(TABLE_ACCEPT), Vec::new())
        .await?;
    let t: Value = serde_json::from_slice(&bytes).map_err(|e| CliError::Other(e.to_string()))?;
    println!("Events:");
    if t["rows"].as_array().is_some_and(|r| !r.is_empty()) {
        for line in print::table(&t, false, false, true).lines() {
            println!("  {line}");
        }
    } else {
        println!("  <none>");
    }
    Ok(())
}

async fn logs(
    api: &ApiClient,
    ns: &str,
    pod: &str,
    container: Option<String>,
    follow: bool,
    tail: Option<i64>,
    previous: bool,
) -> Result<(), CliError> {
    let r = kinds::resolve("pods")?;
    let mut q = vec![format!("follow={follow}"), format!("previous={previous}")];
    if let Some(c) = container {
        q.push(format!("container={}", urlencode(&c)));
    }
    if let Some(t) = tail {
        q.push(format!("tailLines={t}"));
    }
    let path = format!(
        "{}/log?{}",
        kinds::object_path(r, Some(ns), pod),
        q.join("&")
    );
    let mut stream = Box::pin(api.stream(&path).await?);
    use std::io::Write;
    let mut out = std::io::stdout();
    while let Some(chunk) = stream.next().await {
        let _ = out.write_all(&chunk?);
        let _ = out.flush();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removals_null_out_fields_dropped_since_last_apply() {
        let old = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 3, "paused": true}});
        let new = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 3}});
        let r = Value::Object(removals(&old, &new));
        assert_eq!(
            r,
            json!({"metadata": {"labels": {"b": null}}, "spec": {"paused": null}})
        );
    }

    #[test]
    fn split_targets_accepts_both_forms() {
        let a = split_targets(&["deploy/web".into(), "svc/web".into()]).unwrap();
        assert_eq!(
            a,
            vec![
                ("deploy".into(), "web".into()),
                ("svc".into(), "web".into())
            ]
        );
        let b = split_targets(&["pods".into(), "a".into(), "b".into()]).unwrap();
        assert_eq!(b.len(), 2);
        assert!(split_targets(&["pods".into()]).is_err());
        assert!(split_targets(&[]).is_err());
    }
}
