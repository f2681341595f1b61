//! Machine-readable results: next to its Markdown report, every benchmark
//! leaves `<name>.json` with its figures ([`figures`]), or with its error
//! when it failed. The combined report ([`super::summary`]) reads these.
mod figures;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

pub use figures::*;

/// The benchmarks, in the order the combined report lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bench {
    /// Embedded store vs etcd.
    Store,
    /// The API server.
    Api,
    /// The scheduler.
    Scheduler,
    /// Pod startup on a node agent.
    Pods,
    /// orch-proxy.
    Proxy,
    /// orch-dns vs Knot.
    Dns,
}

impl Bench {
    /// Every benchmark, in report order.
    pub const ALL: [Bench; 6] = [
        Self::Store,
        Self::Api,
        Self::Scheduler,
        Self::Pods,
        Self::Proxy,
        Self::Dns,
    ];

    /// The name on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Store => "store",
            Self::Api => "api",
            Self::Scheduler => "scheduler",
            Self::Pods => "pods",
            Self::Proxy => "proxy",
            Self::Dns => "dns",
        }
    }

    /// The heading of its section in the combined report.
    pub fn title(self) -> &'static str {
        match self {
            Self::Store => "Store: embedded vs etcd",
            Self::Api => "API server",
            Self::Scheduler => "Scheduler",
            Self::Pods => "Pod startup",
            Self::Proxy => "Service proxy",
            Self::Dns => "DNS: orch-dns vs Knot",
        }
    }

    /// Its Markdown report's file name.
    pub fn markdown_file(self) -> String {
        format!("{}.md", self.name())
    }

    /// Its results file name.
    pub fn json_file(self) -> String {
        format!("{}.json", self.name())
    }
}

/// One benchmark's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Figures {
    /// `bench store`.
    Store(StoreFigures),
    /// `bench api`.
    Api(ApiFigures),
    /// `bench scheduler`.
    Scheduler(SchedulerFigures),
    /// `bench pods`.
    Pods(PodsFigures),
    /// `bench proxy`.
    Proxy(ProxyFigures),
    /// `bench dns`.
    Dns(DnsFigures),
}

impl Figures {
    /// Which benchmark measured them.
    pub fn bench(&self) -> Bench {
        match self {
            Self::Store(_) => Bench::Store,
            Self::Api(_) => Bench::Api,
            Self::Scheduler(_) => Bench::Scheduler,
            Self::Pods(_) => Bench::Pods,
            Self::Proxy(_) => Bench::Proxy,
            Self::Dns(_) => Bench::Dns,
        }
    }
}

/// What one run of one benchmark left behind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// Which benchmark.
    pub benchmark: Bench,
    /// When it ended (RFC 3339, UTC).
    pub finished: String,
    /// The machine note when it ended.
    pub machine: String,
    /// Why it failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its figures, if it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub figures: Option<Figures>,
}

impl BenchResult {
    /// A run that measured `figures`.
    pub fn ok(figures: Figures) -> Self {
        Self {
            benchmark: figures.bench(),
            finished: jiff::Timestamp::now().to_string(),
            machine: super::report::machine_note(),
            error: None,
            figures: Some(figures),
        }
    }

    /// A run that failed with `error`.
    pub fn failed(bench: Bench, error: &anyhow::Error) -> Self {
        Self {
            benchmark: bench,
            finished: jiff::Timestamp::now().to_string(),
            machine: super::report::machine_note(),
            error: Some(format!("{error:#}")),
            figures: None,
        }
    }

    /// Writes `dir/<name>.json`.
    pub fn save(&self, dir: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(self.benchmark.json_file());
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(&path, text + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

/// Removes `dir/<name>.json` before `bench` runs again, so that a run that
/// dies half-way leaves no figures from an earlier run behind.
pub fn clear(dir: &Path, bench: Bench) -> Result<()> {
    let path = dir.join(bench.json_file());
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// What the combined report finds for one benchmark.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// No results file: the benchmark did not run (or did not finish).
    Missing,
    /// A results file that could not be read or parsed.
    Unreadable(String),
    /// A results file.
    Result(BenchResult),
}

impl Found {
    /// The figures, when the benchmark ran and succeeded.
    pub fn figures(&self) -> Option<&Figures> {
        match self {
            Self::Result(r) => r.figures.as_ref(),
            _ => None,
        }
    }

    /// Why there are no figures, in a few words; `None` when there are.
    pub fn absence(&self) -> Option<String> {
        match self {
            Self::Missing => Some("benchmark not run".into()),
            Self::Unreadable(_) => Some("results unreadable".into()),
            Self::Result(r) if r.error.is_some() => Some("benchmark failed".into()),
            Self::Result(r) if r.figures.is_none() => Some("no figures".into()),
            Self::Result(_) => None,
        }
    }
}

/// Reads `dir/<name>.json`.
pub fn load(dir: &Path, bench: Bench) -> Found {
    let path = dir.join(bench.json_file());
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Found::Missing,
        Err(e) => return Found::Unreadable(format!("{}: {e}", path.display())),
    };
    match serde_json::from_str::<BenchResult>(&text) {
        Ok(r) if r.benchmark == bench => Found::Result(r),
        Ok(r) => Found::Unreadable(format!(
            "{} holds results of `{}`",
            path.display(),
            r.benchmark.name()
        )),
        Err(e) => Found::Unreadable(format!("{}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods() -> Figures {
        Figures::Pods(PodsFigures {
            created: 10,
            ready: 10,
            capped: false,
            pod_p50_ms: 50.0,
            pod_p99_ms: 90.0,
            bare_samples: 10,
            bare_p50_ms: 10.0,
            bare_p99_ms: 20.0,
        })
    }

    #[test]
    fn results_round_trip_through_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let r = BenchResult::ok(pods());
        let path = r.save(dir.path()).unwrap();
        assert_eq!(path, dir.path().join("pods.json"));
        assert_eq!(load(dir.path(), Bench::Pods), Found::Result(r));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"benchmark\": \"pods\""), "{text}");
        assert!(text.contains("\"pod_p99_ms\": 90.0"), "{text}");
        assert!(!text.contains("\"error\""), "{text}");
    }

    #[test]
    fn failures_missing_and_garbage_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path(), Bench::Dns), Found::Missing);
        let failed = BenchResult::failed(Bench::Dns, &anyhow::anyhow!("knotd did not start"));
        failed.save(dir.path()).unwrap();
        let Found::Result(r) = load(dir.path(), Bench::Dns) else {
            panic!("expected a result");
        };
        assert_eq!(r.error.as_deref(), Some("knotd did not start"));
        assert!(r.figures.is_none());
        std::fs::write(dir.path().join("store.json"), "{ not json").unwrap();
        assert!(matches!(
            load(dir.path(), Bench::Store),
            Found::Unreadable(_)
        ));
        // A file of another benchmark under this name is not taken for it.
        BenchResult::ok(pods()).save(dir.path()).unwrap();
        std::fs::rename(dir.path().join("pods.json"), dir.path().join("api.json")).unwrap();
        assert!(matches!(load(dir.path(), Bench::Api), Found::Unreadable(_)));
        clear(dir.path(), Bench::Api).unwrap();
        assert_eq!(load(dir.path(), Bench::Api), Found::Missing);
        clear(dir.path(), Bench::Api).unwrap();
    }
}
