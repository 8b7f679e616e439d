//! `/metrics` in the Prometheus text exposition format (version 0.0.4): the data path's
//! counters and the agent's own, for the monitoring a gateway team already runs.

use std::fmt::Write as _;

use super::Status;

/// The content type Prometheus expects.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders `status`. Counter names are identifiers (`[a-z0-9_]`), so need no escaping.
pub fn render(status: &Status) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(Option<&str>, u64)]| {
        let _ = writeln!(out, "# HELP sensor_{name} {help}");
        let _ = writeln!(out, "# TYPE sensor_{name} {kind}");
        for (label, value) in samples {
            match label {
                Some(l) => {
                    let _ = writeln!(out, "sensor_{name}{{counter=\"{l}\"}} {value}");
                }
                None => {
                    let _ = writeln!(out, "sensor_{name} {value}");
                }
            }
        }
    };
    let kernel: Vec<(Option<&str>, u64)> = status
        .counters
        .iter()
        .map(|(k, v)| (Some(k.as_str()), *v))
        .collect();
    metric(
        "datapath_total",
        "counter",
        "Data path counters of the XDP program, summed over CPUs.",
        &kernel,
    );
    metric(
        "flows",
        "gauge",
        "Live flows in the kernel flow table.",
        &[(None, status.flows as u64)],
    );
    metric(
        "active_actions",
        "gauge",
        "Response actions whose rules the kernel enforces.",
        &[(None, status.active_actions as u64)],
    );
    if let Some(a) = &status.agent {
        for (name, help, value) in [
            (
                "flows_swept_total",
                "Flows swept from the kernel table.",
                a.flows_swept,
            ),
            (
                "records_written_total",
                "Connection records stored.",
                a.records_written,
            ),
            (
                "flows_evicted_total",
                "Flows evicted from a full table before they were recorded.",
                a.flows_evicted,
            ),
            (
                "payloads_dropped_total",
                "First payloads dropped because too many flows were open.",
                a.payloads_dropped,
            ),
            ("sweep_errors_total", "Sweeps that failed.", a.sweep_errors),
            (
                "records_pruned_total",
                "Records removed by retention.",
                a.pruned,
            ),
        ] {
            metric(name, "counter", help, &[(None, value)]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{super::Status, render};

    #[test]
    fn renders_counters_with_help_and_type() {
        let status = Status {
            pin_dir: "/sys/fs/bpf/sensor".into(),
            flows: 3,
            counters: [("packets".to_owned(), 10), ("verdict_drop".to_owned(), 2)]
                .into_iter()
                .collect(),
            agent: None,
            active_actions: 1,
        };
        let text = render(&status);
        assert!(text.contains("# TYPE sensor_datapath_total counter\n"));
        assert!(text.contains("sensor_datapath_total{counter=\"packets\"} 10\n"));
        assert!(text.contains("sensor_flows 3\n"));
        assert!(text.contains("sensor_active_actions 1\n"));
    }
}
