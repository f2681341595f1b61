//! One section per benchmark in the combined report: its own Markdown
//! report with every heading one level down, or, when it has no results in
//! this run, a note that says why.
use std::path::Path;

use crate::bench::results::{Bench, Found};

/// Every Markdown heading one level deeper (`#` → `##`), code blocks left
/// alone.
pub fn demote(md: &str) -> String {
    let mut out = String::with_capacity(md.len() + 64);
    let mut in_code = false;
    for line in md.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if !in_code && line.starts_with('#') {
            out.push('#');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Text safe inside a Markdown table cell or a one-line note.
pub fn one_line(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// The section of `bench`, reading its Markdown report from `dir`.
pub fn section(dir: &Path, bench: Bench, found: &Found) -> String {
    let title = format!("## {}\n\n", bench.title());
    let note = |text: String| format!("{title}{text}\n");
    match found {
        Found::Missing => note(format!(
            "Not run in this run: there is no `{}` (run `cargo xtask bench {}`).",
            bench.json_file(),
            bench.name()
        )),
        Found::Unreadable(why) => {
            note(format!("Its results could not be read: {}.", one_line(why)))
        }
        Found::Result(r) => match &r.error {
            Some(e) => note(format!("**Failed** ({}): {}", r.finished, one_line(e))),
            None => {
                let path = dir.join(bench.markdown_file());
                match std::fs::read_to_string(&path) {
                    Ok(md) => format!(
                        "{}\n*Finished {}; figures in `{}`.*\n",
                        demote(&md),
                        r.finished,
                        bench.json_file()
                    ),
                    Err(e) => note(format!(
                        "Its figures are in `{}`, but its Markdown report could not be read ({}: {e}).",
                        bench.json_file(),
                        path.display()
                    )),
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_go_one_level_down_outside_code() {
        let md = "# Title\n\ntext # not a heading\n## Sub\n```\n# shell comment\n```\n";
        assert_eq!(
            demote(md),
            "## Title\n\ntext # not a heading\n### Sub\n```\n# shell comment\n```\n"
        );
    }

    #[test]
    fn errors_fit_on_one_line_in_a_table() {
        assert_eq!(one_line("a |\n  b"), "a \\| b");
    }
}
