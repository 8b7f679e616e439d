//! Decoding the XDP program's ring-buffer events.
//!
//! A record is checked for its kind and its length before it is read; anything else is an
//! error the drain counts and logs, never a panic.

use sensor_common::event::{
    ArpEvent, DhcpEvent, EventHeader, EventKind, FLOW_BATCH_LEN, FlowBatchEvent, FlowEvent,
    PayloadEvent, RuleHitEvent,
};

/// One event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A flow entered the table.
    FlowOpened(FlowEvent),
    /// A flow ended (RST, or FIN both ways).
    FlowEnded(FlowEvent),
    /// First payload bytes of one direction.
    Payload(Box<PayloadEvent>),
    /// An ARP packet.
    Arp(ArpEvent),
    /// A DHCP message.
    Dhcp(Box<DhcpEvent>),
    /// A rule dropped a packet.
    RuleHit(RuleHitEvent),
}

/// Why a record could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than its kind's struct.
    #[error("event record of {len} bytes is too short for kind {kind}")]
    Short {
        /// The kind byte.
        kind: u8,
        /// The record length.
        len: usize,
    },
    /// An unknown kind byte.
    #[error("unknown event kind {0}")]
    Kind(u8),
    /// A batch that claims more events than it can hold.
    #[error("flow batch claims {0} events, more than {FLOW_BATCH_LEN}")]
    BatchCount(u32),
}

fn read<T: Copy>(bytes: &[u8], kind: u8) -> Result<T, DecodeError> {
    if bytes.len() < size_of::<T>() {
        return Err(DecodeError::Short {
            kind,
            len: bytes.len(),
        });
    }
    // SAFETY: the length is checked above; `T` is a `repr(C)` integer-only struct from
    // `sensor-common`, valid for any bit pattern; the read is unaligned-safe.
    Ok(unsafe { bytes.as_ptr().cast::<T>().read_unaligned() })
}

impl Event {
    /// Decodes one ring-buffer record into its events: one, or a batch's flow openings in
    /// the order they happened.
    pub fn decode_all(bytes: &[u8]) -> Result<Vec<Self>, DecodeError> {
        let header: EventHeader = read(bytes, 0)?;
        if header.kind != EventKind::FlowBatch as u8 {
            return Ok(vec![Self::decode(bytes)?]);
        }
        let batch: Box<FlowBatchEvent> = Box::new(read(bytes, header.kind)?);
        let events = batch
            .events
            .get(..batch.count as usize)
            .ok_or(DecodeError::BatchCount(batch.count))?;
        Ok(events.iter().copied().map(Self::FlowOpened).collect())
    }

    /// Decodes a record that holds one event (not a batch).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let header: EventHeader = read(bytes, 0)?;
        let kind = header.kind;
        Ok(
            match EventKind::from_u8(kind).ok_or(DecodeError::Kind(kind))? {
                EventKind::FlowOpened => Self::FlowOpened(read(bytes, kind)?),
                EventKind::FlowEnded => Self::FlowEnded(read(bytes, kind)?),
                EventKind::Payload => Self::Payload(Box::new(read(bytes, kind)?)),
                EventKind::Arp => Self::Arp(read(bytes, kind)?),
                EventKind::Dhcp => Self::Dhcp(Box::new(read(bytes, kind)?)),
                EventKind::RuleHit => Self::RuleHit(read(bytes, kind)?),
                EventKind::FlowBatch => return Err(DecodeError::Kind(kind)),
            },
        )
    }

    /// The event's header.
    pub fn header(&self) -> &EventHeader {
        match self {
            Self::FlowOpened(e) | Self::FlowEnded(e) => &e.header,
            Self::Payload(e) => &e.header,
            Self::Arp(e) => &e.header,
            Self::Dhcp(e) => &e.header,
            Self::RuleHit(e) => &e.header,
        }
    }

    /// The payload bytes of a payload event (bounded by its length field).
    pub fn payload(&self) -> Option<&[u8]> {
        match self {
            Self::Payload(e) => e.data.get(..usize::from(e.len)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use sensor_common::event::{EventHeader, EventKind, FlowEvent};

    use super::{DecodeError, Event};

    #[test]
    fn short_and_unknown_records_are_errors() {
        assert_eq!(
            Event::decode(&[1, 0, 0]),
            Err(DecodeError::Short { kind: 0, len: 3 })
        );
        let mut unknown = [0u8; 16];
        unknown[0] = 99;
        assert_eq!(Event::decode(&unknown), Err(DecodeError::Kind(99)));
        let mut short_flow = [0u8; 20];
        short_flow[0] = EventKind::FlowOpened as u8;
        assert!(matches!(
            Event::decode(&short_flow),
            Err(DecodeError::Short { .. })
        ));
    }

    #[test]
    fn flow_event_round_trips() {
        let event = FlowEvent {
            header: EventHeader {
                kind: EventKind::FlowOpened as u8,
                ts_ns: 42,
                ..EventHeader::default()
            },
            initiator: 1,
            ..FlowEvent::default()
        };
        // SAFETY: a plain repr(C) struct viewed as bytes.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                std::ptr::from_ref(&event).cast::<u8>(),
                size_of::<FlowEvent>(),
            )
        };
        assert_eq!(Event::decode(bytes), Ok(Event::FlowOpened(event)));
    }
}
