//! Which service a flow speaks, from magic bytes first and well-known ports second.

/// The service name, if the payload or the port says which.
pub fn recognise(
    proto: &str,
    orig_port: u16,
    resp_port: u16,
    orig: &[u8],
    resp: &[u8],
) -> Option<&'static str> {
    by_magic(orig)
        .or_else(|| by_magic(resp))
        .or_else(|| by_port(proto, orig_port, resp_port, orig))
}

fn by_magic(p: &[u8]) -> Option<&'static str> {
    // TLS handshake record: content type 22, version 3.x.
    if p.len() >= 3 && p[0] == 0x16 && p[1] == 0x03 {
        return Some("tls");
    }
    // SMB over TCP: a NetBIOS session header (4 bytes), then \xffSMB or \xfeSMB.
    if p.len() >= 8 && p[0] == 0 && matches!(&p[4..8], b"\xffSMB" | b"\xfeSMB") {
        return Some("smb");
    }
    // RDP: TPKT (version 3) carrying an X.224 connection request or confirm.
    if p.len() >= 6 && p[0] == 3 && p[1] == 0 && matches!(p[5], 0xe0 | 0xd0) {
        return Some("rdp");
    }
    // DCE-RPC connection-oriented: version 5.0, bind / bind-ack / request / response.
    if p.len() >= 3 && p[0] == 5 && p[1] == 0 && matches!(p[2], 0 | 2 | 11 | 12) {
        return Some("dce_rpc");
    }
    None
}

fn by_port(proto: &str, orig_port: u16, resp_port: u16, orig: &[u8]) -> Option<&'static str> {
    let asn1 = orig.first().is_some_and(|&b| b == 0x30);
    // Kerberos over TCP carries a 4-byte length first; the message is an application tag.
    let kerberos = |p: &[u8]| {
        let body = if proto == "tcp" { p.get(4..) } else { Some(p) };
        body.and_then(|b| b.first())
            .is_some_and(|&t| (0x6a..=0x7e).contains(&t))
    };
    match (proto, resp_port) {
        (_, 88) if kerberos(orig) || orig.is_empty() => Some("kerberos"),
        ("tcp" | "udp", 389 | 3268) if asn1 || orig.is_empty() => Some("ldap"),
        ("tcp", 636 | 3269) => Some("ldaps"),
        ("tcp", 445 | 139) => Some("smb"),
        ("tcp", 3389) => Some("rdp"),
        ("tcp", 135) => Some("dce_rpc"),
        ("tcp", 5985 | 5986) => Some("winrm"),
        ("tcp", 22) => Some("ssh"),
        ("udp", 67 | 68) => Some("dhcp"),
        _ if orig_port == 68 && resp_port == 67 => Some("dhcp"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::recognise;

    #[test]
    fn magic_before_port() {
        assert_eq!(
            recognise("tcp", 5000, 4443, b"\x16\x03\x01\x02\x00\x01", b""),
            Some("tls")
        );
        assert_eq!(
            recognise("tcp", 5000, 445, b"\x00\x00\x00\x40\xfeSMB@\x00", b""),
            Some("smb")
        );
        assert_eq!(
            recognise("tcp", 5000, 3389, b"\x03\x00\x00\x13\x0e\xe0\x00\x00", b""),
            Some("rdp")
        );
        assert_eq!(
            recognise("tcp", 5000, 49152, b"\x05\x00\x0b\x03\x10\x00", b""),
            Some("dce_rpc")
        );
        assert_eq!(
            recognise("udp", 5000, 88, b"\x6a\x82\x01\x00", b""),
            Some("kerberos")
        );
        assert_eq!(
            recognise("tcp", 5000, 389, b"\x30\x0c\x02\x01", b""),
            Some("ldap")
        );
        assert_eq!(recognise("tcp", 5000, 5985, b"", b""), Some("winrm"));
        assert_eq!(recognise("tcp", 5000, 8080, b"hello", b""), None);
    }
}
