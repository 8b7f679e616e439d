//! What the ring buffer says about flows that are still open: their first payloads, kept
//! until the sweeper writes the flow's record.
//!
//! Bounded: past [`MAX_FLOWS`] flows, new payloads are counted and dropped rather than grow
//! memory without limit (a flood of new flows must not exhaust the agent), and the later
//! snippets of all flows together (up to `DEEP_SNIPPETS` a direction, towards SMB, FTP, SMTP
//! and IRC) hold at most [`MAX_LATER_BYTES`]: past it, the first payloads are still kept.

use std::collections::HashMap;

use sensor_common::{FlowKey, event::PayloadEvent, flow::DEEP_SNIPPETS};

/// Flows whose payloads are kept at most.
pub const MAX_FLOWS: usize = 262_144;
/// Bytes of later snippets kept at most, over all flows.
pub const MAX_LATER_BYTES: usize = 64 << 20;

/// The first payload of each direction (index = `Direction`), and the snippets after it
/// (towards SMB the program sends a few).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Payloads {
    /// The first payload of each direction.
    pub first: [Vec<u8>; 2],
    /// Later snippets of each direction, in order.
    pub later: [Vec<Vec<u8>>; 2],
}

/// Payloads by flow.
#[derive(Debug, Default)]
pub struct Observations {
    flows: HashMap<FlowKey, Payloads>,
    /// Bytes held in later snippets.
    later_bytes: usize,
    /// Payload events dropped because the table or the later-snippet budget was full.
    pub dropped: u64,
}

impl Observations {
    /// Keeps a payload event's bytes under its flow and direction.
    pub fn payload(&mut self, event: &PayloadEvent) {
        if self.flows.len() >= MAX_FLOWS && !self.flows.contains_key(&event.key) {
            self.dropped += 1;
            return;
        }
        let len = usize::from(event.len).min(event.data.len());
        let dir = usize::from(event.direction & 1);
        let entry = self.flows.entry(event.key).or_default();
        let bytes = event.data[..len].to_vec();
        if entry.first[dir].is_empty() {
            entry.first[dir] = bytes;
        } else if entry.later[dir].len() + 1 < usize::from(DEEP_SNIPPETS) {
            if self.later_bytes + bytes.len() > MAX_LATER_BYTES {
                self.dropped += 1;
                return;
            }
            self.later_bytes += bytes.len();
            entry.later[dir].push(bytes);
        }
    }

    /// Takes what is kept for a flow (its record is being written).
    pub fn take(&mut self, key: &FlowKey) -> Payloads {
        let payloads = self.flows.remove(key).unwrap_or_default();
        let held: usize = payloads.later.iter().flatten().map(Vec::len).sum();
        self.later_bytes -= held;
        payloads
    }

    /// Flows with kept payloads.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use sensor_common::{
        FlowKey,
        event::{EventHeader, PAYLOAD_SNIPPET_LEN, PayloadEvent},
    };

    use super::{MAX_LATER_BYTES, Observations};

    fn event(port: u16) -> PayloadEvent {
        PayloadEvent {
            header: EventHeader::default(),
            key: FlowKey {
                port_lo: port,
                ..FlowKey::default()
            },
            direction: 0,
            _pad: 0,
            len: PAYLOAD_SNIPPET_LEN as u16,
            data: [b'x'; PAYLOAD_SNIPPET_LEN],
        }
    }

    /// Later snippets stop at the byte budget (counted), first payloads do not, and a
    /// flow's record taking its snippets gives their room back.
    #[test]
    fn later_snippets_are_held_within_the_budget() {
        let mut obs = Observations::default();
        let flows = MAX_LATER_BYTES / PAYLOAD_SNIPPET_LEN / 8 + 1;
        for port in 0..flows {
            for _ in 0..9 {
                obs.payload(&event(port as u16));
            }
        }
        assert_eq!(obs.later_bytes, MAX_LATER_BYTES);
        assert_eq!(obs.dropped, 8);
        let last = event(flows as u16 - 1);
        let held = obs.take(&last.key);
        assert_eq!(held.first[0].len(), PAYLOAD_SNIPPET_LEN);
        assert!(held.later[0].is_empty());
        let full = obs.take(&event(0).key);
        assert_eq!(full.later[0].len(), 8);
        assert_eq!(obs.later_bytes, MAX_LATER_BYTES - 8 * PAYLOAD_SNIPPET_LEN);
        obs.payload(&event(0));
        obs.payload(&event(0));
        assert_eq!(obs.later_bytes, MAX_LATER_BYTES - 7 * PAYLOAD_SNIPPET_LEN);
    }
}
