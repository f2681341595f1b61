//! Reading the live rules with `iptables-save` and writing a [`Plan`] with
//! `iptables-restore --noflush`, which changes only the chains and rules
//! the input names, in one transaction per input.
use std::path::Path;

use super::{
    dump,
    plan::{Plan, BUDGET},
    ruleset::{Ruleset, TableName},
    tool::{self, Tools, RESTORE, SAVE},
};
use crate::ProxyError;

/// orch's part of the live nat and filter tables.
pub(crate) fn read_live(tools: &Tools, netns: Option<&Path>) -> Result<Ruleset, ProxyError> {
    Ok(Ruleset {
        filter: dump::parse_save(&save(tools, netns, TableName::Filter)?),
        nat: dump::parse_save(&save(tools, netns, TableName::Nat)?),
    })
}

/// The `iptables-save` output of one table.
fn save(tools: &Tools, netns: Option<&Path>, table: TableName) -> Result<String, ProxyError> {
    let out = tool::run(tools, netns, SAVE, &["-t", table.as_str()], None)?;
    if !out.status.success() {
        return Err(ProxyError::Iptables {
            what: format!("iptables-save -t {}", table.as_str()),
            detail: tool::failure(&out),
        });
    }
    String::from_utf8(out.stdout).map_err(|e| ProxyError::Iptables {
        what: format!("iptables-save -t {}", table.as_str()),
        detail: format!("output is not UTF-8: {e}"),
    })
}

/// Checks that `iptables-restore` can work in the namespace (privileges,
/// kernel support) with an empty test transaction that changes nothing.
pub(crate) fn probe(tools: &Tools, netns: Option<&Path>) -> Result<(), ProxyError> {
    let out = tool::run(
        tools,
        netns,
        RESTORE,
        &["--noflush", "--test", "--wait=5"],
        Some("*nat\nCOMMIT\n*filter\nCOMMIT\n"),
    )?;
    if out.status.success() {
        return Ok(());
    }
    Err(ProxyError::Iptables {
        what: "iptables-restore --test (checking that iptables works here)".into(),
        detail: tool::failure(&out),
    })
}

/// Runs `plan`, in as many transactions as its size needs. Returns how
/// many `iptables-restore` runs it took.
pub(crate) fn execute(
    tools: &Tools,
    netns: Option<&Path>,
    plan: &Plan,
) -> Result<usize, ProxyError> {
    let txns = plan.transactions(BUDGET);
    for input in &txns {
        restore(tools, netns, input)?;
    }
    Ok(txns.len())
}

/// Feeds one input to `iptables-restore --noflush`, waiting for the
/// xtables lock if another writer holds it.
fn restore(tools: &Tools, netns: Option<&Path>, input: &str) -> Result<(), ProxyError> {
    let out = tool::run(
        tools,
        netns,
        RESTORE,
        &["--noflush", "--wait=5"],
        Some(input),
    )?;
    if out.status.success() {
        return Ok(());
    }
    let mut detail = tool::failure(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if let Some(line) = failed_line(&stderr).and_then(|n| input.lines().nth(n.checked_sub(1)?)) {
        detail.push_str(&format!("; the failing input line: {line}"));
    }
    Err(ProxyError::Iptables {
        what: "iptables-restore --noflush".into(),
        detail,
    })
}

/// The input line number an `iptables-restore` error names
/// (`Error occurred at line: 4`, or `line 4 failed`).
fn failed_line(stderr: &str) -> Option<usize> {
    let at = stderr.find("line")? + "line".len();
    let digits: String = stderr[at..]
        .trim_start_matches([':', ' '])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_line_is_found_in_both_spellings() {
        assert_eq!(
            failed_line("iptables-restore v1.8.9 (nf_tables): Chain 'NOPE' does not exist\nError occurred at line: 4\n"),
            Some(4)
        );
        assert_eq!(failed_line("iptables-restore: line 12 failed\n"), Some(12));
        assert_eq!(failed_line("something else"), None);
    }
}
