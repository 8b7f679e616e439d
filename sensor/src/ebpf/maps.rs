//! Typed handles on the program's maps, opened from a loaded program or from their pins.

use std::{
    borrow::Borrow,
    path::{Path, PathBuf},
};

use aya::maps::{Array, HashMap, Map, MapData, MapError, PerCpuArray};
use sensor_common::{
    CONFIG_MAP, COUNTER_SLOTS, COUNTERS_MAP, Config, Counter, FLOW_CACHE_MAP, FLOWS_MAP,
    FlowCacheSlot, FlowKey, FlowStats,
};

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
    /// A write to the map failed.
    #[error("failed to write map `{name}`")]
    Write {
        /// The map name.
        name: &'static str,
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

/// The `MapData` inside any kind of [`Map`].
pub fn map_data(map: &Map) -> &MapData {
    match map {
        Map::Array(m)
        | Map::ArrayOfMaps(m)
        | Map::BloomFilter(m)
        | Map::CgroupArray(m)
        | Map::CgroupStorage(m)
        | Map::CgrpStorage(m)
        | Map::CpuMap(m)
        | Map::DevMap(m)
        | Map::DevMapHash(m)
        | Map::HashMap(m)
        | Map::HashOfMaps(m)
        | Map::InodeStorage(m)
        | Map::LpmTrie(m)
        | Map::LruHashMap(m)
        | Map::PerCpuArray(m)
        | Map::PerCpuCgroupStorage(m)
        | Map::PerCpuHashMap(m)
        | Map::PerCpuLruHashMap(m)
        | Map::PerfEventArray(m)
        | Map::ProgramArray(m)
        | Map::Queue(m)
        | Map::ReusePortSockArray(m)
        | Map::RingBuf(m)
        | Map::SockHash(m)
        | Map::SockMap(m)
        | Map::SkStorage(m)
        | Map::Stack(m)
        | Map::StackTraceMap(m)
        | Map::Unsupported(m)
        | Map::XskMap(m) => m,
    }
}

/// A second handle (its own file descriptor) on the same kernel map, so a typed handle
/// can own it while the loader keeps the first.
pub fn clone_map(map: &Map) -> Result<Map, MapsError> {
    let read = |source| MapsError::Read {
        name: "clone",
        source,
    };
    let id = map_data(map).info().map_err(read)?.id();
    let data = MapData::from_id(id).map_err(read)?;
    Map::from_map_data(data).map_err(read)
}

/// Opens the map `name` pinned under `dir`.
pub fn open_pinned(dir: &Path, name: &'static str) -> Result<Map, MapsError> {
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

/// The flow table (`FLOWS`) and the per-CPU write-back cache in front of it
/// (`FLOW_CACHE`), owning their maps or borrowing them from a loaded program.
pub struct FlowTable<T = MapData> {
    map: HashMap<T, FlowKey, FlowStats>,
    cache: PerCpuArray<T, FlowCacheSlot>,
}

impl FlowTable {
    /// Opens the maps pinned under `dir`.
    pub fn open_pinned(dir: &Path) -> Result<Self, MapsError> {
        let read = |name| move |source| MapsError::Read { name, source };
        Ok(Self {
            map: HashMap::try_from(open_pinned(dir, FLOWS_MAP)?).map_err(read(FLOWS_MAP))?,
            cache: PerCpuArray::try_from(open_pinned(dir, FLOW_CACHE_MAP)?)
                .map_err(read(FLOW_CACHE_MAP))?,
        })
    }
}

impl FlowTable {
    /// Takes ownership of the two maps (handles of the agent's own, from `clone_map`).
    pub fn from_maps(map: Map, cache: Map) -> Result<Self, MapsError> {
        let read = |name| move |source| MapsError::Read { name, source };
        Ok(Self {
            map: HashMap::try_from(map).map_err(read(FLOWS_MAP))?,
            cache: PerCpuArray::try_from(cache).map_err(read(FLOW_CACHE_MAP))?,
        })
    }

    /// Removes flows from the table, and from every CPU's cache slot that holds them (so a
    /// later write-back cannot bring them back). A packet the kernel counts in the very
    /// moment a slot is cleared is lost; the sweeper only removes idle flows.
    pub fn forget(&mut self, keys: &[FlowKey]) -> Result<usize, MapsError> {
        let mut removed = 0;
        for key in keys {
            match self.map.remove(key) {
                Ok(()) => removed += 1,
                Err(MapError::KeyNotFound) => {}
                Err(source) => {
                    return Err(MapsError::Write {
                        name: FLOWS_MAP,
                        source,
                    });
                }
            }
            let index = key.cache_slot();
            let write = |source| MapsError::Write {
                name: FLOW_CACHE_MAP,
                source,
            };
            let mut slots: Vec<FlowCacheSlot> = self.cache.get(&index, 0).map_err(write)?.to_vec();
            let mut touched = false;
            for slot in &mut slots {
                if slot.valid != 0 && slot.key == *key {
                    *slot = FlowCacheSlot::default();
                    touched = true;
                }
            }
            // The vector came from the map, so it has one value per possible CPU.
            if touched && let Ok(values) = aya::maps::PerCpuValues::try_from(slots) {
                self.cache.set(index, values, 0).map_err(write)?;
            }
        }
        Ok(removed)
    }
}

impl<'a> FlowTable<&'a MapData> {
    /// Borrows the maps of a loaded program.
    pub fn borrow(map: &'a Map, cache: &'a Map) -> Result<Self, MapsError> {
        let read = |name| move |source| MapsError::Read { name, source };
        Ok(Self {
            map: HashMap::try_from(map).map_err(read(FLOWS_MAP))?,
            cache: PerCpuArray::try_from(cache).map_err(read(FLOW_CACHE_MAP))?,
        })
    }
}

impl<T: Borrow<MapData>> FlowTable<T> {
    /// Every flow, with the deltas still pending in each CPU's cache added. Entries the
    /// kernel evicts while the table is walked are skipped, not reported as errors.
    pub fn entries(&self) -> Result<Vec<(FlowKey, FlowStats)>, MapsError> {
        let mut flows: std::collections::HashMap<FlowKey, FlowStats> =
            std::collections::HashMap::new();
        for item in &self.map {
            match item {
                Ok((key, stats)) => {
                    flows.insert(key, stats);
                }
                Err(MapError::KeyNotFound) => {}
                Err(source) => {
                    return Err(MapsError::Read {
                        name: FLOWS_MAP,
                        source,
                    });
                }
            }
        }
        for item in self.cache.iter() {
            let per_cpu = item.map_err(|source| MapsError::Read {
                name: FLOW_CACHE_MAP,
                source,
            })?;
            for slot in per_cpu.iter() {
                if slot.valid == 0 || slot.packets == [0, 0] {
                    continue;
                }
                let stats = flows.entry(slot.key).or_insert_with(|| FlowStats {
                    first_seen_ns: slot.last_seen_ns,
                    tcp_flags: slot.tcp_flags,
                    ..FlowStats::default()
                });
                for i in 0..2 {
                    stats.packets[i] += slot.packets[i];
                    stats.bytes[i] += slot.bytes[i];
                }
                stats.last_seen_ns = stats.last_seen_ns.max(slot.last_seen_ns);
            }
        }
        Ok(flows.into_iter().collect())
    }
}

/// The per-CPU counters (`COUNTERS`), owning their map or borrowing it.
pub struct Counters<T = MapData> {
    map: PerCpuArray<T, [u64; COUNTER_SLOTS as usize]>,
}

impl Counters {
    /// Takes ownership of the map.
    pub fn from_map(map: Map) -> Result<Self, MapsError> {
        let map = PerCpuArray::try_from(map).map_err(|source| MapsError::Read {
            name: COUNTERS_MAP,
            source,
        })?;
        Ok(Self { map })
    }

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
    /// Every slot, summed over CPUs.
    fn slots(&self) -> Result<Vec<u64>, MapsError> {
        let per_cpu = self.map.get(&0, 0).map_err(|source| MapsError::Read {
            name: COUNTERS_MAP,
            source,
        })?;
        let mut sums = vec![0u64; COUNTER_SLOTS as usize];
        for cpu in per_cpu.iter() {
            for (sum, v) in sums.iter_mut().zip(cpu) {
                *sum = sum.wrapping_add(*v);
            }
        }
        Ok(sums)
    }

    /// One counter, summed over CPUs.
    pub fn get(&self, counter: Counter) -> Result<u64, MapsError> {
        Ok(self
            .slots()?
            .get(counter.slot() as usize)
            .copied()
            .unwrap_or(0))
    }

    /// Every counter, summed over CPUs, in slot order.
    pub fn all(&self) -> Result<Vec<(Counter, u64)>, MapsError> {
        let slots = self.slots()?;
        Ok(Counter::ALL
            .iter()
            .map(|&c| (c, slots.get(c.slot() as usize).copied().unwrap_or(0)))
            .collect())
    }
}

/// The single-entry settings array (`CONFIG`).
pub struct ConfigMap {
    map: Array<MapData, Config>,
}

impl ConfigMap {
    /// Wraps an owned map.
    pub fn from_map(map: Map) -> Result<Self, MapsError> {
        let map = Array::try_from(map).map_err(|source| MapsError::Read {
            name: CONFIG_MAP,
            source,
        })?;
        Ok(Self { map })
    }

    /// The current settings.
    pub fn get(&self) -> Result<Config, MapsError> {
        self.map.get(&0, 0).map_err(|source| MapsError::Read {
            name: CONFIG_MAP,
            source,
        })
    }

    /// Replaces the settings.
    pub fn set(&mut self, config: &Config) -> Result<(), MapsError> {
        self.map
            .set(0, config, 0)
            .map_err(|source| MapsError::Write {
                name: CONFIG_MAP,
                source,
            })
    }
}
