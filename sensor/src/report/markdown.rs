//! The report as Markdown.

use std::fmt::Write as _;

use super::Block;

/// A table cell: pipes escaped, on one line.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// `doc` as Markdown.
pub fn render(doc: &[Block]) -> String {
    let mut out = String::new();
    for b in doc {
        match b {
            Block::Heading(level, text) => {
                out.push_str(&"#".repeat(usize::from(*level)));
                out.push(' ');
                out.push_str(text);
                out.push_str("\n\n");
            }
            Block::Para(text) => {
                out.push_str(text);
                out.push_str("\n\n");
            }
            Block::List(items) => {
                if items.is_empty() {
                    out.push_str("(none)\n");
                }
                for i in items {
                    out.push_str("- ");
                    out.push_str(&i.replace('\n', " "));
                    out.push('\n');
                }
                out.push('\n');
            }
            Block::Table(headers, rows) => {
                let _ = writeln!(out, "| {} |", headers.join(" | "));
                let _ = writeln!(out, "|{}", " --- |".repeat(headers.len()));
                for r in rows {
                    let cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
                    let _ = writeln!(out, "| {} |", cells.join(" | "));
                }
                out.push('\n');
            }
            Block::Picture => {}
        }
    }
    out
}
