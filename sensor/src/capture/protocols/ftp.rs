//! The FTP control channel (RFC 959): who logged in and which files the client stored and
//! retrieved, read from its commands (the XDP program sends the first `DEEP_SNIPPETS`
//! client payloads towards port 21). A file stored on a server is data leaving the device
//! in clear text, over a channel no proxy or DLP sees.

use serde::{Deserialize, Serialize};

use super::command::{Line, keep};

/// What the client did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ftp {
    /// The `USER` logged in as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Files sent to the server (`STOR`, `STOU`, `APPE`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stored: Vec<String>,
    /// Files fetched from it (`RETR`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retrieved: Vec<String>,
}

/// Files kept per direction at most.
const MAX_FILES: usize = 16;
/// Commands only an FTP client sends (IRC shares `USER` and `PASS`, SMTP shares none).
const FTP_VERBS: [&str; 16] = [
    "USER", "PASS", "ACCT", "CWD", "PWD", "TYPE", "PASV", "EPSV", "PORT", "EPRT", "LIST", "NLST",
    "RETR", "STOR", "SYST", "FEAT",
];

impl Ftp {
    /// The stored files as an analyst reads them: `FTP STOR name`.
    pub fn uploads(&self) -> impl Iterator<Item = String> + '_ {
        self.stored.iter().map(|f| format!("FTP STOR {f}"))
    }

    /// Reads the client's commands; `None` unless one is an FTP command.
    pub fn parse(lines: &[Line<'_>]) -> Option<Self> {
        let mut ftp = Self::default();
        let mut seen = false;
        for line in lines {
            seen |= FTP_VERBS.contains(&line.verb.as_str());
            match line.verb.as_str() {
                "USER" if ftp.user.is_none() && !line.arg.is_empty() => {
                    ftp.user = Some(line.arg.chars().take(64).collect());
                }
                "STOR" | "STOU" | "APPE" => keep(&mut ftp.stored, line.arg, MAX_FILES),
                "RETR" => keep(&mut ftp.retrieved, line.arg, MAX_FILES),
                _ => {}
            }
        }
        seen.then_some(ftp)
    }
}

#[cfg(test)]
mod tests {
    use super::Ftp;
    use crate::capture::protocols::command::lines;

    #[test]
    fn login_store_and_retrieve() {
        let snippets: [&[u8]; 5] = [
            b"USER alice\r\n",
            b"PASS password\r\n",
            b"TYPE I\r\nPASV\r\n",
            b"STOR index.html\r\n",
            b"RETR data/rand.txt\r\n",
        ];
        let ftp = Ftp::parse(&lines(snippets)).unwrap();
        assert_eq!(ftp.user.as_deref(), Some("alice"));
        assert_eq!(ftp.stored, ["index.html"]);
        assert_eq!(ftp.retrieved, ["data/rand.txt"]);
    }

    #[test]
    fn not_ftp() {
        assert_eq!(Ftp::parse(&lines([&b"EHLO a.test\r\n"[..]])), None);
        assert_eq!(Ftp::parse(&lines([&b"\x16\x03\x01"[..]])), None);
    }
}
