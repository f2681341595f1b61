//! Reporting shared by the benchmarks: latency percentiles, the machine
//! note, and Markdown tables printed to stdout and written under
//! `target/orch/bench/`.
use std::{path::Path, time::Duration};

use anyhow::{Context, Result};

/// The `q`-th percentile (0 < q ≤ 100) of `sorted` by nearest rank; zero
/// when there are no samples.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// A rate with no decimals and thousands separators (`12,345`).
pub fn rate(per_sec: f64) -> String {
    let n = per_sec.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `a / b`, NaN when `b` is zero.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        f64::NAN
    }
}

/// "met" or "NOT met".
pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}

/// A Markdown table.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends one row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as GitHub-flavoured Markdown.
    pub fn markdown(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let mut s = line(&self.header);
        s.push_str(&line(&vec!["---".to_string(); self.header.len()]));
        for r in &self.rows {
            s.push_str(&line(r));
        }
        s
    }
}

/// One benchmark's report: a title, then paragraphs and tables in order.
#[derive(Debug, Clone)]
pub struct Report {
    text: String,
}

impl Report {
    /// Starts a report with a level-1 title and the machine note.
    pub fn new(title: &str) -> Self {
        Self {
            text: format!("# {title}\n\n{}\n", machine_note()),
        }
    }

    /// Adds a level-2 heading.
    pub fn heading(&mut self, h: &str) {
        self.text.push_str(&format!("\n## {h}\n\n"));
    }

    /// Adds a paragraph or a bullet list.
    pub fn para(&mut self, p: &str) {
        self.text.push_str(p);
        self.text.push('\n');
    }

    /// Adds a table.
    pub fn table(&mut self, t: &Table) {
        self.text.push('\n');
        self.text.push_str(&t.markdown());
    }

    /// Prints the report and writes it to `dir/file`.
    pub fn emit(&self, dir: &Path, file: &str) -> Result<()> {
        println!("{}", self.text);
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(file);
        std::fs::write(&path, &self.text).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("report written to {}", path.display());
        Ok(())
    }
}

/// What the numbers were measured on: cores, CPU, kernel, load at start.
pub fn machine_note() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = read_trim("/proc/sys/kernel/osrelease");
    let load = read_trim("/proc/loadavg");
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "Machine: {cores} cores ({cpu}), Linux {kernel}, load average at start {}. \
         Absolute numbers depend on this machine and on whatever else runs on it; \
         the ratios are measured side by side in this one run.",
        load.join(" ")
    )
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
    }

    #[test]
    fn rates_group_thousands() {
        assert_eq!(rate(12345.4), "12,345");
        assert_eq!(rate(999.0), "999");
    }

    #[test]
    fn tables_render() {
        let mut t = Table::new(&["a", "b"]);
        t.row(vec!["1".into(), "2".into()]);
        assert_eq!(t.markdown(), "| a | b |\n| --- | --- |\n| 1 | 2 |\n");
    }
}
