//! The report as one self-contained HTML page: inline style, the drawing inline, no
//! scripts, nothing fetched.

use std::fmt::Write as _;

use super::{Block, picture};
use crate::investigate::incident::Incident;

/// `s` safe in HTML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A cell: a link if it is an `https://` URL.
fn cell(s: &str) -> String {
    if s.starts_with("https://") && !s.contains(char::is_whitespace) {
        format!("<a href=\"{0}\">{0}</a>", escape(s))
    } else {
        escape(s)
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;\
color:#222}table{border-collapse:collapse;width:100%;font-size:13px}th,td{border:1px solid \
#ccc;padding:4px 6px;text-align:left;vertical-align:top}th{background:#f2f2f2}\
h1{font-size:22px}h2{border-bottom:1px solid #ddd;margin-top:1.6em}li{margin:2px 0}\
figure{margin:1em 0}";

/// `doc` (of `incident`) as a page.
pub fn render(incident: &Incident, doc: &[Block]) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&incident.title)
    );
    for b in doc {
        match b {
            Block::Heading(level, text) => {
                let _ = writeln!(out, "<h{level}>{}</h{level}>", escape(text));
            }
            Block::Para(text) => {
                let _ = writeln!(out, "<p>{}</p>", escape(text));
            }
            Block::List(items) => {
                out.push_str("<ul>\n");
                for i in items {
                    let _ = writeln!(out, "<li>{}</li>", escape(i));
                }
                out.push_str("</ul>\n");
            }
            Block::Table(headers, rows) => {
                out.push_str("<table>\n<tr>");
                for h in headers {
                    let _ = write!(out, "<th>{}</th>", escape(h));
                }
                out.push_str("</tr>\n");
                for r in rows {
                    out.push_str("<tr>");
                    for c in r {
                        let _ = write!(out, "<td>{}</td>", cell(c));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</table>\n");
            }
            Block::Picture => {
                out.push_str("<figure>\n");
                out.push_str(&picture::svg(incident));
                out.push_str(
                    "<figcaption>Devices and connections: the investigated device in red, \
                     related devices in orange, other peers in grey.</figcaption>\n</figure>\n",
                );
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}
