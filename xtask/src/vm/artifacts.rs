//! Test executables by test target name: the workspace's test targets come
//! from `cargo metadata`, a selection (`name` or `package:name`) is
//! resolved against them, and `cargo test --no-run --message-format=json`
//! tells where each selected executable was built.
use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::{Command, Stdio},
};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::step;

/// An integration test target of a workspace package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TestTarget {
    pub package: String,
    pub name: String,
}

/// A selected test target and its built executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestExe {
    pub target: TestTarget,
    pub path: PathBuf,
}

/// The `test` targets in `cargo metadata --no-deps` output.
pub fn targets_from_metadata(json: &str) -> Result<Vec<TestTarget>> {
    let v: Value = serde_json::from_str(json).context("parsing cargo metadata")?;
    let mut out = Vec::new();
    for p in v["packages"]
        .as_array()
        .context("cargo metadata has no packages")?
    {
        let package = p["name"].as_str().unwrap_or_default();
        for t in p["targets"].as_array().into_iter().flatten() {
            let is_test = t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "test"));
            if is_test {
                out.push(TestTarget {
                    package: package.to_string(),
                    name: t["name"].as_str().unwrap_or_default().to_string(),
                });
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Resolves `wanted` (`name` or `package:name`) against `all`. Unknown or
/// ambiguous names are errors that list what exists.
pub fn resolve(wanted: &[String], all: &[TestTarget]) -> Result<Vec<TestTarget>> {
    let known = || {
        all.iter()
            .map(|t| format!("{}:{}", t.package, t.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out: Vec<TestTarget> = Vec::new();
    for w in wanted.iter().map(|w| w.trim()).filter(|w| !w.is_empty()) {
        let (package, name) = match w.split_once(':') {
            Some((p, n)) => (Some(p), n),
            None => (None, w),
        };
        let found: Vec<&TestTarget> = all
            .iter()
            .filter(|t| t.name == name && package.is_none_or(|p| p == t.package))
            .collect();
        match found.as_slice() {
            [] => bail!(
                "no test target `{w}` in the workspace; there are: {}",
                known()
            ),
            [one] => {
                if out.iter().any(|t| t.name == one.name) {
                    bail!("test target name `{}` is selected twice", one.name);
                }
                out.push((*one).clone());
            }
            many => bail!(
                "test target `{w}` is in several packages ({}); write `package:{w}`",
                many.iter()
                    .map(|t| t.package.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    if out.is_empty() {
        bail!("no test selected");
    }
    Ok(out)
}

/// The executables of `wanted` (all of one package) in the JSON messages
/// of `cargo test --no-run --message-format=json`.
pub fn executables(messages: &str, package: &str, wanted: &[&str]) -> Result<Vec<TestExe>> {
    let mut found: BTreeMap<String, PathBuf> = BTreeMap::new();
    for line in messages.lines().filter(|l| l.starts_with('{')) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-artifact" {
            continue;
        }
        let is_test = v["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == "test"));
        let name = v["target"]["name"].as_str().unwrap_or_default();
        if let (true, Some(exe)) = (is_test, v["executable"].as_str()) {
            if wanted.contains(&name) {
                found.insert(name.to_string(), PathBuf::from(exe));
            }
        }
    }
    wanted
        .iter()
        .map(|n| {
            let path = found.remove(*n).with_context(|| {
                format!("cargo reported no executable for test `{package}:{n}`")
            })?;
            Ok(TestExe {
                target: TestTarget {
                    package: package.to_string(),
                    name: n.to_string(),
                },
                path,
            })
        })
        .collect()
}

/// `cargo test --no-run` for `names` of `package`.
pub fn no_run_command(package: &str, names: &[&str]) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.args(["test", "--no-run", "--message-format=json", "-p", package]);
    for n in names {
        cmd.args(["--test", n]);
    }
    cmd
}

/// The workspace's test targets.
pub fn workspace_targets() -> Result<Vec<TestTarget>> {
    let out = Command::new("cargo")
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(step::root())
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed ({})", out.status);
    }
    targets_from_metadata(&String::from_utf8_lossy(&out.stdout))
}

/// Builds the selected tests and returns their executables, in selection
/// order.
pub fn build(selected: &[TestTarget]) -> Result<Vec<TestExe>> {
    let mut by_package: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for t in selected {
        by_package.entry(&t.package).or_default().push(&t.name);
    }
    let mut exes = Vec::new();
    for (package, names) in by_package {
        let mut cmd = no_run_command(package, &names);
        let t = step::start(&format!("vm: {}", step::describe(&cmd)));
        let out = cmd
            .current_dir(step::root())
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .context("running cargo test --no-run")?;
        if !out.status.success() {
            bail!("building the tests of {package} failed ({})", out.status);
        }
        exes.extend(executables(
            &String::from_utf8_lossy(&out.stdout),
            package,
            &names,
        )?);
        step::finish("tests built", t);
    }
    Ok(selected
        .iter()
        .filter_map(|s| exes.iter().find(|e| &e.target == s).cloned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(package: &str, name: &str) -> TestTarget {
        TestTarget {
            package: package.into(),
            name: name.into(),
        }
    }

    fn all() -> Vec<TestTarget> {
        vec![
            t("orch-core", "podnet"),
            t("orch-core", "proxy"),
            t("orch-proxy", "proxy"),
            t("orch-tests", "connect4"),
        ]
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reads_test_targets_from_metadata() {
        let json = r#"{"packages":[
            {"name":"orch-tests","targets":[
                {"name":"orch_tests","kind":["lib"]},
                {"name":"connect4","kind":["test"]},
                {"name":"orch-bench","kind":["bin"]}]},
            {"name":"orch-core","targets":[{"name":"podnet","kind":["test"]}]}]}"#;
        assert_eq!(
            targets_from_metadata(json).unwrap(),
            vec![t("orch-core", "podnet"), t("orch-tests", "connect4")]
        );
        assert!(targets_from_metadata("{}").is_err());
    }

    #[test]
    fn resolves_names_and_package_names() {
        let got = resolve(&strings(&["connect4", "podnet", "orch-core:proxy"]), &all()).unwrap();
        assert_eq!(
            got,
            vec![
                t("orch-tests", "connect4"),
                t("orch-core", "podnet"),
                t("orch-core", "proxy")
            ]
        );
    }

    #[test]
    fn unknown_ambiguous_and_empty_selections_fail() {
        let e = resolve(&strings(&["e2e"]), &all()).unwrap_err().to_string();
        assert!(
            e.contains("no test target `e2e`") && e.contains("orch-tests:connect4"),
            "{e}"
        );
        let e = resolve(&strings(&["proxy"]), &all())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("several packages (orch-core, orch-proxy)"),
            "{e}"
        );
        let e = resolve(&strings(&["podnet", "orch-core:podnet"]), &all()).unwrap_err();
        assert!(e.to_string().contains("selected twice"));
        assert!(resolve(&strings(&[" ", ""]), &all()).is_err());
    }

    #[test]
    fn finds_executables_in_cargo_messages() {
        let msgs = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"orch_core"},"executable":null}
{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"orch"},"executable":"/t/debug/orch"}
{"reason":"compiler-artifact","target":{"kind":["test"],"name":"podnet"},"executable":"/t/debug/deps/podnet-1a"}
{"reason":"compiler-artifact","target":{"kind":["test"],"name":"proxy"},"executable":"/t/debug/deps/proxy-2b"}
{"reason":"build-finished","success":true}"#;
        let got = executables(msgs, "orch-core", &["proxy", "podnet"]).unwrap();
        assert_eq!(got[0].target, t("orch-core", "proxy"));
        assert_eq!(got[0].path, PathBuf::from("/t/debug/deps/proxy-2b"));
        assert_eq!(got[1].path, PathBuf::from("/t/debug/deps/podnet-1a"));
        let e = executables(msgs, "orch-core", &["orch"]).unwrap_err();
        assert!(e
            .to_string()
            .contains("no executable for test `orch-core:orch`"));
    }

    #[test]
    fn no_run_command_line() {
        let cmd = no_run_command("orch-core", &["podnet", "proxy"]);
        let a: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into()).collect();
        assert_eq!(
            a,
            [
                "test",
                "--no-run",
                "--message-format=json",
                "-p",
                "orch-core",
                "--test",
                "podnet",
                "--test",
                "proxy"
            ]
        );
    }
}
