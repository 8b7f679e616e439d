//! The only place that prints: tables for people, JSON for scripts, errors on stderr.
//!
//! Writes go through locked handles; a closed pipe (`sensor flows | head`) ends the output
//! quietly instead of panicking.

use std::io::{self, Write};

use comfy_table::{Cell, CellAlignment, Table, presets::NOTHING};
use serde::Serialize;

/// A column of a table.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// Header text.
    pub header: &'static str,
    /// Right-align (numbers).
    pub right: bool,
}

/// Prints rows under headers, aligned, without borders (like `ip` and `ss`).
pub fn table(columns: &[Column], rows: &[Vec<String>]) -> io::Result<()> {
    let mut table = Table::new();
    table.load_preset(NOTHING);
    table.set_header(columns.iter().map(|c| Cell::new(c.header)));
    for row in rows {
        table.add_row(row.iter().map(Cell::new));
    }
    for (i, col) in columns.iter().enumerate() {
        if let Some(c) = table.column_mut(i)
            && col.right
        {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    line(&table.trim_fmt())
}

/// Prints a value as pretty JSON.
pub fn json<T: Serialize>(value: &T) -> io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    line(&text)
}

/// Prints one line (or block) on stdout.
pub fn line(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Prints an error and its causes on stderr, in the form `error: outer: inner`.
pub fn error(err: &anyhow::Error) {
    let _ = writeln!(io::stderr().lock(), "error: {err:#}");
}
