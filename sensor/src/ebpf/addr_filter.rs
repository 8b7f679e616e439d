//! The agent's side of the address filter (`sensor_common::rule::addr_filter`): the bitmap
//! the XDP program reads before it looks an address up in `QUARANTINE_IP` or `BLOCK_IP`.
//!
//! A bit must be set before a packet could need it and may be cleared only when no rule
//! needs it. So a new rule sets its bit after the rule is in its map (one word read and
//! written, nothing else touched); a removal rebuilds the whole bitmap from the maps' keys
//! and writes only the words that changed, so a word that keeps a bit never loses it, even
//! for a moment. A bit shared by two addresses costs the program one lookup in vain.

use aya::maps::{Array, HashMap, Map, MapData};
use sensor_common::{ADDR_FILTER_MAP, RuleValue, rule::addr_filter};

use super::maps::MapsError;

/// Handle on the filter's array.
pub struct AddrFilter {
    words: Array<MapData, u64>,
}

impl AddrFilter {
    /// Wraps the program's `ADDR_FILTER` map.
    pub fn from_map(map: Map) -> Result<Self, MapsError> {
        let words = Array::try_from(map).map_err(|source| MapsError::Read {
            name: ADDR_FILTER_MAP,
            source,
        })?;
        Ok(Self { words })
    }

    /// Sets the bit of `addr` (IPv4-mapped), leaving every other bit as it is.
    pub fn add(&mut self, addr: &[u8; 16]) -> Result<(), MapsError> {
        let (index, bit) = addr_filter::position(addr_filter::words(addr));
        let word = self.get(index)?;
        if word & bit == 0 {
            self.set(index, word | bit)?;
        }
        Ok(())
    }

    /// Makes the filter hold exactly the addresses the two maps have keys for; returns
    /// how many words changed.
    pub fn rebuild(
        &mut self,
        maps: [&HashMap<MapData, [u8; 16], RuleValue>; 2],
    ) -> Result<usize, MapsError> {
        let mut want = vec![0u64; addr_filter::WORDS as usize];
        for map in maps {
            for key in map.keys() {
                let addr = key.map_err(|source| MapsError::Read {
                    name: "address rules",
                    source,
                })?;
                let (index, bit) = addr_filter::position(addr_filter::words(&addr));
                want[index as usize] |= bit;
            }
        }
        let mut changed = 0;
        for (index, want) in (0u32..).zip(want) {
            if self.get(index)? != want {
                self.set(index, want)?;
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Whether the bit of `addr` is set (for tests and `sensor status`).
    pub fn contains(&self, addr: &[u8; 16]) -> Result<bool, MapsError> {
        let (index, bit) = addr_filter::position(addr_filter::words(addr));
        Ok(self.get(index)? & bit != 0)
    }

    fn get(&self, index: u32) -> Result<u64, MapsError> {
        self.words.get(&index, 0).map_err(|source| MapsError::Read {
            name: ADDR_FILTER_MAP,
            source,
        })
    }

    fn set(&mut self, index: u32, word: u64) -> Result<(), MapsError> {
        self.words
            .set(index, word, 0)
            .map_err(|source| MapsError::Write {
                name: ADDR_FILTER_MAP,
                source,
            })
    }
}
