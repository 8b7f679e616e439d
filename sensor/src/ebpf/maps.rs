//! Typed handles on the program's maps, opened from a loaded program or from their pins.

use std::{
    borrow::Borrow,
    path::{Path, PathBuf},
};

use aya::maps::{HashMap, Map, MapData, MapError, PerCpuArray};
use sensor_common::{COUNTERS_MAP, Counter, FLOWS_MAP, FlowKey, FlowStats};

/// Why a map could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum MapsError {
    /// No pin at the path: the agent is not running, or uses another pin directory.
    #[error(
        "no pinned map at {path}: is `sensor run` running with this --pin-dir? \
         (start it with `sensor run --iface <IF>`)"
    )]
    NotPinned {
        /// The pin path.
        path: PathBuf,
    },
    /// The pin exists but could not be opened or is of the wrong type.
    #[error("failed to open map `{name}` at {path}")]
    Open {
        /// The map name.
        name: &'static str,
        /// The pin path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: MapError,
    },
    /// A read of the map failed.
    #[error("failed to read map `{name}`")]
    Read {
        /// The map name.
        name: &'static str,
        /// The cause.
        #[source]
        source: MapError,
    },
}

fn open_pinned(dir: &Path, name: &'static str) -> Result<Map, MapsError> {
    let path = dir.join(name);
    if !path.exists() {
        return Err(MapsError::NotPinned { path });
    }
    let open = |source| MapsError::Open {
        name,
        path: path.clone(),
        source,
    };
    let data = MapData::from_pin(&path).map_err(open)?;
    Map::from_map_data(data).map_err(open)
}

/// The flow table (`FLOWS`), owning its map or borrowing it from a loaded program.
#[derive(Debug)]
pub struct FlowTable<T = MapData> {
    map: HashMap<T, FlowKey, FlowStats>,
}

impl FlowTable {
    /// Opens the map pinned under `dir`.
    pub fn open_pinned(dir: &Path) -> Result<Self, MapsError> {
        let map =
            HashMap::try_from(open_pinned(dir, FLOWS_MAP)?).map_err(|source| MapsError::Read {
                name: FLOWS_MAP,
                source,
            })?;
        Ok(Self { map })
    }
}

impl<'a> FlowTable<&'a MapData> {
    /// Borrows the map of a loaded program.
    pub fn borrow(map: &'a Map) -> Result<Self, MapsError> {
        let map = HashMap::try_from(map).map_err(|source| MapsError::Read {
            name: FLOWS_MAP,
            source,
        })?;
        Ok(Self { map })
    }
}

impl<T: Borrow<MapData>> FlowTable<T> {
    /// Every flow in the table. Entries the kernel evicts while the table is walked are
    /// skipped, not reported as errors.
    pub fn entries(&self) -> Result<Vec<(FlowKey, FlowStats)>, MapsError> {
        let mut out = Vec::new();
        for item in &self.map {
            match item {
                Ok(entry) => out.push(entry),
                Err(MapError::KeyNotFound) => {}
                Err(source) => {
                    return Err(MapsError::Read {
                        name: FLOWS_MAP,
                        source,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// The per-CPU counters (`COUNTERS`), owning their map or borrowing it.
pub struct Counters<T = MapData> {
    map: PerCpuArray<T, u64>,
}

impl Counters {
    /// Opens the map pinned under `dir`.
    pub fn open_pinned(dir: &Path) -> Result<Self, MapsError> {
        let map = PerCpuArray::try_from(open_pinned(dir, COUNTERS_MAP)?).map_err(|source| {
            MapsError::Read {
                name: COUNTERS_MAP,
                source,
            }
        })?;
        Ok(Self { map })
    }
}

impl<'a> Counters<&'a MapData> {
    /// Borrows the map of a loaded program.
    pub fn borrow(map: &'a Map) -> Result<Self, MapsError> {
        let map = PerCpuArray::try_from(map).map_err(|source| MapsError::Read {
            name: COUNTERS_MAP,
            source,
        })?;
        Ok(Self { map })
    }
}

impl<T: Borrow<MapData>> Counters<T> {
    /// One counter, summed over CPUs.
    pub fn get(&self, counter: Counter) -> Result<u64, MapsError> {
        let values = self
            .map
            .get(&counter.slot(), 0)
            .map_err(|source| MapsError::Read {
                name: COUNTERS_MAP,
                source,
            })?;
        Ok(values.iter().sum())
    }

    /// Every counter, summed over CPUs, in slot order.
    pub fn all(&self) -> Result<Vec<(Counter, u64)>, MapsError> {
        Counter::ALL
            .iter()
            .map(|&c| Ok((c, self.get(c)?)))
            .collect()
    }
}
