//! The shared fixtures beside the project: `../shared/pcaps` and `../shared/edr-fixtures`.

use std::path::PathBuf;

pub use xtask::shared_dir;

/// The packet captures.
pub fn pcaps_dir() -> PathBuf {
    shared_dir().join("pcaps")
}

/// Every capture file under the pcaps directory, sorted.
pub fn all_pcaps() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(categories) = std::fs::read_dir(pcaps_dir()) else {
        return out;
    };
    for category in categories.flatten() {
        if let Ok(files) = std::fs::read_dir(category.path()) {
            for f in files.flatten() {
                let p = f.path();
                if p.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out
}

/// The Ethernet frames of a capture (pcap or pcapng), read with the agent's own reader;
/// frames of other link types are left out, and a file that cannot be read yields what was
/// read before the error.
pub fn ethernet_frames(path: &std::path::Path) -> Vec<Vec<u8>> {
    let Ok(mut capture) = sensor::capture::pcap::Capture::open(path) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while let Some(Ok(frame)) = capture.next_frame() {
        if frame.ethernet {
            out.push(frame.data);
        }
    }
    out
}
