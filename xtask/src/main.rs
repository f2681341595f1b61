//! `cargo xtask`: set-up, build, run, test, bench and vm tasks for the
//! orch workspace.
mod bench;
mod build;
mod run;
mod setup;
mod step;
mod test;
mod vm;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "orch development tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install what is missing: nightly rust-src, bpf-linker, Debian packages.
    /// Idempotent; a second run installs nothing.
    Setup {
        /// Only report what is missing; install nothing.
        #[arg(long)]
        check: bool,
    },
    /// Build the eBPF object only.
    BuildEbpf,
    /// Build the eBPF object, then the workspace that embeds it.
    Build {
        /// Build the workspace in release mode.
        #[arg(long)]
        release: bool,
    },
    /// Set up and build if needed, then start a multi-node cluster on this
    /// machine with the demo workload; Ctrl-C or SIGTERM tears it down.
    Run(run::RunArgs),
    /// Set up what is missing, then run every test (unit, integration,
    /// packet-path), plus rustfmt and clippy checks.
    Test {
        /// Skip the rustfmt and clippy checks.
        #[arg(long)]
        no_lint: bool,
        /// Extra arguments passed to `cargo test` (after `--`).
        #[arg(last = true)]
        cargo_args: Vec<String>,
    },
    /// Build in release, then run a benchmark and write its Markdown report
    /// and JSON figures to target/orch/bench/; `all` (the default) runs
    /// every benchmark, then writes the combined target/orch/bench/report.md
    /// with ratio tables and plots. Not part of `test`.
    Bench {
        /// Which benchmark: store, api, scheduler, pods, proxy, dns, all, or
        /// report (only rebuild report.md from the results already there).
        #[arg(default_value = "all")]
        what: String,
        /// With `store`: the backend measured against the embedded store.
        /// etcd is the only one, and is measured by `store` either way (its
        /// figures need the embedded store beside them as the baseline).
        #[arg(long, value_parser = ["etcd"])]
        backend: Option<String>,
        /// Extra arguments for orch-bench (after `--`), e.g. `--pods 2000`.
        #[arg(last = true)]
        extra: Vec<String>,
    },
    /// Build (once, cached) a Debian 12 VM image, boot it with qemu and run
    /// the packet-path tests inside on its own kernel; exits with their
    /// status.
    Vm(vm::VmArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Setup { check } => {
            if check {
                let missing = setup::missing()?;
                if missing.is_empty() {
                    step::done("nothing is missing");
                } else {
                    for m in &missing {
                        step::info(&format!("missing: {m}"));
                    }
                    anyhow::bail!("{} item(s) missing; run `cargo xtask setup`", missing.len());
                }
                Ok(())
            } else {
                setup::run()
            }
        }
        Command::BuildEbpf => build::ebpf(),
        Command::Build { release } => build::all(release),
        Command::Run(args) => run::run(args),
        Command::Test {
            no_lint,
            cargo_args,
        } => test::run(!no_lint, &cargo_args),
        Command::Bench {
            what,
            backend,
            extra,
        } => {
            if backend.is_some() && what != "store" {
                anyhow::bail!("--backend applies to `cargo xtask bench store`, not {what:?}");
            }
            bench::run(&what, &extra)
        }
        Command::Vm(args) => vm::run(args),
    }
}
