//! The sweeper: turns flows that ended or went idle into connection records, writes them to
//! the store, and then removes them from the kernel table.
//!
//! Records are committed before the flows are removed, and a record's uid is derived from
//! the flow (boot id, key, first packet), so an agent that dies between the two steps writes
//! the same uids again after a restart and the store ignores them: nothing committed is
//! lost and no uid is stored twice.

use std::{collections::HashMap, net::IpAddr, time::Duration};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sensor_common::{FlowKey, FlowStats, flow::tcp_flags};
use sha1::{Digest as _, Sha1};

use super::{
    ConnRecord, LiveFlow,
    observe::{Observations, Payloads},
    protocols::AppInfo,
};
use crate::{
    clock::Clock,
    devices::Inventory,
    ebpf::{FlowTable, MapsError},
    store::{Store, StoreError},
};

/// How long a flow may be idle before it is recorded and removed.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// A TCP flow after RST, or FIN both ways.
    pub tcp_closed: Duration,
    /// Any other TCP flow.
    pub tcp: Duration,
    /// UDP.
    pub udp: Duration,
    /// ICMP and `ICMPv6`.
    pub icmp: Duration,
    /// Other protocols.
    pub other: Duration,
}

impl Default for Timeouts {
    /// Zeek's inactivity timeouts (TCP 5 minutes, UDP and ICMP 1 minute), and 5 seconds
    /// for a TCP flow that has ended.
    fn default() -> Self {
        Self {
            tcp_closed: Duration::from_secs(5),
            tcp: Duration::from_mins(5),
            udp: Duration::from_mins(1),
            icmp: Duration::from_mins(1),
            other: Duration::from_mins(1),
        }
    }
}

impl Timeouts {
    /// The timeout that applies to a flow in its current state.
    pub fn of(&self, key: &FlowKey, stats: &FlowStats) -> Duration {
        match key.proto {
            6 => {
                let flags = stats.tcp_flags;
                let reset = (flags[0] | flags[1]) & tcp_flags::RST != 0;
                let fin_both = flags[0] & flags[1] & tcp_flags::FIN != 0;
                if reset || fin_both {
                    self.tcp_closed
                } else {
                    self.tcp
                }
            }
            17 => self.udp,
            1 | 58 => self.icmp,
            _ => self.other,
        }
    }
}

/// Why a sweep failed.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The flow table could not be read or written.
    #[error(transparent)]
    Maps(#[from] MapsError),
    /// The records could not be stored; the flows stay in the table for the next sweep.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a sweep did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Swept {
    /// Flows in the table when the sweep began.
    pub live: usize,
    /// Flows that were due.
    pub due: usize,
    /// Records newly stored.
    pub stored: usize,
    /// The newly stored records themselves, for detection.
    pub records: Vec<ConnRecord>,
    /// Breaches they raised.
    pub breaches: usize,
    /// Provisional records of connections held open for [`HELD_AFTER`] or longer, made
    /// every [`HELD_EVERY`] when asked: judged by the models of one connection's duration
    /// and rhythm, not stored, not learned from.
    pub held: Vec<ConnRecord>,
}

/// Age from which an open connection is judged before it ends.
pub const HELD_AFTER: Duration = Duration::from_mins(10);
/// How often held connections are judged.
pub const HELD_EVERY: Duration = Duration::from_mins(1);
/// Held connections judged at most per pass (the longest held first).
pub const HELD_MAX: usize = 20_000;

/// Sweeps flows into records.
#[derive(Debug)]
pub struct Sweeper {
    timeouts: Timeouts,
    boot_id: String,
    /// When held connections were last judged, kernel monotonic ns.
    held_ns: std::cell::Cell<u64>,
}

impl Sweeper {
    /// A sweeper with these timeouts; `boot_id` keeps uids unique across reboots (the
    /// kernel clock restarts, and with it the flows' first-seen times).
    pub fn new(timeouts: Timeouts, boot_id: String) -> Self {
        Self {
            timeouts,
            boot_id,
            held_ns: std::cell::Cell::new(0),
        }
    }

    /// Records and removes every flow idle past its timeout at monotonic time `now_ns`;
    /// with `judge_held`, also makes the provisional records of held connections when
    /// they are due for it (see [`Swept::held`]).
    #[expect(
        clippy::too_many_arguments,
        reason = "the pipeline's parts, each borrowed"
    )]
    pub fn sweep(
        &self,
        table: &mut FlowTable,
        store: &mut Store,
        observations: &mut Observations,
        inventory: &Inventory,
        clock: &Clock,
        now_ns: u64,
        judge_held: bool,
    ) -> Result<Swept, SweepError> {
        let entries = table.entries()?;
        let live = entries.len();
        let (due, open): (Vec<(FlowKey, FlowStats)>, Vec<_>) =
            entries.into_iter().partition(|(k, s)| {
                let timeout = self.timeouts.of(k, s).as_nanos() as u64;
                now_ns.saturating_sub(s.last_seen_ns) >= timeout
            });
        let held = if judge_held
            && now_ns.saturating_sub(self.held_ns.get()) >= HELD_EVERY.as_nanos() as u64
        {
            self.held_ns.set(now_ns);
            self.held(&open, store, inventory, clock, now_ns)?
        } else {
            Vec::new()
        };
        if due.is_empty() {
            return Ok(Swept {
                live,
                held,
                ..Swept::default()
            });
        }
        let mut records: Vec<ConnRecord> = due
            .iter()
            .map(|(key, stats)| {
                let flow = LiveFlow::from_kernel(key, stats, clock);
                let mut record = ConnRecord::from_flow(&flow);
                record.uid = self.uid(key, stats.first_seen_ns);
                let Payloads { first, later } = observations.take(key);
                let orig = usize::from(stats.initiator & 1);
                record.app = AppInfo::analyze(
                    &flow.proto,
                    flow.orig_port,
                    flow.resp_port,
                    &first[orig],
                    &first[orig ^ 1],
                    &later[orig],
                );
                record
            })
            .collect();
        for record in &mut records {
            let ts = record.ts.timestamp_nanos_opt().unwrap_or(i64::MAX);
            record.device_id = inventory.device_for(store, record.orig_h, ts)?;
            if let Some(dns) = &record.app.dns {
                for answer in dns.answers.iter().filter_map(|a| a.parse().ok()) {
                    inventory.dns_answer(store, &dns.query, answer, ts)?;
                }
            }
        }
        let new = store.insert_new_connections(&records)?;
        let keys: Vec<FlowKey> = due.iter().map(|(k, _)| *k).collect();
        table.forget(&keys)?;
        let records: Vec<ConnRecord> = records
            .into_iter()
            .zip(new)
            .filter_map(|(r, new)| new.then_some(r))
            .collect();
        Ok(Swept {
            live,
            due: due.len(),
            stored: records.len(),
            records,
            breaches: 0,
            held,
        })
    }

    /// Provisional records of the `open` flows held for [`HELD_AFTER`] or longer at
    /// `now_ns` (at most [`HELD_MAX`], the longest held first), with the uid their final
    /// records will have; their payloads stay kept for those. Devices are only looked up,
    /// once per address: a provisional record creates and touches nothing.
    fn held(
        &self,
        open: &[(FlowKey, FlowStats)],
        store: &mut Store,
        inventory: &Inventory,
        clock: &Clock,
        now_ns: u64,
    ) -> Result<Vec<ConnRecord>, SweepError> {
        let age = HELD_AFTER.as_nanos() as u64;
        let mut held: Vec<&(FlowKey, FlowStats)> = open
            .iter()
            .filter(|(_, s)| s.first_seen_ns != 0 && now_ns.saturating_sub(s.first_seen_ns) >= age)
            .collect();
        held.sort_by_key(|(_, s)| s.first_seen_ns);
        let mut devices: HashMap<IpAddr, Option<i64>> = HashMap::new();
        let mut out = Vec::with_capacity(held.len().min(HELD_MAX));
        for (key, stats) in held.into_iter().take(HELD_MAX) {
            let mut record = ConnRecord::from_flow(&LiveFlow::from_kernel(key, stats, clock));
            record.uid = self.uid(key, stats.first_seen_ns);
            let ts = record.ts.timestamp_nanos_opt().unwrap_or(i64::MAX);
            let ip = record.orig_h;
            record.device_id = if let Some(device) = devices.get(&ip) {
                *device
            } else {
                let device = if inventory.is_internal(ip) {
                    store.device_at(ip, ts)?
                } else {
                    None
                };
                devices.insert(ip, device);
                device
            };
            out.push(record);
        }
        Ok(out)
    }

    /// `C` and 17 base64url characters of SHA-1(boot id, flow key, first packet time).
    pub fn uid(&self, key: &FlowKey, first_seen_ns: u64) -> String {
        let mut h = Sha1::new();
        h.update(self.boot_id.as_bytes());
        h.update(key.addr_lo);
        h.update(key.addr_hi);
        h.update(key.port_lo.to_be_bytes());
        h.update(key.port_hi.to_be_bytes());
        h.update(key.vlan[0].to_be_bytes());
        h.update(key.vlan[1].to_be_bytes());
        h.update([key.proto]);
        h.update(first_seen_ns.to_be_bytes());
        let digest = URL_SAFE_NO_PAD.encode(h.finalize());
        format!("C{}", &digest[..17])
    }
}

/// This boot's id, from `/proc/sys/kernel/random/boot_id` (empty if unreadable).
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use sensor_common::{FlowKey, FlowStats};

    use super::{Sweeper, Timeouts};

    #[test]
    fn closed_tcp_times_out_sooner_and_uids_are_stable() {
        let t = Timeouts::default();
        let (key, _) = FlowKey::canonical([1; 16], 1, [2; 16], 2, 6, [0, 0]);
        let mut stats = FlowStats::default();
        assert_eq!(t.of(&key, &stats), t.tcp);
        stats.tcp_flags = [0x11, 0x11];
        assert_eq!(t.of(&key, &stats), t.tcp_closed);
        let s = Sweeper::new(t, "boot".to_owned());
        assert_eq!(s.uid(&key, 5), s.uid(&key, 5));
        assert_ne!(s.uid(&key, 5), s.uid(&key, 6));
        assert_eq!(s.uid(&key, 5).len(), 18);
    }
}
