//! Per-packet cost under `BPF_PROG_TEST_RUN`, ours next to baselines, on the same packets:
//! the empty `XDP_PASS` (the harness floor), xdp-filter from Debian's xdp-tools with every
//! feature compiled in (`xdpfilt_alw_all.o`: default allow, listed entries dropped, our
//! semantics), and a plain parse-and-LRU-insert program.
//!
//! Times are the kernel's own per-run figure (program execution, no syscall); each figure is
//! the median of several trials. "Ours" is the program `sensor run` loads for interfaces
//! whose frames fit one buffer, as xdp-filter's is; the program for frames that may span
//! several buffers (which asks the kernel for each frame's length) is reported beside it.

use std::{net::Ipv4Addr, path::Path, time::Duration};

use anyhow::{Context as _, bail};
use aya::{
    Ebpf, EbpfLoader,
    maps::{PerCpuHashMap, PerCpuValues},
    programs::{TestRun, TestRunOptions, Xdp},
};
use sensor::ebpf::{Datapath, LoadOptions, Target as RuleTarget};
use sensor_common::{Config, Counter, rule::scope};

use super::report::{Figure, Report, Target, interquartile_mean, median};
use crate::packet::{Ipv4, ethernet, ethertype, tcp};

/// Repeats per trial for same-packet figures.
const REPEAT: u32 = 100_000;
/// Trials per same-packet figure.
const TRIALS: usize = 31;
/// Distinct packets for the new-flow figure.
const NEW_FLOWS: usize = 50_000;
/// Packets per block of the new-flow figure.
const NEW_FLOW_BLOCK: usize = 500;
/// Rounds of the new-flow figure, each on freshly loaded programs and tables.
const NEW_FLOW_ROUNDS: usize = 10;

const CLIENT: [u8; 4] = [10, 77, 1, 12];
const SERVER: [u8; 4] = [198, 51, 100, 10];
const C2: [u8; 4] = [203, 0, 113, 66];

/// xdp-filter's map flag for a destination address (`MAP_FLAG_DST` in its
/// `common_kern_user.h`).
const XDPFILT_MAP_FLAG_DST: u64 = 1 << 1;

fn frame(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, flags: u8) -> Vec<u8> {
    let mut f = ethernet(
        &[],
        ethertype::IPV4,
        &Ipv4::new(src, dst, 6).packet(&tcp(sport, dport, flags, &[])),
    );
    f.resize(64, 0);
    f
}

/// A program under test, ours or a baseline.
trait Runner {
    fn run(&mut self, packet: &[u8], repeat: u32) -> anyhow::Result<(u32, Duration)>;
}

struct Foreign<'a>(&'a mut Xdp);

impl Runner for Foreign<'_> {
    fn run(&mut self, packet: &[u8], repeat: u32) -> anyhow::Result<(u32, Duration)> {
        let r = self.0.test_run(TestRunOptions {
            data_in: Some(packet),
            repeat,
            ..TestRunOptions::default()
        })?;
        Ok((r.return_value, r.duration))
    }
}

/// Ours, borrowed, so one loaded program can serve several cases.
struct Borrowed<'a>(&'a mut Datapath);

impl Runner for Borrowed<'_> {
    fn run(&mut self, packet: &[u8], repeat: u32) -> anyhow::Result<(u32, Duration)> {
        Ok(self.0.test_run_timed(packet, repeat)?)
    }
}

impl Runner for Datapath {
    fn run(&mut self, packet: &[u8], repeat: u32) -> anyhow::Result<(u32, Duration)> {
        Ok(self.test_run_timed(packet, repeat)?)
    }
}

/// Median ns per run for several (runner, packet, verdict) cases measured in alternation,
/// trial by trial, so a slow moment of a noisy machine hits every case alike.
fn interleaved(cases: &mut [(&mut dyn Runner, &[u8], u32)]) -> anyhow::Result<Vec<f64>> {
    let mut samples = vec![Vec::with_capacity(TRIALS); cases.len()];
    for _ in 0..TRIALS {
        for (i, (runner, packet, want)) in cases.iter_mut().enumerate() {
            let (verdict, d) = runner.run(packet, REPEAT)?;
            if verdict != *want {
                bail!("case {i}: verdict {verdict}, expected {want}");
            }
            samples[i].push(d.as_nanos() as f64);
        }
    }
    Ok(samples.iter_mut().map(|s| median(s)).collect())
}

fn load_program<'a>(ebpf: &'a mut Ebpf, name: &str) -> anyhow::Result<&'a mut Xdp> {
    let prog: &mut Xdp = ebpf
        .program_mut(name)
        .with_context(|| format!("no program {name}"))?
        .try_into()?;
    prog.load()
        .with_context(|| format!("failed to load {name}"))?;
    Ok(prog)
}

/// An already loaded program.
fn program<'a>(ebpf: &'a mut Ebpf, name: &str) -> anyhow::Result<&'a mut Xdp> {
    Ok(ebpf
        .program_mut(name)
        .with_context(|| format!("no program {name}"))?
        .try_into()?)
}

/// Loads the first XDP program of an object and returns its name.
fn first_xdp(ebpf: &mut Ebpf) -> anyhow::Result<String> {
    let name = ebpf
        .programs()
        .find(|(_, p)| matches!(p, aya::programs::Program::Xdp(_)))
        .map(|(n, _)| n.to_owned())
        .context("no XDP program in the object")?;
    load_program(ebpf, &name)?;
    Ok(name)
}

/// Runs the XDP figures into `report`.
pub fn run(report: &mut Report, baselines: &Path, xdp_filter: &Path) -> anyhow::Result<()> {
    const PASS: u32 = 2;
    const DROP: u32 = 1;
    let known = frame(CLIENT, 40000, SERVER, 443, 0x10);
    let to_c2 = frame(CLIENT, 40001, C2, 443, 0x02);

    let mut base = EbpfLoader::new()
        .load_file(baselines)
        .with_context(|| format!("failed to load {}", baselines.display()))?;
    load_program(&mut base, "bench_pass")?;

    // Ours with no rules and with an IP block on the C2 address, each with the known flow in
    // its table: the program `sensor run` loads for interfaces whose frames fit one buffer
    // (xdp-filter's program is such a program too), and the one for frames that may span
    // several buffers, which asks the kernel for each frame's length.
    let single = LoadOptions {
        multi_buffer: false,
        ..LoadOptions::default()
    };
    let multi = LoadOptions::default();
    let mut ours = Datapath::load(&single)?;
    ours.test_run(&known)?;
    let mut ruled = Datapath::load(&single)?;
    ruled.test_run(&known)?;
    let mut ours_multi = Datapath::load(&multi)?;
    ours_multi.test_run(&known)?;
    let mut ruled_multi = Datapath::load(&multi)?;
    ruled_multi.test_run(&known)?;
    for dp in [&mut ruled, &mut ruled_multi] {
        dp.rules()?.insert(
            &RuleTarget::BlockIp {
                addr: C2.into(),
                scope: scope::DST,
            },
            1,
            0,
        )?;
    }

    // xdp-filter pins its stats map by name; give it a bpffs of its own. The C2 address
    // is in its IPv4 deny list.
    let bpffs = crate::netns::BpfMount::new(&format!("{}bench", crate::netns::unique_prefix()))?;
    let filt = EbpfLoader::new()
        .default_map_pin_directory(bpffs.path())
        .load_file(xdp_filter);
    let mut filt = match filt {
        Ok(mut filt) => {
            let name = first_xdp(&mut filt)?;
            let mut ipv4: PerCpuHashMap<_, u32, u64> = PerCpuHashMap::try_from(
                filt.map_mut("filter_ipv4")
                    .context("xdp-filter has no filter_ipv4 map")?,
            )?;
            let cpus = aya::util::nr_cpus().map_err(|(_, e)| e)?;
            let flags = PerCpuValues::try_from(vec![XDPFILT_MAP_FLAG_DST; cpus])?;
            ipv4.insert(u32::from(Ipv4Addr::from(C2)).to_be(), flags, 0)?;
            Some((filt, name))
        }
        Err(err) => {
            report.notes.push(format!(
                "xdp-filter ({}) could not be loaded, so its figures are missing: {err}",
                xdp_filter.display()
            ));
            None
        }
    };

    let method_same = format!(
        "BPF_PROG_TEST_RUN, one 64-byte TCP frame repeated {REPEAT} times per trial, median \
         of {TRIALS} trials of the kernel's per-run time, all cases measured in alternation"
    );
    let mut pass_prog = Foreign(program(&mut base, "bench_pass")?);
    let mut ours_view = Borrowed(&mut ours);
    let mut ruled_known = Borrowed(&mut ruled);
    let mut multi_view = Borrowed(&mut ours_multi);
    let mut cases: Vec<(&mut dyn Runner, &[u8], u32)> = vec![
        (&mut pass_prog, &known, PASS),
        (&mut ours_view, &known, PASS),
        (&mut ruled_known, &known, PASS),
        (&mut multi_view, &known, PASS),
    ];
    let medians = if let Some((filt, name)) = filt.as_mut() {
        let prog: &mut Xdp = filt.program_mut(name).context("program")?.try_into()?;
        let mut filt_prog = Foreign(prog);
        let mut both = cases;
        both.push((&mut filt_prog, &known, PASS));
        interleaved(&mut both)?
    } else {
        interleaved(&mut cases)?
    };
    // Drops, in alternation too (the drop packet differs, so a second round).
    let drops = if let Some((filt, name)) = filt.as_mut() {
        let prog: &mut Xdp = filt.program_mut(name).context("program")?.try_into()?;
        let mut filt_prog = Foreign(prog);
        let mut ruled_drop = Borrowed(&mut ruled);
        let mut multi_drop = Borrowed(&mut ruled_multi);
        interleaved(&mut [
            (&mut ruled_drop, &to_c2, DROP),
            (&mut filt_prog, &to_c2, DROP),
            (&mut multi_drop, &to_c2, DROP),
        ])?
    } else {
        Vec::new()
    };
    let floor = medians[0];
    report.figures.push(Figure::new(
        "xdp",
        "harness floor: empty XDP_PASS",
        "ns",
        floor,
        "itself",
        floor,
        None,
        &method_same,
    ));
    if let (Some(&filt_pass), [ours_drop, filt_drop, multi_drop]) =
        (medians.get(4), drops.as_slice())
    {
        report.figures.push(Figure::new(
            "xdp",
            "known-flow packet (ours, no rules)",
            "ns",
            medians[1],
            "xdp-filter, all features",
            filt_pass,
            Some(Target::AtMost(1.0)),
            &method_same,
        ));
        report.figures.push(Figure::new(
            "xdp",
            "known-flow packet (ours, a block rule loaded)",
            "ns",
            medians[2],
            "xdp-filter, all features",
            filt_pass,
            None,
            &method_same,
        ));
        report.figures.push(Figure::new(
            "xdp",
            "known-flow packet (ours, multi-buffer program, no rules)",
            "ns",
            medians[3],
            "xdp-filter, all features",
            filt_pass,
            None,
            &method_same,
        ));
        report.figures.push(Figure::new(
            "xdp",
            "block-rule drop (ours, IP block)",
            "ns",
            *ours_drop,
            "xdp-filter drop, all features",
            *filt_drop,
            Some(Target::AtMost(0.5)),
            &method_same,
        ));
        report.figures.push(Figure::new(
            "xdp",
            "block-rule drop (ours, multi-buffer program, IP block)",
            "ns",
            *multi_drop,
            "xdp-filter drop, all features",
            *filt_drop,
            None,
            &method_same,
        ));
    }

    new_flows(report, baselines, &single)
}

/// Every packet a new flow: ours (with its flow-opened event) against a plain LRU insert.
fn new_flows(report: &mut Report, baselines: &Path, single: &LoadOptions) -> anyhow::Result<()> {
    let packets: Vec<Vec<u8>> = (0..NEW_FLOWS)
        .map(|i| {
            let src = [10, 78, (i >> 8) as u8, i as u8];
            frame(src, 1024 + (i % 60000) as u16, SERVER, 80, 0x02)
        })
        .collect();
    let (mut lru, mut ours_new, mut floor_distinct) = (Vec::new(), Vec::new(), Vec::new());
    // Each round's own ratio, for the method text: how far one load's figure strays.
    let mut round_ratios = Vec::new();
    // Fresh tables each round: where the kernel happens to place a new table's memory moves
    // this figure by ±10% from one load to the next, so ten loads are pooled.
    for _ in 0..NEW_FLOW_ROUNDS {
        let mut fresh = Datapath::load(single)?;
        // No new-flow cap: on a machine that runs the packets faster than the default
        // cap a second, the packets over it would skip the insert and flatter the figure.
        fresh.configure(&Config {
            new_flows_per_sec: 0,
            ..Config::new()
        })?;
        let mut ring = fresh.events()?;
        let (lru_from, ours_from) = (lru.len(), ours_new.len());
        let mut base = EbpfLoader::new()
            .load_file(baselines)
            .with_context(|| format!("failed to load {}", baselines.display()))?;
        load_program(&mut base, "bench_pass")?;
        load_program(&mut base, "bench_lru_insert")?;
        // Block by block: a block of packets through the baseline, the same block through
        // ours, so neither program runs with the other's code and data in the cache each
        // time while a slow moment of the machine still falls on both alike.
        for block in packets.chunks(NEW_FLOW_BLOCK) {
            let mut lru_prog = Foreign(program(&mut base, "bench_lru_insert")?);
            for p in block {
                lru.push(lru_prog.run(p, 1)?.1.as_nanos() as f64);
            }
            for p in block {
                ours_new.push(fresh.run(p, 1)?.1.as_nanos() as f64);
            }
            while ring.next().is_some() {}
            let mut pass_prog = Foreign(program(&mut base, "bench_pass")?);
            for p in block.iter().step_by(10) {
                floor_distinct.push(pass_prog.run(p, 1)?.1.as_nanos() as f64);
            }
        }
        // What was timed must be what the figure says: every packet inserted its flow and
        // had its event written.
        let counters = fresh.counters()?;
        let (opened, dropped) = (
            counters.get(Counter::FlowNew)?,
            counters.get(Counter::EventsDropped)?,
        );
        if opened != NEW_FLOWS as u64 || dropped != 0 {
            bail!(
                "new-flow figure: {opened} of {NEW_FLOWS} packets inserted their flow, \
                 {dropped} events dropped"
            );
        }
        round_ratios.push(
            interquartile_mean(&mut ours_new[ours_from..].to_vec())
                / interquartile_mean(&mut lru[lru_from..].to_vec()),
        );
    }
    round_ratios.sort_by(f64::total_cmp);
    let (lru, ours_new, floor_distinct) = (
        interquartile_mean(&mut lru),
        interquartile_mean(&mut ours_new),
        interquartile_mean(&mut floor_distinct),
    );
    let method_distinct = format!(
        "BPF_PROG_TEST_RUN, {NEW_FLOWS} distinct 64-byte TCP SYNs each run once, in \
         {NEW_FLOW_ROUNDS} rounds on freshly loaded programs, interquartile mean of the \
         kernel's per-run times (it times one run in 10 ns steps here: a median moves a \
         whole step at a time), ours and the baseline alternating in blocks of \
         {NEW_FLOW_BLOCK} packets; the event ring is drained after each block; the rounds' \
         own ratios ran from {:.2} to {:.2}",
        round_ratios.first().copied().unwrap_or(0.0),
        round_ratios.last().copied().unwrap_or(0.0),
    );
    report.figures.push(Figure::new(
        "xdp",
        "every packet a new flow, with its event (ours)",
        "ns",
        ours_new,
        "plain parse + LRU insert",
        lru,
        Some(Target::AtMost(1.15)),
        &method_distinct,
    ));
    report.figures.push(Figure::new(
        "xdp",
        "harness floor, single runs",
        "ns",
        floor_distinct,
        "itself",
        floor_distinct,
        None,
        &method_distinct,
    ));
    Ok(())
}
