//! `bench`: the benchmarks behind `cargo xtask bench`. Needs root.
//!
//! Usage: `bench <baselines.o> <out dir> [group ...]`, groups being `xdp`, `veth`, `store` and
//! `response` (all when none is named); `XDP_FILTER_OBJ` overrides the xdp-filter object.

use std::{io::Write as _, path::PathBuf, process::ExitCode};

use sensor_tests::bench::{report::Report, response, store, veth_pps, xdp};

/// The groups of figures, in the order they run.
const GROUPS: [&str; 4] = ["xdp", "veth", "store", "response"];

const XDP_FILTER_OBJ: &str = "/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_all.o";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(baselines), Some(out)) = (args.next(), args.next()) else {
        let _ = writeln!(std::io::stderr(), "usage: bench <baselines.o> <out dir>");
        return ExitCode::FAILURE;
    };
    let (baselines, out) = (PathBuf::from(baselines), PathBuf::from(out));
    let only: Vec<String> = args.filter_map(|a| a.into_string().ok()).collect();
    if let Some(unknown) = only.iter().find(|g| !GROUPS.contains(&g.as_str())) {
        let _ = writeln!(
            std::io::stderr(),
            "unknown group `{unknown}`; groups: {}",
            GROUPS.join(", ")
        );
        return ExitCode::FAILURE;
    }
    let wanted = |group: &str| only.is_empty() || only.iter().any(|g| g == group);
    let xdp_filter = std::env::var_os("XDP_FILTER_OBJ")
        .map_or_else(|| PathBuf::from(XDP_FILTER_OBJ), PathBuf::from);
    let mut report = Report {
        generated: chrono::Utc::now().to_rfc3339(),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        cpus: std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        ..Report::default()
    };
    // One CPU for every figure, so baseline and ours see the same core and cache.
    let mut cpu = nix::sched::CpuSet::new();
    if cpu.set(0).is_ok() {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &cpu);
    }
    if wanted("xdp")
        && let Err(err) = xdp::run(&mut report, &baselines, &xdp_filter)
    {
        report.notes.push(format!("XDP figures failed: {err:#}"));
    }
    if wanted("veth")
        && let Err(err) = veth_pps::run(&mut report, &baselines)
    {
        report.notes.push(format!("veth figure failed: {err:#}"));
    }
    if wanted("store")
        && let Err(err) = store::run(&mut report)
    {
        report.notes.push(format!("store figure failed: {err:#}"));
    }
    if wanted("response")
        && let Err(err) = response::run(&mut report)
    {
        report
            .notes
            .push(format!("response figures failed: {err:#}"));
    }
    if let Err(err) = report.write(&out) {
        let _ = writeln!(
            std::io::stderr(),
            "error: failed to write the report: {err}"
        );
        return ExitCode::FAILURE;
    }
    let _ = write!(std::io::stdout(), "{}", report.markdown());
    if report.notes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
