//! `orchctl rollout status deployment/NAME [--timeout 5m]`: watches a
//! Deployment until its rollout completes, printing kubectl's progress
//! messages, and fails when the Deployment exceeds its progress deadline
//! or the timeout passes.
use std::time::Duration;

use clap::Subcommand;
use futures::{Stream, StreamExt};
use http::Method;
use serde_json::Value;

use super::{
    client::{ApiClient, CliError},
    kinds,
};
use crate::controllers::deployment::TIMED_OUT;

/// `orchctl rollout` subcommands.
#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Wait for a Deployment's rollout to finish (TYPE/NAME or TYPE NAME).
    Status {
        /// deployment/NAME, or deployment NAME.
        args: Vec<String>,
        /// Give up after this long (for example 90s, 5m, 1h30m; 0 waits forever).
        #[arg(long, default_value = "0s")]
        timeout: String,
        /// Keep watching until the rollout finishes; false prints the status once.
        #[arg(short = 'w', long, default_value_t = true, action = clap::ArgAction::Set)]
        watch: bool,
    },
}

/// Runs one `rollout` subcommand.
pub(super) async fn run(api: &ApiClient, ns: &str, cmd: RolloutCommand) -> Result<(), CliError> {
    let RolloutCommand::Status {
        args,
        timeout,
        watch,
    } = cmd;
    let name = deployment_name(&args)?;
    let limit = parse_duration(&timeout)?;
    let wait = status(api, ns, &name, watch);
    if limit.is_zero() {
        return wait.await;
    }
    tokio::time::timeout(limit, wait)
        .await
        .map_err(|_| CliError::Other("error: timed out waiting for the condition".into()))?
}

/// The Deployment named by `deployment/NAME` or `deployment NAME`.
fn deployment_name(args: &[String]) -> Result<String, CliError> {
    let (kind, name) = match args {
        [one] => one
            .split_once('/')
            .map(|(k, n)| (k.to_string(), n.to_string()))
            .ok_or_else(|| CliError::Other(format!("error: give TYPE/NAME, not {one:?}")))?,
        [kind, name] => (kind.clone(), name.clone()),
        _ => {
            return Err(CliError::Other(
                "error: give exactly one resource: deployment/NAME".into(),
            ))
        }
    };
    let r = kinds::resolve(&kind)?;
    if r.kind != "Deployment" {
        return Err(CliError::Other(format!(
            "error: no status viewer has been implemented for {}",
            r.kind
        )));
    }
    if name.is_empty() {
        return Err(CliError::Other("error: the name is empty".into()));
    }
    Ok(name)
}

/// Parses a Go-style duration: `300ms`, `90s`, `5m`, `1h30m`; a bare number is seconds.
pub(super) fn parse_duration(s: &str) -> Result<Duration, CliError> {
    let bad = || {
        CliError::Other(format!(
            "error: invalid duration {s:?}: expected for example 30s, 5m or 1h"
        ))
    };
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(bad)?;
        let value: f64 = rest[..digits].parse().map_err(|_| bad())?;
        let unit_len = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - digits);
        let scale = match &rest[digits..digits + unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += Duration::try_from_secs_f64(value * scale).map_err(|_| bad())?;
        rest = &rest[digits + unit_len..];
    }
    Ok(total)
}

fn int(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// kubectl's `DeploymentStatusViewer`: the message to print and whether
/// the rollout is done; an error once the progress deadline passed.
pub fn status_message(d: &Value) -> Result<(String, bool), CliError> {
    let name = d
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if int(d, "/metadata/generation") > int(d, "/status/observedGeneration") {
        return Ok((
            "Waiting for deployment spec update to be observed...\n".into(),
            false,
        ));
    }
    let progressing = d
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Progressing"));
    if progressing.is_some_and(|c| c["reason"] == TIMED_OUT) {
        return Err(CliError::Other(format!(
            "error: deployment \"{name}\" exceeded its progress deadline"
        )));
    }
    let want = d.pointer("/spec/replicas").and_then(Value::as_i64);
    let (replicas, updated, available) = (
        int(d, "/status/replicas"),
        int(d, "/status/updatedReplicas"),
        int(d, "/status/availableReplicas"),
    );
    let msg = match want {
        Some(want) if updated < want => format!("Waiting for deployment \"{name}\" rollout to finish: {updated} out of {want} new replicas have been updated...\n"),
        _ if replicas > updated => format!("Waiting for deployment \"{name}\" rollout to finish: {} old replicas are pending termination...\n", replicas - updated),
        _ if available < updated => format!("Waiting for deployment \"{name}\" rollout to finish: {available} of {updated} updated replicas are available...\n"),
        _ => return Ok((format!("deployment \"{name}\" successfully rolled out\n"), true)),
    };
    Ok((msg, false))
}

/// Prints status changes of the Deployment until its rollout is done.
async fn status(api: &ApiClient, ns: &str, name: &str, watch: bool) -> Result<(), CliError> {
    let r = kinds::resolve("deployments")?;
    let mut last = String::new();
    let mut show = |d: &Value| -> Result<bool, CliError> {
        let (msg, done) = status_message(d)?;
        if msg != last {
            print!("{msg}");
            last = msg;
        }
        Ok(done)
    };
    loop {
        let d = api
            .json(
                Method::GET,
                &kinds::object_path(r, Some(ns), name),
                None,
                None,
            )
            .await?;
        if show(&d)? || !watch {
            return Ok(());
        }
        let rv = d
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let path = format!(
            "{}?fieldSelector=metadata.name%3D{name}&watch=true&resourceVersion={rv}",
            kinds::collection_path(r, Some(ns))
        );
        let mut events = Box::pin(json_lines(api.stream(&path).await?));
        while let Some(ev) = events.next().await {
            let ev = ev?;
            match ev["type"].as_str() {
                Some("ADDED" | "MODIFIED") if show(&ev["object"])? => return Ok(()),
                Some("DELETED") => {
                    return Err(CliError::Other(format!(
                        "error: deployment \"{name}\" was deleted"
                    )))
                }
                // Expired or failed: list again and watch from there.
                Some("ERROR") => break,
                _ => {}
            }
        }
    }
}

/// A stream of body chunks as one JSON value per line (watch events).
pub(super) fn json_lines(
    chunks: impl Stream<Item = Result<bytes::Bytes, CliError>>,
) -> impl Stream<Item = Result<Value, CliError>> {
    chunks
        .scan(Vec::new(), |buf, chunk| {
            let out: Vec<Result<Value, CliError>> = match chunk {
                Err(e) => vec![Err(e)],
                Ok(bytes) => {
                    buf.extend_from_slice(&bytes);
                    let mut lines = Vec::new();
                    while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=pos).collect();
                        if let Ok(v) = serde_json::from_slice(&line) {
                            lines.push(Ok(v));
                        }
                    }
                    lines
                }
            };
            futures::future::ready(Some(futures::stream::iter(out)))
        })
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn kubectl_messages() {
        let d = |gen: i64, status: Value| json!({"metadata": {"name": "web", "generation": gen}, "spec": {"replicas": 3}, "status": status});
        let msg = |v: Value| status_message(&v).unwrap();
        assert_eq!(
            msg(d(2, json!({"observedGeneration": 1}))).0,
            "Waiting for deployment spec update to be observed...\n"
        );
        assert_eq!(
            msg(d(1, json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 1}))).0,
            "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...\n"
        );
        assert_eq!(
            msg(d(1, json!({"observedGeneration": 1, "replicas": 4, "updatedReplicas": 3}))).0,
            "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...\n"
        );
        assert_eq!(
            msg(d(1, json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 1}))).0,
            "Waiting for deployment \"web\" rollout to finish: 1 of 3 updated replicas are available...\n"
        );
        let done = msg(d(
            1,
            json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}),
        ));
        assert_eq!(
            done,
            ("deployment \"web\" successfully rolled out\n".into(), true)
        );
        let stuck = d(
            1,
            json!({"observedGeneration": 1, "conditions": [{"type": "Progressing", "status": "False", "reason": TIMED_OUT}]}),
        );
        assert!(status_message(&stuck)
            .unwrap_err()
            .to_string()
            .contains("exceeded its progress deadline"));
        assert!(deployment_name(&["deploy/web".into()]).is_ok());
        assert!(deployment_name(&["deployment".into(), "web".into()]).is_ok());
        assert!(deployment_name(&["pods/web".into()]).is_err());
    }
}
