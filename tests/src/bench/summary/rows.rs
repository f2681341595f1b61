//! The rows of the summary tables and their verdicts, and how they render
//! as Markdown.
use crate::bench::report::Table;

/// The verdict of one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The goal is met.
    Met,
    /// The goal is not met.
    NotMet,
    /// The row has no goal (shown for the ratio alone).
    NoGoal,
    /// Not measured in this run, and why.
    NotMeasured(String),
}

impl Verdict {
    /// `Met` when `ok`, else `NotMet`.
    pub fn of(ok: bool) -> Self {
        if ok {
            Self::Met
        } else {
            Self::NotMet
        }
    }

    fn text(&self) -> String {
        match self {
            Self::Met => "met".into(),
            Self::NotMet => "**NOT met**".into(),
            Self::NoGoal => "—".into(),
            Self::NotMeasured(why) => format!("not measured: {why}"),
        }
    }
}

/// One comparison with a baseline measured in the same run.
#[derive(Debug, Clone, PartialEq)]
pub struct RatioRow {
    /// What is compared with what.
    pub comparison: String,
    /// The measure.
    pub measure: String,
    /// orch's figure.
    pub orch: String,
    /// The baseline's figure.
    pub baseline: String,
    /// orch ÷ baseline.
    pub ratio: f64,
    /// The goal, in words.
    pub goal: String,
    /// The verdict.
    pub verdict: Verdict,
}

impl RatioRow {
    /// A row for a comparison that has no figures in this run.
    pub fn not_measured(comparison: &str, why: &str) -> Self {
        Self {
            comparison: comparison.into(),
            measure: "—".into(),
            orch: "—".into(),
            baseline: "—".into(),
            ratio: f64::NAN,
            goal: "—".into(),
            verdict: Verdict::NotMeasured(why.into()),
        }
    }
}

/// One goal with no baseline: a figure against a fixed bound.
#[derive(Debug, Clone, PartialEq)]
pub struct GoalRow {
    /// The benchmark.
    pub benchmark: String,
    /// The measure.
    pub measure: String,
    /// The figure.
    pub figure: String,
    /// The goal, in words.
    pub goal: String,
    /// The verdict.
    pub verdict: Verdict,
}

/// Decimals that show two significant digits of `v` (at least `min`).
fn decimals(v: f64, min: usize) -> usize {
    if v > 0.0 && v < 1.0 {
        let lead = (-v.log10()).floor() as usize;
        (lead + 2).max(min)
    } else {
        min
    }
}

/// A ratio as `0.42×`, small ones with two significant digits
/// (`0.00045×`); a dash when there is none.
pub fn times(r: f64) -> String {
    if !r.is_finite() {
        return "—".into();
    }
    let d = if r < 0.1 { decimals(r, 2) } else { 2 };
    format!("{r:.d$}×")
}

/// Milliseconds as `12.34 ms`, under 0.1 ms with two significant digits.
pub fn ms(v: f64) -> String {
    let d = if v < 0.1 { decimals(v, 2) } else { 2 };
    format!("{v:.d$} ms")
}

/// A goal's duration: whole seconds as `1 s`, else milliseconds.
pub fn bound(d: std::time::Duration) -> String {
    if d.as_millis() >= 1000 && d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// The ratio table.
pub fn ratio_table(rows: &[RatioRow]) -> Table {
    let mut t = Table::new(&[
        "comparison",
        "measure",
        "orch",
        "baseline",
        "orch ÷ baseline",
        "goal",
        "verdict",
    ]);
    for r in rows {
        t.row(vec![
            r.comparison.clone(),
            r.measure.clone(),
            r.orch.clone(),
            r.baseline.clone(),
            times(r.ratio),
            r.goal.clone(),
            r.verdict.text(),
        ]);
    }
    t
}

/// The table of goals without a baseline.
pub fn goal_table(rows: &[GoalRow]) -> Table {
    let mut t = Table::new(&["benchmark", "measure", "figure", "goal", "verdict"]);
    for r in rows {
        t.row(vec![
            r.benchmark.clone(),
            r.measure.clone(),
            r.figure.clone(),
            r.goal.clone(),
            r.verdict.text(),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_and_ratios_render() {
        let mut row = RatioRow::not_measured("orch-dns vs Knot", "benchmark failed");
        let t = ratio_table(std::slice::from_ref(&row)).markdown();
        assert!(t.contains("| — | not measured: benchmark failed |"), "{t}");
        row.ratio = 0.5;
        row.verdict = Verdict::of(false);
        let t = ratio_table(&[row]).markdown();
        assert!(t.contains("| 0.50× |"), "{t}");
        assert!(t.contains("**NOT met**"), "{t}");
        assert_eq!(times(f64::INFINITY), "—");
        assert_eq!(times(0.02 / 44.0), "0.00045×");
        assert_eq!(times(1.0), "1.00×");
        assert_eq!(ms(0.012), "0.012 ms");
        assert_eq!(ms(0.0), "0.00 ms");
        assert_eq!(ms(199.0), "199.00 ms");
        assert_eq!(bound(std::time::Duration::from_secs(1)), "1 s");
        assert_eq!(bound(std::time::Duration::from_millis(200)), "200 ms");
    }
}
