//! Application protocols, read from the first payload bytes of each direction of a flow.
//!
//! The XDP program hands over at most `PAYLOAD_SNIPPET_LEN` bytes of the first payload packet
//! in each direction. That is enough for an HTTP request line and its first headers, a DNS
//! query and the start of its answer, an SSH banner, and the magic bytes of SMB, RDP,
//! DCE-RPC, Kerberos and LDAP. Towards SMB, FTP, SMTP and IRC it sends the first few dozen
//! client messages, where the shares and pipes, the files and the mail envelope are.
//! Maintained parsers do the parsing (httparse, simple-dns); what is read by hand here is a
//! few bounds-checked bytes or split lines. Input is attacker-controlled: every
//! parser returns `None` on anything it does not understand.
//!
//! # Layout
//! - [`http`], [`dns`], [`ssh`], [`tls`], [`smb`]: the fields an analyst asks for.
//! - [`ftp`], [`smtp`], [`irc`]: line-based command protocols, split by [`command`].
//! - [`dcerpc`]: the RPC interfaces a bind asks for (on TCP, or inside SMB).
//! - [`service`]: which service a flow speaks, by magic bytes and ports.

pub mod command;
pub mod dcerpc;
pub mod dns;
pub mod ftp;
pub mod http;
pub mod irc;
pub mod service;
pub mod smb;
pub mod smtp;
pub mod ssh;
pub mod tls;

use serde::{Deserialize, Serialize};

/// What was learned of a flow's application protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInfo {
    /// The service (`http`, `dns`, `ssh`, `tls`, `smb`, `rdp`, `dce_rpc`, `kerberos`, `ldap`,
    /// `winrm`, `dhcp`), if recognised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The HTTP request (and response status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<http::Http>,
    /// The DNS query and answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<dns::Dns>,
    /// The SSH banners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<ssh::Ssh>,
    /// The TLS client hello's server name and JA4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<tls::Tls>,
    /// The SMB shares connected and files and pipes opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smb: Option<smb::Smb>,
    /// The DCE-RPC interfaces the client bound to (over TCP, or through an SMB pipe),
    /// known ones by name (`svcctl`, `atsvc`, `samr`, `drsuapi`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rpc: Vec<String>,
    /// The FTP login and the files stored and retrieved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ftp: Option<ftp::Ftp>,
    /// The SMTP greeting, authentication and envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<smtp::Smtp>,
    /// The IRC nickname, channels and DCC file offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub irc: Option<irc::Irc>,
}

impl AppInfo {
    /// Reads a flow's first payloads: `orig` from the originator, `resp` from the responder,
    /// and `orig_later` the originator's further snippets (towards SMB, FTP, SMTP, IRC).
    pub fn analyze(
        proto: &str,
        orig_port: u16,
        resp_port: u16,
        orig: &[u8],
        resp: &[u8],
        orig_later: &[Vec<u8>],
    ) -> Self {
        let tcp = proto == "tcp";
        let mut rpc = if tcp {
            dcerpc::bound_interfaces(orig)
        } else {
            Vec::new()
        };
        let smb = tcp
            .then(|| {
                let snippets = std::iter::once(orig).chain(orig_later.iter().map(Vec::as_slice));
                smb::Smb::parse(snippets, &mut rpc)
            })
            .flatten();
        let http = tcp.then(|| http::Http::parse(orig, resp)).flatten();
        let dns = matches!(resp_port, 53 | 5353 | 5355)
            .then(|| dns::Dns::parse(orig, resp, tcp))
            .flatten();
        let ssh = tcp.then(|| ssh::Ssh::parse(orig, resp)).flatten();
        let tls = tcp.then(|| tls::Tls::parse(orig)).flatten();
        let (mut ftp, mut smtp, mut irc) = (None, None, None);
        if tcp && http.is_none() && ssh.is_none() && tls.is_none() && smb.is_none() {
            let lines =
                command::lines(std::iter::once(orig).chain(orig_later.iter().map(Vec::as_slice)));
            smtp = smtp::Smtp::parse(&lines);
            irc = smtp.is_none().then(|| irc::Irc::parse(&lines)).flatten();
            // FTP's commands are plain words other protocols share: the well-known port or
            // a server that greeted with 220 (and is not SMTP) says it is FTP.
            let greeted = resp.starts_with(b"220");
            if smtp.is_none() && irc.is_none() && (resp_port == 21 || greeted) {
                ftp = ftp::Ftp::parse(&lines);
            }
        }
        let service = if http.is_some() {
            Some(if matches!(resp_port, 5985 | 5986) {
                "winrm"
            } else {
                "http"
            })
        } else if dns.is_some() {
            Some("dns")
        } else if ssh.is_some() {
            Some("ssh")
        } else if tls.is_some() {
            Some("tls")
        } else if smb.is_some() {
            Some("smb")
        } else if smtp.is_some() {
            Some("smtp")
        } else if irc.is_some() {
            Some("irc")
        } else if ftp.is_some() {
            Some("ftp")
        } else {
            service::recognise(proto, orig_port, resp_port, orig, resp)
        };
        Self {
            service: service.map(str::to_owned),
            http,
            dns,
            ssh,
            tls,
            smb,
            rpc,
            ftp,
            smtp,
            irc,
        }
    }

    /// Files and bodies the originator sent out through a file-transfer channel: FTP
    /// stores, IRC DCC offers, HTTP uploads (see [`http::Http::upload`]).
    pub fn uploads(&self) -> Vec<String> {
        let ftp = self.ftp.iter().flat_map(ftp::Ftp::uploads);
        let irc = self.irc.iter().flat_map(irc::Irc::uploads);
        let http = self.http.iter().filter_map(http::Http::upload);
        ftp.chain(irc).chain(http).collect()
    }

    /// Whether nothing was learned.
    pub fn is_empty(&self) -> bool {
        self.service.is_none()
            && self.http.is_none()
            && self.dns.is_none()
            && self.ssh.is_none()
            && self.tls.is_none()
            && self.smb.is_none()
            && self.rpc.is_empty()
            && self.ftp.is_none()
            && self.smtp.is_none()
            && self.irc.is_none()
    }
}
