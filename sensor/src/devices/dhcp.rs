//! DHCP messages as the XDP program hands them over (up to 512 bytes from the BOOTP `op`
//! field): the client's hardware address, the address it asks for or is given, its host
//! name, and the message type. Read by hand, every access bounds-checked; anything odd
//! gives `None` (or leaves a field empty), never a panic.

use std::net::Ipv4Addr;

/// DHCP message types (option 53).
pub mod msg {
    /// DHCPDISCOVER.
    pub const DISCOVER: u8 = 1;
    /// DHCPREQUEST.
    pub const REQUEST: u8 = 3;
    /// DHCPACK.
    pub const ACK: u8 = 5;
}

/// What a DHCP message says about a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dhcp {
    /// The client hardware address (`chaddr`).
    pub client_mac: [u8; 6],
    /// Option 53.
    pub msg_type: Option<u8>,
    /// The client's current address (`ciaddr`).
    pub ciaddr: Ipv4Addr,
    /// The address the server gives (`yiaddr`, in offers and acks).
    pub yiaddr: Ipv4Addr,
    /// Option 50, the address a client asks for.
    pub requested: Option<Ipv4Addr>,
    /// Option 12, the client's host name.
    pub hostname: Option<String>,
}

const MAGIC: [u8; 4] = [99, 130, 83, 99];
const FIXED_LEN: usize = 236;

fn ipv4(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let o: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(o))
}

impl Dhcp {
    /// Parses a BOOTP/DHCP message.
    pub fn parse(msg: &[u8]) -> Option<Self> {
        // op 1 or 2, htype Ethernet, hlen 6.
        if !matches!(msg.first()?, 1 | 2) || *msg.get(1)? != 1 || *msg.get(2)? != 6 {
            return None;
        }
        let mut dhcp = Self {
            client_mac: msg.get(28..34)?.try_into().ok()?,
            msg_type: None,
            ciaddr: ipv4(msg, 12)?,
            yiaddr: ipv4(msg, 16)?,
            requested: None,
            hostname: None,
        };
        if msg.get(FIXED_LEN..FIXED_LEN + 4)? != MAGIC {
            return Some(dhcp);
        }
        let mut at = FIXED_LEN + 4;
        while let Some(&code) = msg.get(at) {
            match code {
                0 => {
                    at += 1;
                    continue;
                }
                255 => break,
                _ => {}
            }
            // A snippet may end inside the options: stop at the first incomplete one.
            let Some(&len) = msg.get(at + 1) else { break };
            let Some(value) = msg.get(at + 2..at + 2 + usize::from(len)) else {
                break;
            };
            match (code, value) {
                (53, [t]) => dhcp.msg_type = Some(*t),
                (50, &[a, b, c, d]) => dhcp.requested = Some(Ipv4Addr::new(a, b, c, d)),
                (12, name) => {
                    let name = String::from_utf8_lossy(name);
                    let name = name.trim_end_matches('\0').trim();
                    if !name.is_empty() {
                        dhcp.hostname = Some(name.to_owned());
                    }
                }
                _ => {}
            }
            at += 2 + usize::from(len);
        }
        Some(dhcp)
    }

    /// The address this message binds to the client, if it binds one: the server's ack,
    /// or what the client says it has or asks for.
    pub fn bound_address(&self) -> Option<Ipv4Addr> {
        let set = |a: Ipv4Addr| (!a.is_unspecified()).then_some(a);
        match self.msg_type {
            Some(msg::ACK) => set(self.yiaddr),
            Some(msg::REQUEST) => self.requested.or_else(|| set(self.ciaddr)),
            _ => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::Ipv4Addr;

    use super::{Dhcp, msg};

    /// A DHCP message from `mac` of `msg_type`, with `yiaddr` and options.
    pub(crate) fn message(mac: [u8; 6], msg_type: u8, yiaddr: [u8; 4], options: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; 236];
        m[0] = if msg_type == msg::ACK { 2 } else { 1 };
        m[1] = 1;
        m[2] = 6;
        m[16..20].copy_from_slice(&yiaddr);
        m[28..34].copy_from_slice(&mac);
        m.extend_from_slice(&[99, 130, 83, 99, 53, 1, msg_type]);
        m.extend_from_slice(options);
        m.push(255);
        m
    }

    #[test]
    fn request_with_hostname_and_ack() {
        let mac = [2, 0, 0, 0, 0, 9];
        let req = message(
            mac,
            msg::REQUEST,
            [0; 4],
            &[50, 4, 10, 77, 1, 50, 12, 5, b'w', b's', b'-', b'0', b'2'],
        );
        let d = Dhcp::parse(&req).unwrap();
        assert_eq!(d.client_mac, mac);
        assert_eq!(d.hostname.as_deref(), Some("ws-02"));
        assert_eq!(d.bound_address(), Some(Ipv4Addr::new(10, 77, 1, 50)));
        let ack = Dhcp::parse(&message(mac, msg::ACK, [10, 77, 1, 50], &[])).unwrap();
        assert_eq!(ack.bound_address(), Some(Ipv4Addr::new(10, 77, 1, 50)));
        let discover = Dhcp::parse(&message(mac, msg::DISCOVER, [0; 4], &[])).unwrap();
        assert_eq!(discover.bound_address(), None);
    }

    #[test]
    fn cut_and_random_input() {
        let mac = [2, 0, 0, 0, 0, 9];
        let req = message(mac, msg::REQUEST, [0; 4], &[12, 40, b'x']);
        assert_eq!(
            Dhcp::parse(&req).unwrap().hostname,
            None,
            "option cut short"
        );
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..20_000 {
            let len = rng.usize(..600);
            let mut b: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            if len > 240 && rng.bool() {
                b[0] = 1;
                b[1] = 1;
                b[2] = 6;
                b[236..240].copy_from_slice(&[99, 130, 83, 99]);
            }
            let _ = Dhcp::parse(&b);
        }
    }
}
