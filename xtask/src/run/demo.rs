//! The demo workload: `examples/demo.yaml` rendered and applied, then
//! waited on until the Service `web` answers through its ClusterIP from
//! inside a pod's network namespace.
//!
//! The runtime runs containers' commands from the host filesystem, and a
//! container's environment is its own (the agent's `PATH` is not passed
//! on), so the manifest names its command `${ORCH}` and the run substitutes
//! the absolute path of the `orch` binary it built. The rendered manifest
//! is kept as `demo.yaml` in the state directory, ready to re-apply.
use std::{path::Path, process::Command, time::Duration};

use anyhow::{bail, Context, Result};

use super::{
    api::{Api, PodView},
    layout::Layout,
    procs::run_bounded,
    signals::Stop,
    wait,
};
use crate::step;

/// The manifest, relative to the workspace root.
pub const MANIFEST: &str = "examples/demo.yaml";
/// What the manifest writes where the `orch` binary's path goes.
pub const PLACEHOLDER: &str = "${ORCH}";
/// How long the demo may take to answer once applied.
const DEMO_LIMIT: Duration = Duration::from_secs(90);

/// The Service answering.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The Service's ClusterIP.
    pub vip: String,
    /// The pod namespace the request came from.
    pub netns: String,
    /// What the backend said (`<pod> <ip>`).
    pub body: String,
}

/// Substitutes the `orch` binary's path into the manifest.
pub fn render(template: &str, orch: &Path) -> Result<String> {
    if !template.contains(PLACEHOLDER) {
        bail!("{MANIFEST} does not name its command {PLACEHOLDER}");
    }
    Ok(template.replace(PLACEHOLDER, &orch.display().to_string()))
}

/// Renders the manifest into the state directory and applies it.
pub fn apply(api: &Api, layout: &Layout, orch: &Path) -> Result<()> {
    let t = step::start(&format!("demo: applying {MANIFEST}"));
    let src = step::root().join(MANIFEST);
    let template =
        std::fs::read_to_string(&src).with_context(|| format!("reading {}", src.display()))?;
    let out = layout.state.join("demo.yaml");
    std::fs::write(&out, render(&template, orch)?)
        .with_context(|| format!("writing {}", out.display()))?;
    for line in api.apply(&out)?.lines() {
        step::info(line);
    }
    step::finish("applied", t);
    Ok(())
}

/// Waits until `curl http://<VIP>/` from a running `web` pod's namespace
/// gets an answer.
pub fn wait_answer(
    api: &Api,
    stop: &Stop,
    hint: &str,
    mut alive: impl FnMut() -> Result<()>,
) -> Result<Answer> {
    let t = step::start("demo: waiting until Service web answers from a pod's netns");
    let answer = wait::until("the demo Service web", DEMO_LIMIT, stop, hint, |last| {
        alive()?;
        let Some(vip) = api
            .service_ip("default", "web")?
            .filter(|ip| !ip.is_empty())
        else {
            *last = "no Service default/web".into();
            return Ok(None);
        };
        let pods = api.pods(Some("default"), Some("app=web"))?;
        let ready = pods.iter().filter(|p| p.ready).count();
        let Some(from) = pods
            .iter()
            .find(|p| p.phase == "Running" && !p.netns.is_empty())
        else {
            *last = format!("{} web pod(s), none running yet", pods.len());
            return Ok(None);
        };
        match curl(&from.netns, &format!("http://{vip}/")) {
            Ok(body) => Ok(Some(Answer {
                vip: vip.clone(),
                netns: from.netns.clone(),
                body,
            })),
            Err(e) => {
                *last = format!("{ready}/{} web pod(s) ready; curl {vip}: {e:#}", pods.len());
                Ok(None)
            }
        }
    })?;
    step::info(&format!(
        "ip netns exec {} curl http://{}/ → {}",
        answer.netns, answer.vip, answer.body
    ));
    step::finish("the demo answers", t);
    Ok(answer)
}

/// `ip netns exec <netns> curl -s http://...`; the body, if it answered.
pub fn curl(netns: &str, url: &str) -> Result<String> {
    let (status, out, err) = run_bounded(
        Command::new("ip").args(["netns", "exec", netns, "curl", "-sS", "-m", "2", url]),
        Duration::from_secs(5),
    )?;
    let body = out.trim();
    if !status.success() || body.is_empty() {
        bail!("{}", err.trim());
    }
    Ok(body.to_string())
}

/// The demo's pods, for the summary.
pub fn pods(api: &Api) -> Vec<PodView> {
    api.pods(Some("default"), Some("app=web"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_binary_path() {
        let out = render(
            "command: [\"${ORCH}\", \"tools\"]",
            Path::new("/t/debug/orch"),
        )
        .unwrap();
        assert_eq!(out, "command: [\"/t/debug/orch\", \"tools\"]");
        assert!(render("command: [orch]", Path::new("/x")).is_err());
    }

    #[test]
    fn the_manifest_uses_the_placeholder() {
        let text = std::fs::read_to_string(step::root().join(MANIFEST)).unwrap();
        assert!(text.contains(PLACEHOLDER));
    }
}
