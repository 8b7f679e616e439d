//! `cargo xtask`: set-up, build, test and demo tasks for the workspace.

mod bench;
mod demo;
mod eval;
mod process;
mod run_tests;
mod setup;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Workspace tasks for the sensor")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Install what is missing on a fresh Debian machine (apt packages, bpf-linker).
    Setup,
    /// Build the eBPF object for bpfel-unknown-none with BTF.
    BuildEbpf,
    /// Set up, then fmt, clippy (host and BPF), unit and integration tests.
    Test,
    /// Set up, build, and run the sensor on a namespace lab with real traffic, then the
    /// EDR story: fixture alerts fused with a lab capture into an incident and its reports.
    Demo,
    /// Run the benchmarks and write target/bench/report.{md,json}.
    Bench {
        /// Only these groups of figures (xdp, veth, store, response); all when none given.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Replay every shared capture with the detection models; write target/eval/report.{md,json}.
    Eval,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Task::Setup => setup::setup(),
        Task::BuildEbpf => xtask::build_ebpf(&xtask::build_ebpf::default_target_dir())
            .map(|object| process::say(&format!("built {}", object.display())))
            .map_err(Into::into),
        Task::Test => run_tests::run(),
        Task::Demo => demo::run(),
        Task::Bench { only } => bench::run(&only),
        Task::Eval => eval::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            process::error(&err);
            ExitCode::FAILURE
        }
    }
}
