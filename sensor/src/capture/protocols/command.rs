//! Line-based command protocols (FTP, SMTP, IRC): the client's lines, split into an
//! upper-cased verb and its argument, across every snippet of a connection.
//!
//! A snippet is a segment's first bytes, so its last line may be cut short and a line may
//! continue a previous segment: such fragments rarely start with a known verb, and the
//! parsers ignore what they do not know. Only string splitting, no indexing.

/// Lines read per connection at most.
const MAX_LINES: usize = 512;
/// Verbs are short ASCII words (`USER`, `STOR`, `EHLO`, `PRIVMSG`).
const MAX_VERB: usize = 12;

/// A client line: `verb` upper-cased (empty when the first word is not a plausible verb:
/// a mail body line, a fragment), `arg` the rest with surrounding blanks trimmed (the whole
/// line when there is no verb).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// The command word, upper-cased.
    pub verb: String,
    /// What follows it.
    pub arg: &'a str,
}

/// The lines of `snippets`, in order.
pub fn lines<'a>(snippets: impl IntoIterator<Item = &'a [u8]>) -> Vec<Line<'a>> {
    let mut out = Vec::new();
    for snippet in snippets {
        let text = match std::str::from_utf8(snippet) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(snippet.get(..e.valid_up_to()).unwrap_or_default())
                .unwrap_or_default(),
        };
        for raw in text.split('\n') {
            if out.len() >= MAX_LINES {
                return out;
            }
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.is_empty() {
                continue;
            }
            let (word, arg) = line.split_once(' ').unwrap_or((line, ""));
            let verb_like = !word.is_empty()
                && word.len() <= MAX_VERB
                && word.bytes().all(|b| b.is_ascii_alphabetic());
            out.push(if verb_like {
                Line {
                    verb: word.to_ascii_uppercase(),
                    arg: arg.trim(),
                }
            } else {
                Line {
                    verb: String::new(),
                    arg: line,
                }
            });
        }
    }
    out
}

/// Keeps at most `max` values, each at most 200 characters.
pub fn keep(list: &mut Vec<String>, value: &str, max: usize) {
    if list.len() < max && !value.is_empty() {
        let mut v: String = value.chars().take(200).collect();
        v.truncate(v.trim_end().len());
        list.push(v);
    }
}

#[cfg(test)]
mod tests {
    use super::lines;
    use crate::capture::protocols::{ftp::Ftp, irc::Irc, smtp::Smtp};

    /// Every session cut at every length, and random bytes: the parsers never panic.
    #[test]
    fn cut_and_random_input_never_panics() {
        let session: &[u8] = b"EHLO a\r\nAUTH PLAIN x\r\nMAIL FROM:<a@b>\r\nDATA\r\n.\r\n\
            NICK n\r\nJOIN #c\r\nPRIVMSG t :\x01DCC SEND f 1 2 3\x01\r\nUSER u\r\nSTOR f\r\n";
        for cut in 0..=session.len() {
            let l = lines([&session[..cut], &session[cut..]]);
            let _ = (Smtp::parse(&l), Irc::parse(&l), Ftp::parse(&l));
        }
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..5_000 {
            let bytes: Vec<u8> = (0..rng.usize(..300)).map(|_| rng.u8(..)).collect();
            let l = lines([bytes.as_slice()]);
            let _ = (Smtp::parse(&l), Irc::parse(&l), Ftp::parse(&l));
        }
    }

    #[test]
    fn verbs_and_arguments_across_snippets() {
        let a: &[u8] = b"EHLO host.test\r\nMAIL FROM:<a@b.test>\r\n";
        let b: &[u8] = b"rcpt TO:<c@d.test>\r\nSubject: hi\r\nbody te";
        let got = lines([a, b]);
        let verbs: Vec<&str> = got.iter().map(|l| l.verb.as_str()).collect();
        assert_eq!(verbs, ["EHLO", "MAIL", "RCPT", "", "BODY"]);
        assert_eq!(got[1].arg, "FROM:<a@b.test>");
        assert_eq!(got[3].arg, "Subject: hi");
    }

    #[test]
    fn invalid_utf8_keeps_the_valid_prefix() {
        let got = lines([&b"USER bob\r\nPASS \xff\xfe"[..]]);
        assert_eq!((got[0].verb.as_str(), got[0].arg), ("USER", "bob"));
        assert_eq!((got[1].verb.as_str(), got[1].arg), ("PASS", ""));
    }
}
