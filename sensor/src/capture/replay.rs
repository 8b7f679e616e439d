//! `sensor replay`: the live pipeline, offline. Every frame of a capture goes through the
//! real XDP program with `BPF_PROG_TEST_RUN` (no second parser), stamped with its capture
//! time (`Config::fixed_now_ns`), and the same ring-buffer drain and sweeper turn the flows
//! into connection records on the capture's clock: a beacon every 60 s in the capture is a
//! beacon every 60 s in the records, however fast the replay runs.

use std::path::PathBuf;

use sensor_common::Config;

use super::{
    observe::Observations,
    pcap::{Capture, PcapError},
    pipeline::Pipeline,
    sweep::{SweepError, Sweeper, Timeouts},
};
use crate::{
    clock::Clock,
    detect::Engine,
    devices::Inventory,
    ebpf::{Datapath, LoadOptions, LoaderError},
    store::Store,
};

/// Largest frame replayed whole. The program is frags-aware, so `BPF_PROG_TEST_RUN` takes
/// a frame of up to 17 pages; an IP packet is at most 64 KiB, plus link headers. Longer
/// frames (none a real link carries) are cut to this and counted.
pub const MAX_FRAME: usize = 65_535 + 64;
/// Capture time between sweeps.
const SWEEP_EVERY_NS: u64 = 1_000_000_000;

/// What a replay did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReplayStats {
    /// Frames run through the program.
    pub frames: u64,
    /// Frames skipped for their link type (not Ethernet).
    pub not_ethernet: u64,
    /// Frames longer than [`MAX_FRAME`], cut (their byte counts are short).
    pub cut: u64,
    /// Connection records stored.
    pub records: usize,
    /// Breaches raised.
    pub breaches: usize,
}

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The program could not be loaded or run.
    #[error(transparent)]
    Loader(#[from] LoaderError),
    /// A capture could not be read.
    #[error(transparent)]
    Pcap(#[from] PcapError),
    /// A sweep failed.
    #[error(transparent)]
    Sweep(#[from] SweepError),
}

/// How far a replay is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Frames run so far.
    pub frames: u64,
    /// Bytes of the capture files read so far, out of the sum of their sizes.
    pub bytes: u64,
}

/// Replays `paths` in order into `store`. `progress` is called every few hundred frames.
pub fn replay(
    paths: &[PathBuf],
    store: &mut Store,
    timeouts: Timeouts,
    inventory: Inventory,
    engine: Option<Engine>,
    mut progress: impl FnMut(Progress),
) -> Result<ReplayStats, ReplayError> {
    let mut dp = Datapath::load(&LoadOptions::default())?;
    let mut ring = dp.events()?;
    let mut pipeline = Pipeline {
        observations: Observations::default(),
        inventory,
        sweeper: Sweeper::new(timeouts, "replay".to_owned()),
        table: dp.flow_table()?,
        // Capture times are epoch ns, so records and devices need no offset.
        clock: Clock::from_offset(0),
        engine,
        wake: std::sync::Arc::default(),
        watcher: None,
    };
    let mut config = Config {
        new_flows_per_sec: 0,
        ..Config::new()
    };
    let mut stats = ReplayStats::default();
    let mut last_sweep = 0u64;
    let mut files_done = 0u64;
    for path in paths {
        let mut capture = Capture::open(path)?;
        while let Some(frame) = capture.next_frame() {
            let mut frame = frame?;
            if !frame.ethernet {
                stats.not_ethernet += 1;
                continue;
            }
            if frame.data.len() > MAX_FRAME {
                frame.data.truncate(MAX_FRAME);
                stats.cut += 1;
            }
            // 0 means "the kernel's clock" to the program; a capture at the epoch is not.
            config.fixed_now_ns = frame.ts_ns.max(1);
            dp.configure(&config)?;
            dp.test_run(&frame.data)?;
            stats.frames += 1;
            if stats.frames % 256 == 0 {
                pipeline.drain(&mut ring, store);
                progress(Progress {
                    frames: stats.frames,
                    bytes: files_done + capture.bytes_read(),
                });
            }
            if frame.ts_ns.saturating_sub(last_sweep) >= SWEEP_EVERY_NS {
                pipeline.drain(&mut ring, store);
                let swept = pipeline.sweep(store, frame.ts_ns)?;
                stats.records += swept.stored;
                stats.breaches += swept.breaches;
                last_sweep = frame.ts_ns;
            }
        }
        files_done += capture.bytes_read();
    }
    pipeline.drain(&mut ring, store);
    // The capture is over: every flow still open ends now.
    let swept = pipeline.sweep(store, u64::MAX)?;
    stats.records += swept.stored;
    stats.breaches += swept.breaches;
    if let Some(engine) = &mut pipeline.engine
        && let Err(err) = engine.save(store)
    {
        tracing::warn!(error = %err, "failed to save the baselines");
    }
    progress(Progress {
        frames: stats.frames,
        bytes: files_done,
    });
    Ok(stats)
}
