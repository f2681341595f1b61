//! The results of a VM run: the tar stream the guest wrote onto the raw
//! results disk is unpacked (per-test logs, `status`, `exit-status`); the
//! outcome is parsed from the runner's marker lines and libtest's
//! `test result:` lines, read from the unpacked logs, or from the serial
//! console log when the disk holds nothing (a guest that died early).
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Result;

use crate::{step, test::Tally};

/// One test executable's end, from `orch-vm: test NAME status=N seconds=S`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestEnd {
    pub name: String,
    pub status: i32,
    pub seconds: u64,
}

/// What the guest reported.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub tests: Vec<TestEnd>,
    pub tally: Tally,
    /// The runner's exit status (`orch-vm: done status=N`).
    pub done: Option<i32>,
}

impl Outcome {
    /// Whether every selected test ran and passed.
    pub fn passed(&self, selected: usize) -> bool {
        self.done == Some(0)
            && self.tests.len() == selected
            && self.tests.iter().all(|t| t.status == 0)
            && self.tally.failed == 0
            && self.tally.passed > 0
    }
}

/// Parses marker and libtest lines.
pub fn parse(text: &str) -> Outcome {
    let mut o = Outcome::default();
    for line in text.lines() {
        o.tally.add_line(line);
        let Some(rest) = line
            .find("orch-vm: ")
            .map(|i| &line[i + "orch-vm: ".len()..])
        else {
            continue;
        };
        if let Some(s) = rest.strip_prefix("done status=") {
            o.done = s.trim().parse().ok();
        } else if let Some(t) = rest.strip_prefix("test ").and_then(test_end) {
            o.tests.push(t);
        }
    }
    o
}

/// `NAME status=N seconds=S`.
fn test_end(s: &str) -> Option<TestEnd> {
    let mut words = s.split_whitespace();
    let name = words.next()?.to_string();
    let status = words.next()?.strip_prefix("status=")?.parse().ok()?;
    let seconds = words.next()?.strip_prefix("seconds=")?.parse().ok()?;
    Some(TestEnd {
        name,
        status,
        seconds,
    })
}

/// Unpacks the results disk into `dir`; returns whether it held results.
pub fn unpack(disk: &Path, dir: &Path) -> Result<bool> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    let ok = step::succeeds(Command::new("tar").arg("-xf").arg(disk).arg("-C").arg(dir));
    Ok(ok && dir.join("exit-status").is_file())
}

/// The text to parse: the unpacked logs in run order followed by the
/// status lines and the exit status as markers, or else the serial log.
pub fn text(results: Option<&Path>, serial_log: &Path) -> String {
    let Some(dir) = results else {
        return std::fs::read_to_string(serial_log).unwrap_or_default();
    };
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    let status = read(dir.join("status"));
    let mut out = String::new();
    for end in parse(&status).tests {
        out.push_str(&read(dir.join(format!("{}.log", end.name))));
        out.push('\n');
    }
    out.push_str(&status);
    out.push_str(&format!(
        "orch-vm: done status={}\n",
        read(dir.join("exit-status")).trim()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERIAL: &str = "\
[    2.1] random: crng init done
orch-vm: init started: kernel 6.1.0-27-amd64, 2 cpus
orch-vm: test connect4 started
running 1 test
test connect4_redirects_only_scoped_namespaces ... ok
test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out
orch-vm: test connect4 status=0 seconds=12
orch-vm: test podnet started
test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out
[  300.2] reboot: Power down orch-vm: test podnet status=101 seconds=340
orch-vm: done status=1
";

    #[test]
    fn parses_markers_and_libtest_lines() {
        let o = parse(SERIAL);
        assert_eq!(
            o.tests,
            vec![
                TestEnd {
                    name: "connect4".into(),
                    status: 0,
                    seconds: 12
                },
                TestEnd {
                    name: "podnet".into(),
                    status: 101,
                    seconds: 340
                }
            ]
        );
        assert_eq!((o.tally.passed, o.tally.failed), (3, 1));
        assert_eq!(o.done, Some(1));
        assert!(!o.passed(2));
    }

    #[test]
    fn passes_only_when_everything_ran_and_passed() {
        let ok = "test result: ok. 4 passed; 0 failed; 0 ignored\n\
                  orch-vm: test a status=0 seconds=1\n\
                  orch-vm: done status=0\n";
        assert!(parse(ok).passed(1));
        assert!(!parse(ok).passed(2), "a selected test did not run");
        let no_end = "test result: ok. 4 passed; 0 failed; 0 ignored\n\
                      orch-vm: test a status=0 seconds=1\n";
        assert!(!parse(no_end).passed(1), "the guest never finished");
        assert!(!parse("orch-vm: test a status=0 seconds=1\norch-vm: done status=0\n").passed(1));
    }

    #[test]
    fn malformed_markers_are_ignored() {
        let o = parse("orch-vm: test a started\norch-vm: test b status=x seconds=1\n");
        assert!(o.tests.is_empty());
        assert_eq!(o.done, None);
    }

    #[test]
    fn reads_unpacked_results_in_run_order() {
        let dir = std::env::temp_dir().join(format!("xtask-results-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b.log"), "test result: ok. 2 passed; 0 failed\n").unwrap();
        std::fs::write(dir.join("a.log"), "test result: ok. 1 passed; 0 failed\n").unwrap();
        std::fs::write(
            dir.join("status"),
            "orch-vm: test b status=0 seconds=5\norch-vm: test a status=0 seconds=7\n",
        )
        .unwrap();
        std::fs::write(dir.join("exit-status"), "0\n").unwrap();
        let o = parse(&text(Some(&dir), Path::new("/nonexistent")));
        assert!(o.passed(2), "{o:?}");
        assert_eq!(o.tally.passed, 3);
        let _ = std::fs::remove_dir_all(dir);
    }
}
