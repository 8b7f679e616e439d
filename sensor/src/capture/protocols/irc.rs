//! IRC (RFC 2812) from the client's side: its nickname, the channels it joins and the files
//! it offers over DCC (the XDP program sends the first `DEEP_SNIPPETS` client payloads
//! towards ports 6660-6669). IRC is an old botnet command channel; a DCC `SEND` moves a file
//! straight from one client to another, past every proxy.

use serde::{Deserialize, Serialize};

use super::command::{Line, keep};

/// What the client did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Irc {
    /// The `NICK` it registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nick: Option<String>,
    /// Channels joined.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// Files offered with DCC `SEND`: `name (size bytes)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dcc_sends: Vec<String>,
}

/// Channels and files kept at most.
const MAX_NAMES: usize = 16;

impl Irc {
    /// The files offered as an analyst reads them: `IRC DCC SEND name (size bytes)`.
    pub fn uploads(&self) -> impl Iterator<Item = String> + '_ {
        self.dcc_sends.iter().map(|f| format!("IRC DCC SEND {f}"))
    }

    /// Reads the client's commands; `None` unless it registered a nickname.
    pub fn parse(lines: &[Line<'_>]) -> Option<Self> {
        let mut irc = Self::default();
        for line in lines {
            match line.verb.as_str() {
                "NICK" if irc.nick.is_none() => {
                    let nick = line.arg.trim_start_matches(':');
                    irc.nick = Some(nick.chars().take(64).collect());
                }
                "JOIN" => {
                    for channel in line.arg.split(' ').next().unwrap_or_default().split(',') {
                        if channel.starts_with(['#', '&'])
                            && !irc.channels.iter().any(|c| c == channel)
                        {
                            keep(&mut irc.channels, channel, MAX_NAMES);
                        }
                    }
                }
                "PRIVMSG" | "NOTICE" => {
                    if let Some(file) = dcc_send(line.arg) {
                        keep(&mut irc.dcc_sends, &file, MAX_NAMES);
                    }
                }
                _ => {}
            }
        }
        irc.nick.is_some().then_some(irc)
    }
}

/// `target :\x01DCC SEND name address port size\x01` → `name (size bytes)`.
fn dcc_send(arg: &str) -> Option<String> {
    let (_target, text) = arg.split_once(" :")?;
    let text = text.trim_matches('\u{1}');
    let rest = text.strip_prefix("DCC SEND ")?;
    let mut words = rest.split(' ');
    let name = words.next().filter(|n| !n.is_empty())?.trim_matches('"');
    let size = words.nth(2).and_then(|s| s.parse::<u64>().ok());
    Some(match size {
        Some(size) => format!("{name} ({size} bytes)"),
        None => name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::Irc;
    use crate::capture::protocols::command::lines;

    #[test]
    fn registration_join_and_dcc_send() {
        let s: [&[u8]; 3] = [
            b"CAP LS 302\r\nPASS test\r\nNICK tim2\r\nUSER tim tim 10.0.0.22 :Tim\r\n",
            b"JOIN #testing,#ops key\r\nPRIVMSG #testing :hi\r\n",
            b"PRIVMSG tim1 :\x01DCC SEND ssh.trace 167772167 59130 1320211\x01\r\n",
        ];
        let irc = Irc::parse(&lines(s)).unwrap();
        assert_eq!(irc.nick.as_deref(), Some("tim2"));
        assert_eq!(irc.channels, ["#testing", "#ops"]);
        assert_eq!(irc.dcc_sends, ["ssh.trace (1320211 bytes)"]);
    }

    #[test]
    fn not_irc() {
        assert_eq!(Irc::parse(&lines([&b"USER alice\r\nPASS x\r\n"[..]])), None);
    }
}
