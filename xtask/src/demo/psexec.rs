//! `PsExec`'s opening moves on the wire, for the demo's lateral movement: SMB2 requests that
//! connect to the target's `ADMIN$` share, open the service manager's pipe (`svcctl`) and
//! write the DCE-RPC bind to it (MS-SMB2, MS-RPCE). Sent by `nc` to a sink on the target:
//! the sensor reads what the client asked for, whatever the server answers.

/// The SMB2 header's size.
const HEADER: u16 = 64;

/// The three requests, each in its `NetBIOS` session message, for the host `server`.
pub fn opening(server: &str) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(tree_connect(&format!("\\\\{server}\\ADMIN$")));
    out.extend(create("svcctl"));
    out.extend(write(&svcctl_bind()));
    out
}

/// A `NetBIOS` session message holding an SMB2 request: `command`, then `body`.
fn message(command: u16, body: &[u8]) -> Vec<u8> {
    let mut smb = b"\xfeSMB".to_vec();
    smb.extend(HEADER.to_le_bytes());
    smb.resize(12, 0);
    smb.extend(command.to_le_bytes());
    smb.resize(usize::from(HEADER), 0);
    smb.extend(body);
    let len = u32::try_from(smb.len()).unwrap_or(u32::MAX).to_be_bytes();
    let mut out = vec![0, len[1], len[2], len[3]];
    out.extend(smb);
    out
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn u16_len(bytes: &[u8]) -> [u8; 2] {
    u16::try_from(bytes.len()).unwrap_or(u16::MAX).to_le_bytes()
}

/// `TREE_CONNECT`: structure size 9, the path right after the 8-byte body.
fn tree_connect(path: &str) -> Vec<u8> {
    let name = utf16(path);
    let mut body = vec![9, 0, 0, 0];
    body.extend((HEADER + 8).to_le_bytes());
    body.extend(u16_len(&name));
    body.extend(name);
    message(0x0003, &body)
}

/// `CREATE`: structure size 57, the name right after the 56-byte body.
fn create(file: &str) -> Vec<u8> {
    let name = utf16(file);
    let mut body = vec![0u8; 56];
    body[0] = 57;
    body[44..46].copy_from_slice(&(HEADER + 56).to_le_bytes());
    body[46..48].copy_from_slice(&u16_len(&name));
    body.extend(name);
    message(0x0005, &body)
}

/// `WRITE`: structure size 49, the data right after the 48-byte body.
fn write(data: &[u8]) -> Vec<u8> {
    let mut body = vec![0u8; 48];
    body[0] = 49;
    body[2..4].copy_from_slice(&(HEADER + 48).to_le_bytes());
    body[4..8].copy_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_le_bytes());
    body.extend(data);
    message(0x0009, &body)
}

/// A DCE-RPC bind to svcctl (367abb81-9844-35f1-ad32-98f038001003 v2.0) with NDR.
fn svcctl_bind() -> Vec<u8> {
    let mut p = vec![5, 0, 11, 3, 0x10, 0, 0, 0, 72, 0, 0, 0, 2, 0, 0, 0];
    p.extend([0xb8, 0x10, 0xb8, 0x10, 0, 0, 0, 0, 1, 0, 0, 0]);
    p.extend([0, 0, 1, 0]);
    p.extend([
        0x81, 0xbb, 0x7a, 0x36, 0x44, 0x98, 0xf1, 0x35, 0xad, 0x32, 0x98, 0xf0, 0x38, 0x00, 0x10,
        0x03, 2, 0, 0, 0,
    ]);
    p.extend([
        0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48,
        0x60, 2, 0, 0, 0,
    ]);
    p
}
