//! Packets per second across a veth pair: the same generator sends into one end while the
//! other end runs first the empty `XDP_PASS`, then the sensor's program; the figure is the
//! receive rate of each.
//!
//! The generator is the way `xdp-trafficgen` works: `BPF_PROG_TEST_RUN` in live-frames
//! mode runs a program returning `XDP_TX` on the sending veth, so each run transmits a real
//! frame. (Debian's `xdp-trafficgen` 1.3.1 itself fails to load on this kernel: it wants a
//! tracepoint BTF type the kernel no longer has.)

use std::{
    fs::File,
    os::fd::AsFd as _,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use aya::{
    EbpfLoader,
    programs::{TestRun, TestRunAttrs, TestRunOptions, Xdp, XdpMode},
};
use nix::sched::{CloneFlags, setns};
use sensor::ebpf::{AttachMode, Datapath, LoadOptions};

use super::report::{Figure, Report, Target, median};
use crate::netns::{self, Netns, VethEnd};

const PACKETS: u32 = 2_000_000;
/// Alternations of the two programs.
const ROUNDS: usize = 5;
const RX_MAC: &str = "02:00:00:00:0b:02";

/// Runs `f` with this thread in `ns`'s network namespace, then returns to the original.
fn in_netns<T>(ns: &Netns, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let home = File::open("/proc/self/ns/net").context("open own netns")?;
    let target = File::open(format!("/var/run/netns/{}", ns.name())).context("open netns")?;
    setns(target.as_fd(), CloneFlags::CLONE_NEWNET).context("setns")?;
    let result = f();
    setns(home.as_fd(), CloneFlags::CLONE_NEWNET).context("setns back")?;
    result
}

/// A 64-byte UDP frame from the sending end to the receiving end.
fn frame() -> Vec<u8> {
    let ip = crate::packet::Ipv4::new([10, 99, 0, 1], [10, 99, 0, 2], 17)
        .packet(&crate::packet::udp(9, 9, &[0x42; 18]));
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&[2, 0, 0, 0, 0x0b, 2, 2, 0, 0, 0, 0x0b, 1, 0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.resize(64, 0);
    f
}

/// Sends the packets with the live-frames generator and returns the receive rate on `rx_if`
/// in packets per second.
fn measure(
    generator: &mut Xdp,
    tx: &Netns,
    tx_ifindex: u32,
    rx: &Netns,
    rx_if: &str,
) -> anyhow::Result<f64> {
    let packet = frame();
    // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress.
    // The kernel wants data_end to equal the frame's length.
    let mut ctx = [0u8; 24];
    ctx[4..8].copy_from_slice(&(packet.len() as u32).to_ne_bytes());
    ctx[12..16].copy_from_slice(&tx_ifindex.to_ne_bytes());
    let before = rx.iface_counter(rx_if, "rx_packets")?;
    let start = Instant::now();
    in_netns(tx, || {
        generator
            .test_run(TestRunOptions {
                data_in: Some(&packet),
                ctx_in: Some(&ctx),
                repeat: PACKETS,
                attrs: TestRunAttrs::new().xdp_live_frames(64),
                ..TestRunOptions::default()
            })
            .context("live-frames test run")?;
        Ok(())
    })?;
    let elapsed = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(200));
    let received = rx.iface_counter(rx_if, "rx_packets")? - before;
    if received == 0 {
        bail!("nothing arrived at {rx_if}");
    }
    Ok(received as f64 / elapsed)
}

/// Runs the veth figure into `report`.
pub fn run(report: &mut Report, baselines: &Path) -> anyhow::Result<()> {
    let prefix = netns::unique_prefix();
    let tx = Netns::create(&format!("{prefix}tx"))?;
    let rx = Netns::create(&format!("{prefix}rx"))?;
    let (tx_if, rx_if) = (format!("{prefix}t0"), format!("{prefix}r0"));
    netns::veth(
        VethEnd {
            ns: &tx,
            name: &tx_if,
            mac: "02:00:00:00:0b:01",
            addr: Some("10.99.0.1/24"),
        },
        VethEnd {
            ns: &rx,
            name: &rx_if,
            mac: RX_MAC,
            addr: Some("10.99.0.2/24"),
        },
    )?;
    let tx_ifindex: u32 = tx
        .exec("cat", &[&format!("/sys/class/net/{tx_if}/ifindex")])?
        .trim()
        .parse()
        .context("tx ifindex")?;
    let mut gen_obj = EbpfLoader::new().load_file(baselines)?;
    let generator: &mut Xdp = gen_obj
        .program_mut("bench_tx")
        .context("bench_tx")?
        .try_into()?;
    generator.load()?;
    // Alternate the two programs three times each and take each one's median, so a slow
    // moment of the machine does not land on one side only.
    let mut base = EbpfLoader::new().load_file(baselines)?;
    let pass: &mut Xdp = base
        .program_mut("bench_pass")
        .context("bench_pass")?
        .try_into()?;
    pass.load()?;
    let (mut pass_runs, mut ours_runs) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let link = in_netns(&rx, || Ok(pass.attach(&rx_if, XdpMode::Driver)?))?;
        pass_runs.push(measure(generator, &tx, tx_ifindex, &rx, &rx_if)?);
        pass.detach(link)?;
        // The program `sensor run` loads for the veth's 1,500-byte MTU.
        let mut dp = Datapath::load(&LoadOptions {
            multi_buffer: false,
            ..LoadOptions::default()
        })?;
        in_netns(&rx, || Ok(dp.attach(&rx_if, AttachMode::Native)?))?;
        ours_runs.push(measure(generator, &tx, tx_ifindex, &rx, &rx_if)?);
        drop(dp);
    }
    let (pass_pps, ours_pps) = (median(&mut pass_runs), median(&mut ours_runs));
    report.figures.push(Figure::new(
        "veth",
        "packets per second, sensor program attached",
        "pkt/s",
        ours_pps,
        "empty XDP_PASS attached",
        pass_pps,
        Some(Target::AtLeast(0.7)),
        &format!(
            "BPF_PROG_TEST_RUN live frames (XDP_TX, batch 64) send {PACKETS} 64-byte UDP \
             packets of one flow into a veth; the peer's rx_packets over the wall time, \
             native XDP on the peer, same generator for both, median of {ROUNDS} alternations"
        ),
    ));
    Ok(())
}
