//! `orch server migrate`: moves a stopped server's embedded store into an
//! empty etcd, checks the copy and says how to start the server on etcd.
//! The work is `orch_core::store::migrate`'s; this prints.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use orch_core::store::{
    etcd::EtcdStore,
    migrate::{self, DEFAULT_CONCURRENCY},
};

use super::etcd_flags::EtcdArgs;

/// The differing keys named when the copy does not match.
const SHOWN: usize = 10;

/// `orch server migrate` flags.
#[derive(clap::Args)]
pub struct MigrateArgs {
    /// The stopped server's data directory (its store.redb).
    #[arg(long, default_value = "/var/lib/orch")]
    data_dir: PathBuf,
    #[command(flatten)]
    etcd: EtcdArgs,
}

pub async fn run(a: MigrateArgs) -> Result<()> {
    let mut opts = a.etcd.options("")?;
    // Compaction is the servers' business.
    opts.compaction_interval = None;
    let dir = a.data_dir.clone();
    let source = tokio::task::spawn_blocking(move || migrate::open_embedded(&dir))
        .await
        .context("opening the embedded store")??;
    let target = EtcdStore::connect(opts).await?;
    let started = std::time::Instant::now();
    let copied = migrate::copy(&source, &target, DEFAULT_CONCURRENCY).await?;
    println!(
        "copied {} keys (embedded store at revision {}) to etcd in {:.1} s",
        copied.keys,
        copied.revision,
        started.elapsed().as_secs_f64()
    );
    let check = migrate::verify(&source, &target).await?;
    print!("{}", check.table());
    if !check.same() {
        for d in check.differences.iter().take(SHOWN) {
            eprintln!("  {d}");
        }
        anyhow::bail!(
            "the copy in etcd differs from the embedded store in {} keys (first ones above)",
            check.differences.len()
        );
    }
    println!("verified: every key and value in etcd matches the embedded store");
    let bumped = target.bump_revision(copied.revision).await?;
    println!(
        "etcd's revision moved past the embedded store's ({} -> {bumped}) and compacted \
         there: no resourceVersion from the embedded store names an etcd state (an older \
         one answers 410 Expired, so clients list again)",
        copied.revision
    );
    print_next_steps(&a.data_dir, &a.etcd);
    Ok(())
}

fn print_next_steps(data_dir: &Path, etcd: &EtcdArgs) {
    println!(
        "next: start the server on etcd with the same data directory (its CA and tokens stay):\n  \
         orch server --store etcd {} --data-dir {}\n\
         {} is left as it was; a server started without --store etcd would use it.",
        etcd.command_line(),
        data_dir.display(),
        data_dir
            .join(orch_core::store::embedded::FILE_NAME)
            .display()
    );
}
