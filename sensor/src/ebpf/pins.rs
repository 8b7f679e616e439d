//! The pin directory's layout: one pin per map (named as in `sensor-common`), and a
//! `links/` directory with one pinned XDP link per interface.

use std::{
    fs,
    path::{Path, PathBuf},
};

use aya::{Ebpf, maps::MapData};
use sensor_common::PINNED_MAPS;
use tracing::{info, warn};

use super::{
    bpffs::{self, BpffsError},
    loader::LoaderError,
    maps::MapsError,
};

/// Maps an older sensor pinned that this one does not have: the new-flow rate guard's
/// window now lives in the program's per-CPU working memory. Removed at load, so the pin
/// directory holds only maps in use and `remove_all` can empty it.
const RETIRED_PINS: [&str; 1] = ["RATE"];

/// The directory of pinned links.
pub fn links_dir(dir: &Path) -> PathBuf {
    dir.join("links")
}

/// The pin of `iface`'s XDP link.
pub fn link_path(dir: &Path, iface: &str) -> PathBuf {
    links_dir(dir).join(iface)
}

/// Makes the directory of a link pin.
pub fn create_links_dir(link: &Path) -> Result<(), BpffsError> {
    let Some(parent) = link.parent() else {
        return Ok(());
    };
    fs::create_dir_all(parent).map_err(|source| BpffsError::Io {
        path: parent.to_path_buf(),
        source,
    })
}

/// Removes the pins of maps this sensor no longer has, and every pin whose map differs in
/// type, key size, value size, size or flags from the map the program about to load
/// declares. Rules in a replaced rule map are lost, which is
/// logged as an error: the agent's store restores its own rules on start.
pub fn drop_incompatible(dir: &Path, probe: &Ebpf) -> Result<(), LoaderError> {
    for name in RETIRED_PINS {
        if bpffs::remove_pin(&dir.join(name))? {
            info!(
                map = name,
                "removed the pin of a map this sensor no longer has"
            );
        }
    }
    for name in PINNED_MAPS {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        let Some(fresh) = probe.map(name) else {
            continue;
        };
        let open_err = |source| MapsError::Open {
            name,
            path: path.clone(),
            source,
        };
        let want = MapData::from_id(fresh_id(fresh)?)
            .and_then(|m| m.info())
            .map_err(open_err)?;
        let have = match MapData::from_pin(&path).and_then(|m| m.info()) {
            Ok(info) => info,
            Err(err) => {
                warn!(map = name, error = %err, "unreadable pin; replacing it");
                bpffs::remove_pin(&path)?;
                continue;
            }
        };
        let same = have.map_type().ok() == want.map_type().ok()
            && have.key_size() == want.key_size()
            && have.value_size() == want.value_size()
            && have.max_entries() == want.max_entries()
            && have.map_flags() == want.map_flags();
        if !same {
            if name.starts_with("BLOCK") || name.starts_with("QUARANTINE") || name == "SUSPEND" {
                tracing::error!(
                    map = name,
                    "pinned rule map has another layout (an older sensor?); replacing it \
                     loses its rules until their actions are restored"
                );
            } else {
                warn!(
                    map = name,
                    "pinned map has another layout or size; replacing it"
                );
            }
            bpffs::remove_pin(&path)?;
        }
    }
    Ok(())
}

fn fresh_id(map: &aya::maps::Map) -> Result<u32, LoaderError> {
    let info = super::maps::map_data(map)
        .info()
        .map_err(|source| MapsError::Read {
            name: "probe",
            source,
        })?;
    Ok(info.id())
}

/// Removes every map pin and the (then empty) link directory and pin directory.
pub fn remove_all(dir: &Path) -> Result<(), BpffsError> {
    for name in PINNED_MAPS.iter().chain(&RETIRED_PINS) {
        bpffs::remove_pin(&dir.join(name))?;
    }
    let _ = fs::remove_dir(links_dir(dir));
    let _ = fs::remove_dir(dir);
    Ok(())
}
