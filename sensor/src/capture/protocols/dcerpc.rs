//! DCE-RPC (MS-RPCE) binds: which RPC interfaces a client asks for, by the UUIDs of a bind or
//! alter-context PDU. The interface says what an operator means to do on another host far
//! better than the port does: `svcctl` creates services (`PsExec`), `atsvc` and the task
//! scheduler run jobs, `drsuapi` replicates a domain's secrets (`DCSync`), `samr` lists users.
//!
//! A bind travels on its own TCP connection (to 135 or the port the endpoint mapper named)
//! or inside an SMB write to a named pipe; the caller hands over the bytes either way.

/// Known interfaces: UUID (as written in the specifications) and a short name.
const INTERFACES: [(&str, &str); 14] = [
    ("367abb81-9844-35f1-ad32-98f038001003", "svcctl"),
    ("1ff70682-0a51-30e8-076d-740be8cee98b", "atsvc"),
    (
        "86d35949-83c9-4044-b424-db363231fd0c",
        "itaskschedulerservice",
    ),
    ("378e52b0-c0a9-11cf-822d-00aa0051e40f", "sasec"),
    ("e3514235-4b06-11d1-ab04-00c04fc2dcd2", "drsuapi"),
    ("12345778-1234-abcd-ef00-0123456789ac", "samr"),
    ("12345778-1234-abcd-ef00-0123456789ab", "lsarpc"),
    ("338cd001-2244-31f1-aaaa-900038001003", "winreg"),
    ("4b324fc8-1670-01d3-1278-5a47bf6ee188", "srvsvc"),
    ("6bffd098-a112-3610-9833-46c3f87e345a", "wkssvc"),
    ("12345678-1234-abcd-ef00-01234567cffb", "netlogon"),
    ("e1af8308-5d1f-11c9-91a4-08002b14a0fa", "epmapper"),
    ("000001a0-0000-0000-c000-000000000046", "isystemactivator"),
    ("f309ad18-d86a-11d0-a075-00c04fb68820", "iwbemlevel1login"),
];

/// Named pipes that are an RPC interface's well-known endpoint, named as the interface.
const PIPES: [&str; 10] = [
    "svcctl", "atsvc", "samr", "lsarpc", "winreg", "srvsvc", "wkssvc", "netlogon", "epmapper",
    "drsuapi",
];

/// PDU types that carry presentation contexts.
const BIND: u8 = 11;
const ALTER_CONTEXT: u8 = 14;

/// The interfaces a bind or alter-context PDU at the start of `pdu` asks for: known ones by
/// name, others as their UUID. Empty if `pdu` is not such a PDU (or not little-endian).
pub fn bound_interfaces(pdu: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let (Some(&[5, 0, ptype]), Some(&drep)) = (pdu.get(..3), pdu.get(4)) else {
        return out;
    };
    // Only little-endian integers (every Windows host sends these).
    if !matches!(ptype, BIND | ALTER_CONTEXT) || drep & 0xf0 != 0x10 {
        return out;
    }
    let Some(&contexts) = pdu.get(24) else {
        return out;
    };
    let mut at = 28;
    for _ in 0..contexts {
        let (Some(&transfers), Some(uuid)) = (pdu.get(at + 2), pdu.get(at + 4..at + 20)) else {
            break;
        };
        let name = uuid_string(uuid);
        let name = INTERFACES
            .iter()
            .find(|(u, _)| *u == name)
            .map_or(name, |(_, n)| (*n).to_owned());
        if !out.contains(&name) {
            out.push(name);
        }
        at += 24 + 20 * usize::from(transfers);
    }
    out
}

/// The interface a named pipe is the endpoint of (`\PIPE\svcctl`, `svcctl`).
pub fn pipe_interface(name: &str) -> Option<&'static str> {
    let base = name.rsplit(['\\', '/']).next()?.to_ascii_lowercase();
    PIPES.iter().find(|p| **p == base).copied()
}

/// A UUID in its textual form, from its DCE wire form (first three fields little-endian).
fn uuid_string(b: &[u8]) -> String {
    use std::fmt::Write as _;
    let le16 = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let mut out = format!(
        "{:08x}-{:04x}-{:04x}-",
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        le16(4),
        le16(6)
    );
    for (i, x) in b[8..16].iter().enumerate() {
        if i == 2 {
            out.push('-');
        }
        let _ = write!(out, "{x:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{bound_interfaces, pipe_interface};

    /// A bind for svcctl with one transfer syntax (NDR), as `PsExec` sends it.
    fn svcctl_bind() -> Vec<u8> {
        let mut p = vec![5, 0, 11, 3, 0x10, 0, 0, 0, 72, 0, 0, 0, 2, 0, 0, 0];
        p.extend_from_slice(&[0xd0, 0x16, 0xd0, 0x16, 0, 0, 0, 0]);
        p.extend_from_slice(&[1, 0, 0, 0]);
        p.extend_from_slice(&[0, 0, 1, 0]);
        p.extend_from_slice(&[
            0x81, 0xbb, 0x7a, 0x36, 0x44, 0x98, 0xf1, 0x35, 0xad, 0x32, 0x98, 0xf0, 0x38, 0x00,
            0x10, 0x03,
        ]);
        p.extend_from_slice(&[2, 0, 0, 0]);
        p.extend_from_slice(&[0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11]);
        p.extend_from_slice(&[0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60, 2, 0, 0, 0]);
        p
    }

    #[test]
    fn a_bind_names_its_interface() {
        assert_eq!(bound_interfaces(&svcctl_bind()), vec!["svcctl".to_owned()]);
    }

    #[test]
    fn truncated_or_other_pdus_name_nothing() {
        let bind = svcctl_bind();
        // Until the interface's UUID is whole (it ends 48 bytes in).
        for cut in 0..48 {
            assert!(bound_interfaces(&bind[..cut]).is_empty(), "cut at {cut}");
        }
        let mut request = bind.clone();
        request[2] = 0;
        assert!(bound_interfaces(&request).is_empty());
        assert!(bound_interfaces(b"GET / HTTP/1.1\r\n").is_empty());
    }

    #[test]
    fn pipes_name_their_interface() {
        assert_eq!(pipe_interface("atsvc"), Some("atsvc"));
        assert_eq!(pipe_interface("\\PIPE\\SVCCTL"), Some("svcctl"));
        assert_eq!(pipe_interface("temp\\mimikatz.exe"), None);
    }
}
