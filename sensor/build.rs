//! Embeds the eBPF object: builds `sensor-ebpf` through the xtask library (the one
//! implementation of that build) and copies the object to `OUT_DIR/sensor-ebpf`.
//!
//! `SENSOR_EBPF_STUB=1` writes an empty object instead, so `cargo check` and `clippy` need no
//! BPF toolchain and stay fast; a binary built that way refuses `sensor run` with a message.

use std::{env, fs, path::PathBuf, process::ExitCode};

#[expect(
    clippy::print_stderr,
    reason = "a failing build script reports on stderr"
)]
fn main() -> ExitCode {
    println!("cargo:rerun-if-env-changed=SENSOR_EBPF_STUB");
    println!("cargo:rerun-if-env-changed={}", xtask::toolchain::RUSTC_ENV);
    let Some(out_dir) = env::var_os("OUT_DIR").map(PathBuf::from) else {
        eprintln!("OUT_DIR is not set: build.rs must run under cargo");
        return ExitCode::FAILURE;
    };
    let dst = out_dir.join("sensor-ebpf");
    if env::var_os("SENSOR_EBPF_STUB").is_some_and(|v| v == "1") {
        println!("cargo:warning=SENSOR_EBPF_STUB=1: embedding an empty eBPF object");
        return match fs::write(&dst, b"") {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("failed to write {}: {err}", dst.display());
                ExitCode::FAILURE
            }
        };
    }
    let root = xtask::workspace_root();
    for path in [
        "sensor-ebpf/src",
        "sensor-ebpf/Cargo.toml",
        "sensor-common/src",
        "sensor-common/Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    let object = match xtask::build_ebpf(&xtask::build_ebpf::default_target_dir()) {
        Ok(object) => object,
        Err(err) => {
            eprintln!("error: {err}");
            eprintln!(
                "hint: `cargo xtask setup` installs the BPF toolchain; \
                 SENSOR_EBPF_STUB=1 skips the eBPF build for check and clippy"
            );
            return ExitCode::FAILURE;
        }
    };
    if let Err(err) = fs::copy(&object, &dst) {
        eprintln!(
            "failed to copy {} to {}: {err}",
            object.display(),
            dst.display()
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
