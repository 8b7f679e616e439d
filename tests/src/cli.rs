//! Running `sensor` subcommands from tests.

use serde_json::Value;

use crate::env::sensor_bin;

/// Runs `sensor <args>`, asserts success, and returns what it printed.
pub fn sensor_output(args: &[&str]) -> String {
    let out = std::process::Command::new(sensor_bin())
        .args(args)
        .output()
        .expect("run sensor");
    assert!(
        out.status.success(),
        "sensor {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("sensor printed UTF-8")
}

/// Runs `sensor <args>`, asserts success, and parses its JSON output.
pub fn sensor_json(args: &[&str]) -> Value {
    serde_json::from_str(&sensor_output(args)).expect("sensor printed JSON")
}

/// A numeric field of a JSON object, or a panic that names it.
pub fn field(v: &Value, name: &str) -> u64 {
    v[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} missing in {v}"))
}
