//! `cargo xtask test`: what CI runs, in order, each stage under a banner: set-up, format,
//! clippy for the host and for the BPF target, the eBPF build, unit tests, integration tests
//! (root, namespaces), and a summary that counts every skipped test.

use std::{
    io::{BufRead as _, BufReader, Write as _},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{Context as _, bail};

use crate::process::{banner, cargo, elapsed, run as run_cmd, say};

/// Runs every stage; fails on the first failing one.
pub fn run() -> anyhow::Result<()> {
    let start = Instant::now();
    banner("setup");
    crate::setup::setup()?;

    banner("cargo fmt --check");
    run_cmd(&mut cargo(&["fmt", "--all", "--check"]))?;

    banner("clippy (host, eBPF object stubbed)");
    run_cmd(
        cargo(&[
            "clippy",
            "--workspace",
            "--exclude",
            "sensor-ebpf",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])
        .env("SENSOR_EBPF_STUB", "1"),
    )?;

    banner("clippy (sensor-ebpf for bpfel-unknown-none)");
    xtask::build_ebpf::clippy_ebpf(&xtask::build_ebpf::default_target_dir())?;

    banner("build-ebpf");
    let object = xtask::build_ebpf(&xtask::build_ebpf::default_target_dir())?;
    say(&format!("built {}", object.display()));

    banner("build sensor");
    run_cmd(&mut cargo(&["build", "--package", "sensor"]))?;
    let sensor = xtask::target_dir().join("debug").join("sensor");

    let skip_log = xtask::target_dir().join("test-skips.txt");
    let _ = std::fs::remove_file(&skip_log);
    let mut totals = Totals::default();

    banner("unit tests");
    totals.add(&cargo_test(&[
        "test",
        "--workspace",
        "--exclude",
        "sensor-ebpf",
        "--exclude",
        "sensor-tests",
    ])?);

    banner("integration tests (root, network namespaces)");
    let mut integration = cargo(&["test", "--package", "sensor-tests", "--test", "integration"]);
    integration
        .env("SENSOR_BIN", &sensor)
        .env("SENSOR_SKIP_LOG", &skip_log);
    totals.add(&cargo_test_cmd(integration)?);

    banner("summary");
    let skips = std::fs::read_to_string(&skip_log).unwrap_or_default();
    let skipped = skips.lines().count();
    for line in skips.lines() {
        say(&format!("SKIPPED: {line}"));
    }
    if skipped > 0 {
        say(&format!(
            "WARNING: {skipped} test(s) were skipped; they did not run (see above why)"
        ));
    }
    say(&format!("all stages passed in {}", elapsed(start)));
    say(&format!(
        "tests: {} passed, {} failed, {skipped} skipped",
        totals.passed, totals.failed
    ));
    if totals.passed == 0 {
        bail!("no test ran");
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Totals {
    passed: u64,
    failed: u64,
}

impl Totals {
    fn add(&mut self, other: &Self) {
        self.passed += other.passed;
        self.failed += other.failed;
    }
}

fn cargo_test(args: &[&str]) -> anyhow::Result<Totals> {
    cargo_test_cmd(cargo(args))
}

/// Runs a `cargo test`, passing its output through while adding up its result lines.
fn cargo_test_cmd(mut cmd: Command) -> anyhow::Result<Totals> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("failed to start {cmd:?}"))?;
    let mut totals = Totals::default();
    if let Some(stdout) = child.stdout.take() {
        let mut out = std::io::stdout();
        for line in BufReader::new(stdout).lines() {
            let line = line.context("failed to read cargo test output")?;
            let _ = writeln!(out, "{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                totals.add(&parse_result(rest));
            }
        }
    }
    let status = child.wait().context("failed to wait for cargo test")?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(totals)
}

/// Parses `ok. 5 passed; 0 failed; 0 ignored; ...`.
fn parse_result(rest: &str) -> Totals {
    let mut totals = Totals::default();
    for part in rest.split(['.', ';']) {
        let mut words = part.split_whitespace();
        if let (Some(n), Some(what)) = (words.next(), words.next()) {
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => totals.passed += n,
                "failed" => totals.failed += n,
                _ => {}
            }
        }
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::parse_result;

    #[test]
    fn parses_cargo_test_result_line() {
        let t = parse_result(
            "ok. 5 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.75s",
        );
        assert_eq!((t.passed, t.failed), (5, 1));
    }
}
