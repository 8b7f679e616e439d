//! SMB2/3 requests (MS-SMB2): the shares a client connects to and the files and pipes it
//! opens, read from the first few client messages of a connection (the XDP program sends
//! up to `DEEP_SNIPPETS` payloads towards port 445 and 139). An administrative share
//! (`C$`, `ADMIN$`) or a service pipe (`svcctl`, `atsvc`) on another host is how most
//! lateral movement on Windows networks looks on the wire.
//!
//! Each snippet is a TCP segment's first bytes: a `NetBIOS` session header, an SMB2 header and
//! possibly compounded requests; segments that continue a message are skipped. Every read
//! is bounds-checked: a malformed message yields nothing, never a panic.

use serde::{Deserialize, Serialize};

use super::dcerpc;

/// What the client asked of the server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Smb {
    /// Tree connects: `\\server\share`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trees: Vec<String>,
    /// Files and named pipes opened (create requests), as named.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Whether the client spoke SMB version 1 past its negotiation (a session set up, a
    /// tree connected, a transaction sent). Windows has had it off by default since 2017;
    /// what still speaks it is old kit, or exploits that need it (`EternalBlue` and the
    /// worms and spreaders built on it). A modern client's first, multi-dialect negotiate
    /// is SMB1 and does not count.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub v1: bool,
}

/// The SMB2 header's size.
const HEADER: usize = 64;
/// `SMB_COM_NEGOTIATE`, the one SMB1 command a modern client sends.
const SMB1_NEGOTIATE: u8 = 0x72;
const TREE_CONNECT: u16 = 0x0003;
const CREATE: u16 = 0x0005;
const WRITE: u16 = 0x0009;
const IOCTL: u16 = 0x000b;
/// `FSCTL_PIPE_TRANSCEIVE`: a write and read on a named pipe in one request.
const PIPE_TRANSCEIVE: u32 = 0x0011_c017;
/// Names kept per connection at most.
const MAX_NAMES: usize = 16;
/// Messages read per segment, and compounded requests per message, at most.
const MAX_FRAMES: usize = 8;

impl Smb {
    /// Reads the client's messages; `rpc` gathers the RPC interfaces of the binds written
    /// to pipes. `None` if no snippet held an SMB2 request.
    pub fn parse<'a>(
        snippets: impl IntoIterator<Item = &'a [u8]>,
        rpc: &mut Vec<String>,
    ) -> Option<Self> {
        let mut smb = Self::default();
        let mut seen = false;
        for snippet in snippets {
            // NetBIOS session messages, one after another in the segment: type 0, a 3-byte
            // length, then an SMB2 message.
            let mut frame = 0;
            for _ in 0..MAX_FRAMES {
                if snippet.get(frame) != Some(&0) {
                    break;
                }
                match snippet.get(frame + 4..frame + 8) {
                    Some(b"\xfeSMB") => {}
                    Some(b"\xffSMB") => {
                        seen = true;
                        smb.v1 |= snippet.get(frame + 8).is_some_and(|&c| c != SMB1_NEGOTIATE);
                        break;
                    }
                    _ => break,
                }
                seen = true;
                // Compounded requests: each header says where the next one starts.
                let mut at = frame + 4;
                for _ in 0..MAX_FRAMES {
                    let Some(next) = smb.request(snippet, at, rpc) else {
                        break;
                    };
                    at += next;
                }
                let Some(len) = snippet.get(frame + 1..frame + 4) else {
                    break;
                };
                frame += 4
                    + (usize::from(len[0]) << 16 | usize::from(len[1]) << 8 | usize::from(len[2]));
            }
        }
        seen.then_some(smb)
    }

    /// Reads the request whose header starts at `h`; returns the offset of the next
    /// compounded request, if there is one.
    fn request(&mut self, p: &[u8], h: usize, rpc: &mut Vec<String>) -> Option<usize> {
        if p.get(h..h + 4)? != b"\xfeSMB" || le16(p, h + 4)? != HEADER as u16 {
            return None;
        }
        let body = h + HEADER;
        match le16(p, h + 12)? {
            TREE_CONNECT => {
                let (offset, len) = (le16(p, body + 4)?, le16(p, body + 6)?);
                push(&mut self.trees, utf16(p, h + usize::from(offset), len));
            }
            CREATE => {
                let (offset, len) = (le16(p, body + 44)?, le16(p, body + 46)?);
                let name = utf16(p, h + usize::from(offset), len);
                if let Some(interface) = name.as_deref().and_then(dcerpc::pipe_interface) {
                    push(rpc, Some(interface.to_owned()));
                }
                push(&mut self.files, name);
            }
            WRITE => {
                let offset = usize::from(le16(p, body + 2)?);
                for interface in dcerpc::bound_interfaces(p.get(h + offset..)?) {
                    push(rpc, Some(interface));
                }
            }
            IOCTL if le32(p, body + 4)? == PIPE_TRANSCEIVE => {
                let offset = le32(p, body + 24)? as usize;
                for interface in dcerpc::bound_interfaces(p.get(h + offset..)?) {
                    push(rpc, Some(interface));
                }
            }
            _ => {}
        }
        match le32(p, h + 20)? {
            0 => None,
            next => Some(next as usize),
        }
    }

    /// `SMB1` when the client spoke it past negotiation (a value to match, as patterns do).
    pub fn dialect1(&self) -> Option<&'static str> {
        self.v1.then_some("SMB1")
    }

    /// Whether a tree is an administrative share (a drive's `X$` or `ADMIN$`): files on
    /// another host's system, outside any share its owner made.
    pub fn admin_shares(&self) -> impl Iterator<Item = &str> {
        self.trees.iter().map(String::as_str).filter(|t| {
            let share = t.rsplit('\\').next().unwrap_or_default();
            share.eq_ignore_ascii_case("admin$")
                || (share.len() == 2
                    && share.ends_with('$')
                    && share.starts_with(|c: char| c.is_ascii_alphabetic()))
        })
    }
}

fn push(list: &mut Vec<String>, value: Option<String>) {
    if let Some(value) = value.filter(|v| !v.is_empty())
        && list.len() < MAX_NAMES
        && !list.contains(&value)
    {
        list.push(value);
    }
}

fn le16(p: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(p.get(at..at + 2)?.try_into().ok()?))
}

fn le32(p: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(p.get(at..at + 4)?.try_into().ok()?))
}

/// A UTF-16LE name of `len` bytes at `at`, with control characters dropped.
fn utf16(p: &[u8], at: usize, len: u16) -> Option<String> {
    let bytes = p.get(at..at + usize::from(len))?;
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Some(
        String::from_utf16_lossy(&units)
            .chars()
            .filter(|c| !c.is_control())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::Smb;

    /// A NetBIOS-framed SMB2 request: `command`, then `body` (offsets in it count from the
    /// SMB2 header, which starts 4 bytes in).
    fn request(command: u16, body: &[u8]) -> Vec<u8> {
        let mut h = vec![0xfe, b'S', b'M', b'B', 64, 0];
        h.resize(12, 0);
        h.extend_from_slice(&command.to_le_bytes());
        h.resize(64, 0);
        h.extend_from_slice(body);
        let len = h.len() as u32;
        let mut p = vec![0, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        p.extend(h);
        p
    }

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    fn tree_connect(path: &str) -> Vec<u8> {
        let name = utf16(path);
        let mut body = vec![9, 0, 0, 0];
        body.extend_from_slice(&(64u16 + 8).to_le_bytes());
        body.extend_from_slice(&(name.len() as u16).to_le_bytes());
        body.extend(name);
        request(3, &body)
    }

    fn create(file: &str) -> Vec<u8> {
        let name = utf16(file);
        let mut body = vec![0u8; 56];
        body[0] = 57;
        body[44..46].copy_from_slice(&(64u16 + 56).to_le_bytes());
        body[46..48].copy_from_slice(&(name.len() as u16).to_le_bytes());
        body.extend(name);
        request(5, &body)
    }

    #[test]
    fn shares_files_and_pipes_are_read() {
        let mut rpc = Vec::new();
        let snippets = [
            tree_connect("\\\\admin-pc\\c$"),
            create("temp\\mimikatz.exe"),
            create("svcctl"),
        ];
        let smb = Smb::parse(snippets.iter().map(Vec::as_slice), &mut rpc).unwrap();
        assert_eq!(smb.trees, ["\\\\admin-pc\\c$"]);
        assert_eq!(smb.files, ["temp\\mimikatz.exe", "svcctl"]);
        assert_eq!(rpc, ["svcctl"]);
        assert_eq!(smb.admin_shares().collect::<Vec<_>>(), ["\\\\admin-pc\\c$"]);
    }

    #[test]
    fn smb1_counts_past_the_negotiate_only() {
        let smb1 = |command: u8| {
            let mut m = vec![0, 0, 0, 35, 0xff, b'S', b'M', b'B', command];
            m.resize(39, 0);
            m
        };
        let mut rpc = Vec::new();
        // A modern client's multi-dialect negotiate, then SMB2.
        let modern = [smb1(0x72), tree_connect("\\\\fs\\projects")];
        let smb = Smb::parse(modern.iter().map(Vec::as_slice), &mut rpc).unwrap();
        assert!(!smb.v1);
        assert_eq!(smb.dialect1(), None);
        // Negotiate, session setup, tree connect and an NT transaction, all SMB1.
        let legacy = [smb1(0x72), smb1(0x73), smb1(0x75), smb1(0xa0)];
        let smb = Smb::parse(legacy.iter().map(Vec::as_slice), &mut rpc).unwrap();
        assert_eq!(smb.dialect1(), Some("SMB1"));
    }

    #[test]
    fn messages_sent_in_one_segment_are_all_read() {
        let mut rpc = Vec::new();
        let mut segment = tree_connect("\\\\fs-01\\ADMIN$");
        segment.extend(create("svcctl"));
        let smb = Smb::parse([segment.as_slice()], &mut rpc).unwrap();
        assert_eq!(smb.trees, ["\\\\fs-01\\ADMIN$"]);
        assert_eq!(rpc, ["svcctl"]);
    }

    #[test]
    fn ipc_and_user_shares_are_not_administrative() {
        let mut rpc = Vec::new();
        let snippets = [
            tree_connect("\\\\dc1\\IPC$"),
            tree_connect("\\\\fs\\projects"),
        ];
        let smb = Smb::parse(snippets.iter().map(Vec::as_slice), &mut rpc).unwrap();
        assert_eq!(smb.admin_shares().count(), 0);
    }

    #[test]
    fn malformed_messages_yield_nothing_and_never_panic() {
        let mut rpc = Vec::new();
        let whole = create("svcctl");
        for cut in 0..whole.len() {
            let _ = Smb::parse([&whole[..cut]], &mut rpc);
        }
        let mut lying = tree_connect("\\\\x\\c$");
        lying[4 + 64 + 4] = 0xff; // path offset far past the end
        let smb = Smb::parse([lying.as_slice()], &mut rpc).unwrap();
        assert!(smb.trees.is_empty());
        assert!(Smb::parse([b"GET / HTTP/1.1\r\n".as_slice()], &mut rpc).is_none());
    }
}
