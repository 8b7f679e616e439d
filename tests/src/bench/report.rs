//! The benchmark report: `report.json` for scripts, `report.md` for people.

use std::{fmt::Write as _, path::Path};

use serde::Serialize;

/// How a ratio is judged against its target.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The ratio must be at most this (costs).
    AtMost(f64),
    /// The ratio must be at least this (throughputs).
    AtLeast(f64),
    /// The value itself must be at least this (absolute targets).
    ValueAtLeast(f64),
    /// The value itself must be at most this (absolute latency targets).
    ValueAtMost(f64),
}

/// One measured figure with its baseline.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    /// Group of the figure (e.g. "xdp").
    pub group: String,
    /// What was measured.
    pub name: String,
    /// Unit of `value` and `baseline_value`.
    pub unit: String,
    /// The measurement.
    pub value: f64,
    /// What it is compared with.
    pub baseline: String,
    /// The baseline's measurement, from the same run.
    pub baseline_value: f64,
    /// `value / baseline_value`.
    pub ratio: f64,
    /// The target for the ratio, if the issue sets one.
    pub target: Option<Target>,
    /// Whether the target is met.
    pub met: Option<bool>,
    /// How it was measured.
    pub method: String,
}

impl Figure {
    /// A figure; the ratio and verdict are computed.
    #[expect(clippy::too_many_arguments, reason = "one row of the report")]
    pub fn new(
        group: &str,
        name: &str,
        unit: &str,
        value: f64,
        baseline: &str,
        baseline_value: f64,
        target: Option<Target>,
        method: &str,
    ) -> Self {
        let ratio = if baseline_value > 0.0 {
            value / baseline_value
        } else {
            f64::NAN
        };
        let met = target.map(|t| match t {
            Target::AtMost(max) => ratio <= max,
            Target::AtLeast(min) => ratio >= min,
            Target::ValueAtLeast(min) => value >= min,
            Target::ValueAtMost(max) => value <= max,
        });
        Self {
            group: group.to_owned(),
            name: name.to_owned(),
            unit: unit.to_owned(),
            value,
            baseline: baseline.to_owned(),
            baseline_value,
            ratio,
            target,
            met,
            method: method.to_owned(),
        }
    }
}

/// The whole report.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// When it was made (UTC, RFC 3339).
    pub generated: String,
    /// Kernel release.
    pub kernel: String,
    /// CPUs online.
    pub cpus: usize,
    /// The figures.
    pub figures: Vec<Figure>,
    /// Things that could not be measured, and why.
    pub notes: Vec<String>,
}

impl Report {
    /// Writes `report.json` and `report.md` under `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("report.json"), json)?;
        std::fs::write(dir.join("report.md"), self.markdown())
    }

    /// The Markdown rendering.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Benchmark report\n");
        let _ = writeln!(
            md,
            "Generated {} on kernel {} with {} CPUs. Every figure is measured next to its \
             baseline in the same run; the ratio is what to compare across machines.\n",
            self.generated, self.kernel, self.cpus
        );
        let _ = writeln!(
            md,
            "| group | figure | value | baseline | baseline value | ratio | target | met |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
        for f in &self.figures {
            let target = match f.target {
                Some(Target::AtMost(t)) => format!("≤ {t}×"),
                Some(Target::AtLeast(t)) => format!("≥ {t}×"),
                Some(Target::ValueAtLeast(t)) => format!("≥ {t} {}", f.unit),
                Some(Target::ValueAtMost(t)) => format!("≤ {t} {}", f.unit),
                None => String::new(),
            };
            let met = match f.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            let _ = writeln!(
                md,
                "| {} | {} | {:.1} {} | {} | {:.1} {} | {:.2}× | {} | {} |",
                f.group,
                f.name,
                f.value,
                f.unit,
                f.baseline,
                f.baseline_value,
                f.unit,
                f.ratio,
                target,
                met
            );
        }
        let _ = writeln!(md, "\n## Method\n");
        for f in &self.figures {
            let _ = writeln!(md, "- **{}**: {}", f.name, f.method);
        }
        if !self.notes.is_empty() {
            let _ = writeln!(md, "\n## Notes\n");
            for n in &self.notes {
                let _ = writeln!(md, "- {n}");
            }
        }
        md
    }
}

/// The median of some samples (0 for none).
pub fn median(samples: &mut [f64]) -> f64 {
    percentile(samples, 50)
}

/// The mean of the middle half of some samples (0 for none): as robust to outliers as the
/// median, but it resolves differences finer than the clock's tick, which a median of
/// single runs timed by a coarse clock cannot (it jumps from tick to tick).
pub fn interquartile_mean(samples: &mut [f64]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(f64::total_cmp);
    let (lo, hi) = (samples.len() / 4, samples.len() - samples.len() / 4);
    // `hi > lo` for any non-empty slice: a quarter is cut from each end, rounded down.
    let middle = &samples[lo..hi];
    middle.iter().sum::<f64>() / middle.len() as f64
}

/// The `p`th percentile (nearest rank) of `samples`, which it sorts; 0 if empty.
pub fn percentile(samples: &mut [f64], p: usize) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(f64::total_cmp);
    let rank = (samples.len() * p.min(100)).div_ceil(100).max(1);
    samples[rank - 1]
}
