//! SMTP (RFC 5321) from the client's side: its greeting, whether it authenticated or
//! switched to TLS, and the envelope (the XDP program sends the first `DEEP_SNIPPETS` client
//! payloads towards ports 25 and 587). Mail submitted by a user's client authenticates
//! first; mail handed straight to someone else's mail server without it, from a device that
//! is not a mail server, is what spam bots and mass-mailing malware send.

use serde::{Deserialize, Serialize};

use super::command::{Line, keep};

/// What the client said.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Smtp {
    /// The name given with `EHLO` or `HELO`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helo: Option<String>,
    /// The `AUTH` mechanism, if the client authenticated in clear text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// Whether the client asked for `STARTTLS` (what follows is encrypted, unseen).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub starttls: bool,
    /// Senders (`MAIL FROM`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mail_from: Vec<String>,
    /// Recipients (`RCPT TO`), the first few.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rcpt_to: Vec<String>,
}

/// Senders and recipients kept at most.
const MAX_ADDRESSES: usize = 16;

impl Smtp {
    /// Reads the client's commands; `None` unless it greeted with `EHLO` or `HELO`.
    pub fn parse(lines: &[Line<'_>]) -> Option<Self> {
        let mut smtp = Self::default();
        let mut in_data = false;
        for line in lines {
            if in_data {
                // The message itself, up to a lone dot: not commands.
                in_data = line.arg != "." || !line.verb.is_empty();
                continue;
            }
            match line.verb.as_str() {
                "EHLO" | "HELO" if smtp.helo.is_none() => {
                    smtp.helo = Some(line.arg.chars().take(255).collect());
                }
                "AUTH" if smtp.auth.is_none() => {
                    let mechanism = line.arg.split(' ').next().unwrap_or_default();
                    smtp.auth = Some(mechanism.chars().take(32).collect());
                }
                "STARTTLS" => smtp.starttls = true,
                "MAIL" => keep(&mut smtp.mail_from, address(line.arg), MAX_ADDRESSES),
                "RCPT" => keep(&mut smtp.rcpt_to, address(line.arg), MAX_ADDRESSES),
                "DATA" => in_data = true,
                _ => {}
            }
        }
        smtp.helo.is_some().then_some(smtp)
    }

    /// The senders of mail handed over without authenticating (none if the client
    /// authenticated, or switched to TLS before its envelope).
    pub fn unauthenticated_senders(&self) -> &[String] {
        if self.auth.is_some() {
            &[]
        } else {
            &self.mail_from
        }
    }
}

/// `FROM:<a@b> SIZE=10` → `a@b` (`<>`, the null sender, stays `<>`).
fn address(arg: &str) -> &str {
    let after = arg.split_once(':').map_or(arg, |(_, a)| a).trim_start();
    let addr = after.split(' ').next().unwrap_or_default();
    match addr.strip_prefix('<').and_then(|a| a.strip_suffix('>')) {
        Some("") => "<>",
        Some(inner) => inner,
        None => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::Smtp;
    use crate::capture::protocols::command::lines;

    #[test]
    fn direct_delivery_without_authentication() {
        let s: [&[u8]; 2] = [
            b"EHLO 173-66-46-112.example.test\r\n",
            b"MAIL FROM: <x@lookalike.test>\r\nRCPT TO:<mirjam@example.test>\r\nDATA\r\n",
        ];
        let smtp = Smtp::parse(&lines(s)).unwrap();
        assert_eq!(smtp.helo.as_deref(), Some("173-66-46-112.example.test"));
        assert_eq!(smtp.mail_from, ["x@lookalike.test"]);
        assert_eq!(smtp.rcpt_to, ["mirjam@example.test"]);
        assert_eq!(smtp.unauthenticated_senders(), ["x@lookalike.test"]);
    }

    #[test]
    fn authenticated_submission_and_message_body() {
        let s: [&[u8]; 4] = [
            b"EHLO client\r\n",
            b"AUTH LOGIN\r\ndXNlcg==\r\n",
            b"MAIL FROM:<me@example.test> SIZE=100\r\nRCPT TO:<you@example.test>\r\nDATA\r\n",
            b"From: me\r\nMAIL FROM:<not@a.command>\r\n.\r\nQUIT\r\n",
        ];
        let smtp = Smtp::parse(&lines(s)).unwrap();
        assert_eq!(smtp.auth.as_deref(), Some("LOGIN"));
        assert_eq!(smtp.mail_from, ["me@example.test"]);
        assert!(smtp.unauthenticated_senders().is_empty());
    }

    #[test]
    fn not_smtp() {
        assert_eq!(Smtp::parse(&lines([&b"USER bob\r\n"[..]])), None);
    }
}
