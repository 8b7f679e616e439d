//! The test environment: the `sensor` binary, root, and skips that are never silent.

use std::{io::Write as _, path::PathBuf};

/// The `sensor` binary: `SENSOR_BIN` if set (`cargo xtask test` sets it), else the one next
/// to this test binary's directory (`target/<profile>/sensor`).
pub fn sensor_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("SENSOR_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    let bin = profile_dir.join("sensor");
    assert!(
        bin.is_file(),
        "{} does not exist: build it first (`cargo build -p sensor`) or set SENSOR_BIN",
        bin.display()
    );
    bin
}

/// Whether the tests run as root, which loading BPF programs and making namespaces needs.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Records a skipped test loudly: `SKIPPED: <reason>` on stderr, and a line in the file named
/// by `SENSOR_SKIP_LOG`, which `cargo xtask test` counts and prints at the end.
pub fn skip(test: &str, reason: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {reason}");
    if let Some(path) = std::env::var_os("SENSOR_SKIP_LOG")
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        let _ = writeln!(file, "{test}: {reason}");
    }
}

/// Returns `true` if the test may go on; otherwise records the skip.
pub fn require_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    skip(test, "needs root (BPF and network namespaces)");
    false
}

/// A scratch directory for one test, removed on drop.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// Makes `$TMPDIR/sensor-test-<name>-<pid>`.
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("sensor-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create scratch dir");
        Self { path }
    }

    /// Its path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Whether `check` comes true within `secs` seconds (asked every 200 ms).
pub fn eventually(secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(secs) {
        if check() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    false
}

/// A bpffs of the test's own (unmounted when dropped) and load options that pin the
/// program's maps and links under it, for tests of what survives a reload.
pub fn pinned_load_options(tag: &str) -> (crate::netns::BpfMount, sensor::ebpf::LoadOptions) {
    let bpffs = crate::netns::BpfMount::new(&format!("{}{tag}", crate::netns::unique_prefix()))
        .expect("mount a bpffs");
    let options = sensor::ebpf::LoadOptions {
        pin_dir: Some(bpffs.path().join("sensor")),
        ..sensor::ebpf::LoadOptions::default()
    };
    (bpffs, options)
}
