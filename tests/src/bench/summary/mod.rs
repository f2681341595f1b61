//! The combined benchmark report, `report.md`, built from what the
//! benchmarks left in their output directory: each one's `<name>.json`
//! (figures, or its error) and `<name>.md`. It holds the machine note, a
//! summary of ratios against the baselines measured in the same run with
//! their verdicts, the goals without a baseline, PNG plots (plotters), and
//! every benchmark's own tables. A benchmark that did not run or failed
//! gets a note in its place; the rest of the report is still written.
mod font;
mod plot;
mod plots;
mod ratios;
mod rows;
mod sections;
mod targets;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub use font::PACKAGE as FONT_PACKAGE;
pub use plots::{Drawn, Plot, PLOTS};

use super::{
    report::{machine_note, Table},
    results::{self, Bench, Found},
};
use sections::one_line;

/// The report's file name in the output directory.
pub const FILE: &str = "report.md";

/// Every benchmark's results in `dir`, in report order.
pub fn load_all(dir: &Path) -> Vec<(Bench, Found)> {
    Bench::ALL
        .iter()
        .map(|&b| (b, results::load(dir, b)))
        .collect()
}

fn status_table(found: &[(Bench, Found)]) -> Table {
    let mut t = Table::new(&["benchmark", "result", "finished"]);
    for (b, f) in found {
        let (result, when) = match f {
            Found::Missing => ("not run".to_string(), "—".to_string()),
            Found::Unreadable(why) => {
                (format!("results unreadable: {}", one_line(why)), "—".into())
            }
            Found::Result(r) => match &r.error {
                Some(e) => (format!("**failed**: {}", one_line(e)), r.finished.clone()),
                None => ("ok".into(), r.finished.clone()),
            },
        };
        t.row(vec![format!("`{}`", b.name()), result, when]);
    }
    t
}

fn plot_markdown(p: &Plot, drawn: &Drawn) -> String {
    match drawn {
        Drawn::Written(_) => format!("![{}]({})\n", p.alt, p.file),
        Drawn::NoData => format!(
            "*{}: not drawn, `{}` has no figures in this run.*\n",
            p.alt,
            p.source().name()
        ),
        Drawn::Failed(e) => format!("*{}: could not be drawn: {}.*\n", p.alt, one_line(e)),
    }
}

/// The report's Markdown, given what was found and what was plotted.
pub fn render(dir: &Path, found: &[(Bench, Found)], plotted: &[(Plot, Drawn)]) -> String {
    let mut s = format!(
        "# orch benchmark report\n\n{}\n\nEvery comparison below was measured side by side \
         with its baseline in the same run. For throughputs a ratio above 1 favours orch; \
         for latencies, a ratio below 1 does.\n",
        machine_note()
    );
    s.push_str("\n## Benchmarks in this report\n\n");
    s.push_str(&status_table(found).markdown());
    s.push_str("\n## Summary: orch against its baselines\n\n");
    s.push_str(&rows::ratio_table(&ratios::rows(found)).markdown());
    let goals = targets::rows(found);
    if !goals.is_empty() {
        s.push_str("\n## Goals without a baseline\n\n");
        s.push_str(&rows::goal_table(&goals).markdown());
    }
    s.push_str("\n## Plots\n");
    for (p, drawn) in plotted {
        s.push('\n');
        s.push_str(&plot_markdown(p, drawn));
    }
    for (b, f) in found {
        s.push('\n');
        s.push_str(&sections::section(dir, *b, f));
    }
    s
}

/// What [`write`] did.
#[derive(Debug, Clone)]
pub struct Written {
    /// The report file.
    pub path: PathBuf,
    /// Benchmarks without figures (not run, failed or unreadable).
    pub incomplete: Vec<Bench>,
    /// Plots that could not be drawn although their figures were there.
    pub plot_errors: Vec<String>,
}

/// Draws the plots and writes `dir/report.md`.
pub fn write(dir: &Path) -> Result<Written> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let found = load_all(dir);
    let plotted = plots::draw_all(dir, &found);
    let text = render(dir, &found, &plotted);
    let path = dir.join(FILE);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(Written {
        path,
        incomplete: found
            .iter()
            .filter(|(_, f)| f.figures().is_none())
            .map(|(b, _)| *b)
            .collect(),
        plot_errors: plotted
            .iter()
            .filter_map(|(p, d)| match d {
                Drawn::Failed(e) => Some(format!("{}: {e}", p.file)),
                _ => None,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests;
