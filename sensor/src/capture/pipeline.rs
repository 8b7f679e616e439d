//! The capture pipeline after the kernel, shared by `sensor run` and `sensor replay`: drain
//! the ring buffer (payloads kept for records, ARP and DHCP into the inventory), and sweep
//! ended and idle flows into records that name their device.

use aya::maps::{MapData, RingBuf};
use tracing::{debug, info, warn};

use super::{
    event::Event,
    observe::Observations,
    sweep::{SweepError, Sweeper, Swept},
};
use crate::{clock::Clock, detect::Engine, devices::Inventory, ebpf::FlowTable, store::Store};

/// Everything between the ring buffer and the store.
pub struct Pipeline {
    /// First payloads of open flows.
    pub observations: Observations,
    /// The device inventory.
    pub inventory: Inventory,
    /// Turns flows into records.
    pub sweeper: Sweeper,
    /// The kernel flow table (the agent's own handles).
    pub table: FlowTable,
    /// Kernel time to UTC.
    pub clock: Clock,
    /// Detection, if models run.
    pub engine: Option<Engine>,
    /// Woken when breaches are stored, so fusion and the response policies act at once.
    pub wake: std::sync::Arc<tokio::sync::Notify>,
    /// Egress and pattern-of-life actions, which judge connections as they open (the agent;
    /// none in a replay).
    pub watcher: Option<crate::response::watch::Watcher>,
}

impl Pipeline {
    /// Reads every pending event of the ring.
    pub fn drain(&mut self, ring: &mut RingBuf<MapData>, store: &mut Store) {
        while let Some(record) = ring.next() {
            match Event::decode_all(&record) {
                Ok(events) => {
                    for event in events {
                        self.handle(store, &event);
                    }
                }
                Err(err) => warn!(error = %err, "undecodable event record"),
            }
        }
    }

    /// Takes one event in.
    fn handle(&mut self, store: &mut Store, event: &Event) {
        let ts = self.utc_ns(event.header().ts_ns);
        let stored = match event {
            Event::Payload(payload) => {
                self.observations.payload(payload);
                Ok(())
            }
            Event::Arp(arp) => {
                let bound = self.inventory.arp(store, arp, ts);
                self.judge_arp(store, arp, ts);
                bound
            }
            Event::Dhcp(dhcp) => self.inventory.dhcp(store, dhcp, ts),
            Event::FlowOpened(opened) => {
                self.judge_opened(opened, ts);
                Ok(())
            }
            other => {
                debug!(event = ?other, "event");
                Ok(())
            }
        };
        if let Err(err) = stored {
            warn!(error = %err, "failed to record a device observation");
        }
    }

    /// Records and removes the flows due at kernel time `now_ns`, and judges the new
    /// records and, once a minute, the connections held open for ten minutes or more
    /// (breaches are stored; a failure to store them is logged, not fatal).
    pub fn sweep(&mut self, store: &mut Store, now_ns: u64) -> Result<Swept, SweepError> {
        let mut swept = self.sweeper.sweep(
            &mut self.table,
            store,
            &mut self.observations,
            &self.inventory,
            &self.clock,
            now_ns,
            self.engine.is_some(),
        )?;
        if let Some(engine) = self.engine.as_mut() {
            swept.breaches = record_breaches(store, engine.observe(&swept.records));
            // Connections held open are judged on their duration and rhythm so far; their
            // final records, when they end, are throttled on the same keys.
            swept.breaches += record_breaches(store, engine.observe_open(&swept.held));
            if swept.breaches > 0 {
                self.wake.notify_one();
            }
        }
        Ok(swept)
    }

    /// A new connection meets the egress and pattern-of-life actions in force.
    fn judge_opened(&self, opened: &sensor_common::event::FlowEvent, ts_ns: i64) {
        let Some(watcher) = &self.watcher else {
            return;
        };
        let k = &opened.key;
        let end = |addr, port| crate::ebpf::Endpoint {
            addr: crate::capture::live_flow::addr(addr),
            port,
            proto: k.proto,
        };
        let (lo, hi) = (end(k.addr_lo, k.port_lo), end(k.addr_hi, k.port_hi));
        let (from, to) = if opened.initiator == sensor_common::Direction::HiToLo as u8 {
            (hi, lo)
        } else {
            (lo, hi)
        };
        watcher.judge(from, to, |device, peer, port, proto, inside| {
            self.engine
                .as_ref()
                .is_none_or(|e| e.usual(device, peer, port, proto, inside, ts_ns))
        });
    }

    /// ARP requests go to detection as pseudo-records (an ARP sweep is a ping sweep).
    fn judge_arp(&mut self, store: &mut Store, arp: &sensor_common::event::ArpEvent, ts_ns: i64) {
        let Some(engine) = self.engine.as_mut() else {
            return;
        };
        let sender = std::net::IpAddr::from(arp.sender_ip);
        if arp.op != 1 || sender.is_unspecified() {
            return;
        }
        let device = store.device_at(sender, ts_ns).ok().flatten();
        let record = crate::detect::engine::arp_record(
            chrono::DateTime::from_timestamp_nanos(ts_ns),
            sender,
            std::net::IpAddr::from(arp.target_ip),
            device,
        );
        if record_breaches(store, engine.observe(std::slice::from_ref(&record))) > 0 {
            self.wake.notify_one();
        }
    }

    fn utc_ns(&self, kernel_ns: u64) -> i64 {
        self.clock
            .to_utc(kernel_ns)
            .timestamp_nanos_opt()
            .unwrap_or(i64::MAX)
    }
}

/// Logs and stores breaches (a failure to store is logged, not fatal); returns how many.
fn record_breaches(store: &mut Store, mut breaches: Vec<crate::detect::Breach>) -> usize {
    for b in &breaches {
        info!(
            model = %b.model,
            score = b.score,
            device = ?b.device_id,
            "breach: {}",
            b.evidence.summary
        );
    }
    if !breaches.is_empty()
        && let Err(err) = store.insert_breaches(&mut breaches)
    {
        warn!(error = %err, breaches = breaches.len(), "failed to store breaches");
    }
    breaches.len()
}
