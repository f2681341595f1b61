//! `orchctl`: the command-line client of an orch cluster.
use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = orch_core::cli::Cli::parse();
    if let Err(e) = orch_core::cli::run(cli).await {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
