//! SSH: the identification strings (`SSH-2.0-OpenSSH_9.2p1 Debian-2`) of both sides.

use serde::{Deserialize, Serialize};

/// The two banners.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ssh {
    /// The client's identification string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The server's identification string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

/// The identification line at the start of `bytes`, without its line end.
fn banner(bytes: &[u8]) -> Option<String> {
    if !bytes.starts_with(b"SSH-") {
        return None;
    }
    let end = bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    let line = bytes.get(..end)?;
    line.iter()
        .all(|b| b.is_ascii_graphic() || *b == b' ')
        .then(|| String::from_utf8_lossy(line).into_owned())
}

impl Ssh {
    /// The banners, if either side sent one.
    pub fn parse(orig: &[u8], resp: &[u8]) -> Option<Self> {
        let (client, server) = (banner(orig), banner(resp));
        (client.is_some() || server.is_some()).then_some(Self { client, server })
    }
}

#[cfg(test)]
mod tests {
    use super::Ssh;

    #[test]
    fn banners() {
        let s = Ssh::parse(
            b"SSH-2.0-OpenSSH_9.2p1\r\n",
            b"SSH-2.0-dropbear\r\n\x00\x00",
        )
        .unwrap();
        assert_eq!(s.client.as_deref(), Some("SSH-2.0-OpenSSH_9.2p1"));
        assert_eq!(s.server.as_deref(), Some("SSH-2.0-dropbear"));
        assert_eq!(Ssh::parse(b"GET /", b""), None);
        assert_eq!(Ssh::parse(b"SSH-\x01\x02", b""), None);
    }
}
