//! `cargo xtask vm`: runs the packet-path tests on a Debian 12 VM's own
//! kernel. It builds (once, cached under `<target>/orch/vm/`) a bookworm
//! image with debootstrap, builds the workspace and the selected test
//! executables, puts them on a payload disk, boots the image with qemu
//! (KVM when it works, TCG otherwise; direct kernel boot, no network),
//! runs the tests inside, reads the results back from a results disk and
//! exits with the suite's status. The VM powers itself off at the end;
//! every step is bounded in time, and qemu is killed when a limit passes.
mod artifacts;
mod boot;
mod bounded;
mod image;
mod mounts;
mod payload;
mod prereq;
mod qemu;
mod recipe;
mod results;

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::{build, run::signals::Stop, step};

/// The packet-path tests run by default: the `tests/` package (the eBPF
/// `connect4` program on its own, orch-dns answering `dig`), the agent's
/// pod networking, the Service proxy in both modes, and the end-to-end
/// suite (a 3-node `xtask run` cluster in both modes).
pub const DEFAULT_TESTS: &[&str] = &["connect4", "dns_standalone", "podnet", "proxy", "e2e"];

/// Flags of `cargo xtask vm`.
#[derive(Debug, clap::Args)]
pub struct VmArgs {
    /// Test targets to run, comma-separated, by name (`package:name` when
    /// two packages have one of that name)
    /// [default: connect4,dns_standalone,podnet,proxy,e2e].
    #[arg(long, value_delimiter = ',')]
    pub tests: Vec<String>,
    /// How qemu runs the guest: auto (KVM when /dev/kvm opens and boots
    /// the guest, else TCG), kvm or tcg.
    #[arg(long, default_value = "auto", value_parser = ["auto", "kvm", "tcg"])]
    pub accel: String,
    /// Virtual CPUs.
    #[arg(long, default_value_t = 2)]
    pub cpus: u8,
    /// Guest memory (e.g. 4G, 4096M).
    #[arg(long, default_value = "4G", value_parser = qemu::parse_memory)]
    pub memory: u64,
    /// Time limit of the VM run, boot to power-off, in minutes.
    #[arg(long, default_value_t = 90)]
    pub timeout_mins: u64,
    /// Time limit of one test executable inside the VM, in minutes.
    #[arg(long, default_value_t = 40)]
    pub test_timeout_mins: u64,
    /// Factor for the tests' own time limits inside the VM
    /// (ORCH_TEST_TIME_SCALE) [default: 4 under TCG, 1 under KVM].
    #[arg(long)]
    pub time_scale: Option<u32>,
    /// Build the Debian image again even if a cached one exists.
    #[arg(long)]
    pub rebuild_image: bool,
    /// Arguments for every test executable (after `--`), e.g. a test name
    /// filter or `--nocapture`.
    #[arg(last = true)]
    pub test_args: Vec<String>,
}

impl VmArgs {
    /// The selected test names (the default when none was given).
    fn selection(&self) -> Vec<String> {
        if self.tests.is_empty() {
            DEFAULT_TESTS.iter().map(|s| s.to_string()).collect()
        } else {
            self.tests.clone()
        }
    }
}

/// Runs `cargo xtask vm`.
pub fn run(args: VmArgs) -> Result<()> {
    let started = Instant::now();
    if args.cpus == 0 {
        bail!("--cpus must be at least 1");
    }
    let stop = Stop::install()?;
    let vm_dir = step::target_dir().join("orch").join("vm");
    std::fs::create_dir_all(&vm_dir)?;

    let t = step::start("vm: checking the host (root, debootstrap, qemu, space)");
    prereq::check()?;
    step::finish("host ready", t);

    let selected = artifacts::resolve(&args.selection(), &artifacts::workspace_targets()?)?;
    let names: Vec<String> = selected
        .iter()
        .map(|t| format!("{}:{}", t.package, t.name))
        .collect();
    step::info(&format!("tests: {}", names.join(", ")));

    let image = image::ensure(&vm_dir, args.rebuild_image, &stop)?;
    build::all(false)?;
    let exes = artifacts::build(&selected)?;
    let settings = payload::Settings {
        test_args: args.test_args.clone(),
        test_limit: Duration::from_secs(args.test_timeout_mins * 60),
    };
    let payload = payload::write(&vm_dir, &exes, &settings, &stop)?;

    let plan = boot::Plan {
        accel: args.accel.clone(),
        cpus: args.cpus,
        memory_mib: args.memory,
        limit: Duration::from_secs(args.timeout_mins * 60),
        time_scale: args.time_scale,
    };
    let done = boot::run(&vm_dir, &image, &payload, &plan, &stop)?;

    let results_dir = vm_dir.join("run").join("results");
    let unpacked = results::unpack(&done.results_disk, &results_dir)?;
    if unpacked {
        step::info(&format!("test logs: {}", results_dir.display()));
    } else {
        step::info(&format!(
            "the results disk holds nothing; reading the serial log {}",
            done.serial_log.display()
        ));
    }
    let outcome = results::parse(&results::text(
        unpacked.then_some(results_dir.as_path()),
        &done.serial_log,
    ));
    report(
        &outcome,
        &selected,
        done.accel,
        done.took,
        started.elapsed(),
    )
}

/// Prints one line per test and the summary; fails unless all passed.
fn report(
    o: &results::Outcome,
    selected: &[artifacts::TestTarget],
    accel: qemu::Accel,
    vm_took: Duration,
    total: Duration,
) -> Result<()> {
    println!("==> vm: results");
    for s in selected {
        match o.tests.iter().find(|t| t.name == s.name) {
            Some(t) if t.status == 0 => println!("    {}: ok ({}s)", s.name, t.seconds),
            Some(t) if t.status == 124 || t.status == 137 => println!(
                "    {}: FAILED, killed at the per-test time limit ({}s)",
                s.name, t.seconds
            ),
            Some(t) => println!(
                "    {}: FAILED, exit status {} ({}s)",
                s.name, t.status, t.seconds
            ),
            None => println!("    {}: did not finish", s.name),
        }
    }
    println!(
        "vm: {accel}, VM {}, total {}",
        bounded::human(vm_took),
        bounded::human(total)
    );
    println!(
        "summary: {} passed, {} failed, {} skipped",
        o.tally.passed, o.tally.failed, o.tally.ignored
    );
    if !o.passed(selected.len()) {
        bail!("the tests in the VM failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        vm: VmArgs,
    }

    fn parse(args: &[&str]) -> VmArgs {
        Cli::try_parse_from(std::iter::once("vm").chain(args.iter().copied()))
            .unwrap()
            .vm
    }

    #[test]
    fn defaults() {
        let a = parse(&[]);
        assert_eq!(
            a.selection(),
            ["connect4", "dns_standalone", "podnet", "proxy", "e2e"]
        );
        assert_eq!((a.accel.as_str(), a.cpus, a.memory), ("auto", 2, 4096));
        assert!(a.test_args.is_empty());
        assert_eq!(a.time_scale, None);
    }

    #[test]
    fn tests_flag_and_passthrough_args() {
        let a = parse(&[
            "--tests",
            "connect4,orch-core:e2e",
            "--accel",
            "tcg",
            "--",
            "--nocapture",
        ]);
        assert_eq!(a.selection(), ["connect4", "orch-core:e2e"]);
        assert_eq!(a.accel, "tcg");
        assert_eq!(a.test_args, ["--nocapture"]);
        let a = parse(&["--tests", "podnet", "--tests", "proxy", "--memory", "2G"]);
        assert_eq!(a.selection(), ["podnet", "proxy"]);
        assert_eq!(a.memory, 2048);
        assert_eq!(parse(&["--time-scale", "8"]).time_scale, Some(8));
    }

    #[test]
    fn bad_flags_are_rejected() {
        let bad = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("vm").chain(args.iter().copied())).is_err()
        };
        assert!(bad(&["--accel", "hvf"]));
        assert!(bad(&["--memory", "lots"]));
    }
}
