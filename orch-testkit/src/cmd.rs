//! Running helper commands (`ip`, `bash`) from tests, with errors that say
//! what was run and what it printed.
use std::process::{Command, Output};

/// Runs `program args...` and returns its output, panicking with the command
/// line and stderr if it fails to start or exits non-zero.
pub fn run(program: &str, args: &[&str]) -> Output {
    let out = try_run(program, args);
    assert!(
        out.status.success(),
        "`{program} {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `program args...` and returns its output, whatever the exit status.
pub fn try_run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("could not start `{program}`: {e}"))
}

/// Best-effort variant for cleanup paths: never panics.
pub fn quiet(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}
