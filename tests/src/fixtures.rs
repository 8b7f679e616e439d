//! The shared fixtures beside the project: `../shared/pcaps` and `../shared/edr-fixtures`.

use std::{fs::File, io::BufReader, path::PathBuf};

use pcap_file::{
    DataLink,
    pcap::PcapReader,
    pcapng::{Block, PcapNgReader},
};

/// The shared directory: `SENSOR_SHARED_DIR`, or `shared/` beside the workspace.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("SENSOR_SHARED_DIR").map_or_else(
        || {
            xtask::workspace_root()
                .parent()
                .map_or_else(|| PathBuf::from("../shared"), |p| p.join("shared"))
        },
        PathBuf::from,
    )
}

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

/// The Ethernet frames of a capture (pcap or pcapng); frames of other link types are left
/// out. A file that cannot be read yields what was read before the error.
pub fn ethernet_frames(path: &std::path::Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let Ok(file) = File::open(path) else {
        return out;
    };
    let reader = BufReader::new(file);
    if path.extension().is_some_and(|e| e == "pcapng") {
        let Ok(mut ng) = PcapNgReader::new(reader) else {
            return out;
        };
        let mut links = Vec::new();
        while let Some(Ok(block)) = ng.next_block() {
            match block {
                Block::InterfaceDescription(idb) => links.push(idb.linktype),
                Block::EnhancedPacket(epb)
                    if links.get(epb.interface_id as usize) == Some(&DataLink::ETHERNET) =>
                {
                    out.push(epb.data.into_owned());
                }
                _ => {}
            }
        }
    } else if let Ok(mut pcap) = PcapReader::new(reader) {
        if pcap.header().datalink != DataLink::ETHERNET {
            return out;
        }
        while let Some(Ok(packet)) = pcap.next_packet() {
            out.push(packet.data.into_owned());
        }
    }
    out
}
