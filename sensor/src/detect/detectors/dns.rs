//! DNS abuse: tunnelling (many distinct names under one domain, or very long labels) and
//! DGA-like names (random-looking second-level labels, failed lookups), per device within
//! the window. The registered domain is taken as the last two labels (no public suffix
//! list yet: `example.co.uk` counts as `co.uk`).

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use super::{Ctx, Detector, Window, bound, uids};
use crate::detect::{Finding, Metric};

/// Which abuse.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Data carried in names.
    Tunnel,
    /// Algorithmically generated names.
    Dga,
}

/// `[params]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Which abuse.
    pub mode: Mode,
    /// Tunnel: distinct names under one domain in the window.
    #[serde(default = "default_unique")]
    pub min_unique_names: usize,
    /// Tunnel: a label this long is data on its own.
    #[serde(default = "default_label")]
    pub long_label: usize,
    /// DGA: random-looking names in the window.
    #[serde(default = "default_dga")]
    pub min_dga_names: usize,
    /// DGA: bits per character of the second-level label that look random.
    #[serde(default = "default_entropy")]
    pub min_entropy: f64,
}

const fn default_unique() -> usize {
    40
}
const fn default_label() -> usize {
    52
}
const fn default_dga() -> usize {
    8
}
const fn default_entropy() -> f64 {
    3.3
}

/// Shannon entropy, bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = HashMap::new();
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = s.chars().count() as f64;
    counts
        .values()
        .map(|c| {
            let p = *c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Whether a second-level label looks generated: long, high entropy, few vowels or many
/// digits.
pub fn dga_like(label: &str, min_entropy: f64) -> bool {
    let n = label.chars().count();
    if n < 10 {
        return false;
    }
    let vowels = label.chars().filter(|c| "aeiou".contains(*c)).count() as f64 / n as f64;
    let digits = label.chars().filter(char::is_ascii_digit).count() as f64 / n as f64;
    entropy(label) >= min_entropy && (vowels < 0.25 || digits > 0.25)
}

/// The detector.
pub struct Dns {
    p: Params,
    windows: HashMap<String, Window<(String, String)>>,
}

impl Dns {
    /// A detector with `p`.
    pub fn new(p: Params) -> Self {
        Self {
            p,
            windows: HashMap::new(),
        }
    }
}

impl Detector for Dns {
    fn observe(&mut self, ctx: &Ctx<'_>) -> Vec<Finding> {
        let r = ctx.record;
        let Some(q) = &r.app.dns else {
            return Vec::new();
        };
        let name = q.query.trim_end_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = name.split('.').collect();
        if labels.len() < 2 {
            return Vec::new();
        }
        let domain = labels[labels.len() - 2..].join(".");
        match self.p.mode {
            Mode::Tunnel => {
                let longest = labels.iter().map(|l| l.len()).max().unwrap_or(0);
                let key = format!("{} -> *.{domain}", r.orig_h);
                bound(&mut self.windows, &key);
                let w = self.windows.entry(key.clone()).or_default();
                w.push(
                    r.ts,
                    (name.clone(), r.uid.clone()),
                    ctx.window,
                    4 * self.p.min_unique_names.max(64),
                );
                let unique = w.iter().map(|(_, (n, _))| n).collect::<HashSet<_>>().len();
                if unique < self.p.min_unique_names && longest < self.p.long_label {
                    return Vec::new();
                }
                let by_count = unique as f64 / self.p.min_unique_names as f64;
                let by_label = longest as f64 / self.p.long_label as f64;
                vec![Finding {
                    summary: format!(
                        "{key}: {unique} distinct names within {}, longest label {longest} characters",
                        humantime::format_duration(ctx.window)
                    ),
                    key,
                    device_id: r.device_id,
                    ts: r.ts,
                    strength: (0.5 + 0.25 * by_count.max(by_label)).min(1.0),
                    metrics: vec![
                        Metric::against(
                            "distinct names",
                            unique as f64,
                            self.p.min_unique_names as f64,
                            ">= min_unique_names",
                        ),
                        Metric::against(
                            "longest label",
                            longest as f64,
                            self.p.long_label as f64,
                            ">= long_label",
                        ),
                    ],
                    connections: uids(w.iter().map(|(_, (_, u))| u)),
                }]
            }
            Mode::Dga => {
                let sld = labels[labels.len() - 2];
                if !dga_like(sld, self.p.min_entropy) {
                    return Vec::new();
                }
                let key = format!("{} dga", r.orig_h);
                bound(&mut self.windows, &key);
                let w = self.windows.entry(key.clone()).or_default();
                w.push(
                    r.ts,
                    (domain, r.uid.clone()),
                    ctx.window,
                    4 * self.p.min_dga_names.max(64),
                );
                let unique = w.iter().map(|(_, (n, _))| n).collect::<HashSet<_>>().len();
                if unique < self.p.min_dga_names {
                    return Vec::new();
                }
                vec![Finding {
                    summary: format!(
                        "{}: {unique} random-looking domains within {} (e.g. {name}, entropy {:.2})",
                        r.orig_h,
                        humantime::format_duration(ctx.window),
                        entropy(sld)
                    ),
                    key,
                    device_id: r.device_id,
                    ts: r.ts,
                    strength: (0.6 + 0.4 * unique as f64 / (4.0 * self.p.min_dga_names as f64))
                        .min(1.0),
                    metrics: vec![
                        Metric::against(
                            "random-looking domains",
                            unique as f64,
                            self.p.min_dga_names as f64,
                            ">= min_dga_names",
                        ),
                        Metric::against(
                            "entropy (bits/char)",
                            entropy(sld),
                            self.p.min_entropy,
                            ">= min_entropy",
                        ),
                    ],
                    connections: uids(w.iter().map(|(_, (_, u))| u)),
                }]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{dga_like, entropy};

    #[test]
    fn random_labels_look_generated_and_words_do_not() {
        assert!(entropy("aaaa") < 0.01);
        assert!(dga_like("xjw3kq9zvbt2lp", 3.3));
        assert!(dga_like("qwrtzpsdfghjklx", 3.3));
        assert!(!dga_like("wikipedia", 3.3));
        assert!(!dga_like("googleusercontent", 3.3));
        assert!(!dga_like("microsoftonline", 3.3));
    }
}
