//! The table the demo ends with: each part of the story, what the sensor should have done,
//! what it did, and whether that was it.

use crate::process::say;

/// One line of the table.
struct Row {
    stage: String,
    expected: String,
    seen: String,
    met: bool,
}

/// The table.
#[derive(Default)]
pub struct Summary(Vec<Row>);

impl Summary {
    /// Adds a line.
    pub fn row(&mut self, stage: &str, expected: &str, seen: &str, met: bool) {
        self.0.push(Row {
            stage: stage.to_owned(),
            expected: expected.to_owned(),
            seen: seen.to_owned(),
            met,
        });
    }

    /// Whether every line was met.
    pub fn all_met(&self) -> bool {
        self.0.iter().all(|r| r.met)
    }

    /// Prints it.
    pub fn print(&self) {
        let width =
            |f: fn(&Row) -> usize, min: usize| self.0.iter().map(f).max().unwrap_or(min).max(min);
        let (s, e, v) = (
            width(|r| r.stage.len(), 5),
            width(|r| r.expected.chars().count(), 8),
            width(|r| r.seen.chars().count(), 4),
        );
        say(&format!(
            "\nSummary\n  {:<s$}  {:<e$}  {:<v$}  ",
            "STAGE", "EXPECTED", "SEEN"
        ));
        for r in &self.0 {
            say(&format!(
                "  {:<s$}  {:<e$}  {:<v$}  {}",
                r.stage,
                r.expected,
                r.seen,
                if r.met { "ok" } else { "MISSED" }
            ));
        }
        let met = self.0.iter().filter(|r| r.met).count();
        say(&format!("  {met} of {} met", self.0.len()));
    }
}
