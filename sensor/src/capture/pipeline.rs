//! The capture pipeline after the kernel, shared by `sensor run` and `sensor replay`: drain
//! the ring buffer (payloads kept for records, ARP and DHCP into the inventory), and sweep
//! ended and idle flows into records that name their device.

use aya::maps::{MapData, RingBuf};
use tracing::{debug, warn};

use super::{
    event::Event,
    observe::Observations,
    sweep::{SweepError, Sweeper, Swept},
};
use crate::{clock::Clock, devices::Inventory, ebpf::FlowTable, store::Store};

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
}

impl Pipeline {
    /// Reads every pending event of the ring.
    pub fn drain(&mut self, ring: &mut RingBuf<MapData>, store: &mut Store) {
        while let Some(record) = ring.next() {
            let event = match Event::decode(&record) {
                Ok(event) => event,
                Err(err) => {
                    warn!(error = %err, "undecodable event record");
                    continue;
                }
            };
            let ts = self.utc_ns(event.header().ts_ns);
            let stored = match &event {
                Event::Payload(payload) => {
                    self.observations.payload(payload);
                    Ok(())
                }
                Event::Arp(arp) => self.inventory.arp(store, arp, ts),
                Event::Dhcp(dhcp) => self.inventory.dhcp(store, dhcp, ts),
                other => {
                    debug!(event = ?other, "event");
                    Ok(())
                }
            };
            if let Err(err) = stored {
                warn!(error = %err, "failed to record a device observation");
            }
        }
    }

    /// Records and removes the flows due at kernel time `now_ns`.
    pub fn sweep(&mut self, store: &mut Store, now_ns: u64) -> Result<Swept, SweepError> {
        self.sweeper.sweep(
            &mut self.table,
            store,
            &mut self.observations,
            &self.inventory,
            &self.clock,
            now_ns,
        )
    }

    fn utc_ns(&self, kernel_ns: u64) -> i64 {
        self.clock
            .to_utc(kernel_ns)
            .timestamp_nanos_opt()
            .unwrap_or(i64::MAX)
    }
}
