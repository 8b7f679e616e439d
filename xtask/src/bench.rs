//! `cargo xtask bench`: builds the baseline programs and the benchmark runner (release),
//! runs every benchmark, and writes `target/bench/report.md` and `report.json`.
//!
//! Figures are ratios against baselines measured in the same run; nothing here is a timed
//! test, and CI does not run it.

use std::process::Command;

use anyhow::Context as _;

use crate::process::{banner, cargo, run as run_cmd, say};

/// Runs the benchmarks (only the groups in `only`, when it names any).
pub fn run(only: &[String]) -> anyhow::Result<()> {
    banner("setup");
    crate::setup::setup()?;
    // xdp-filter's objects (libxdp1) are the baseline of the XDP figures.
    crate::setup::apt_ensure(&["xdp-tools"])?;
    banner("build the baseline XDP programs");
    let baselines =
        xtask::build_ebpf::build_bin(&xtask::build_ebpf::default_target_dir(), "bench-baselines")?;
    banner("build the benchmark runner (release)");
    run_cmd(&mut cargo(&[
        "build",
        "--release",
        "--package",
        "sensor-tests",
        "--bin",
        "bench",
    ]))?;
    let out = xtask::target_dir().join("bench");
    banner("run");
    let bench = xtask::target_dir().join("release").join("bench");
    run_cmd(Command::new(&bench).arg(&baselines).arg(&out).args(only))
        .context("a benchmark failed; the report lists what was measured")?;
    say(&format!("report: {}", out.join("report.md").display()));
    Ok(())
}
