//! The agent's side of the address filter (`sensor_common::rule::addr_filter`): the bitmap
//! the XDP program reads before it probes an address in `QUARANTINE_IP` or `BLOCK_IP`.
//!
//! A bit must be set before a packet could need it and may be cleared only when no rule
//! needs it. So a new rule sets its bit after the rule is in its table (one word read and
//! written, nothing else touched); a removal clears the bit only when neither table holds
//! another address of the same hash (all of which sit in the cells from that hash on), and
//! a rebuild from the tables writes only the words that changed, so a word that keeps a bit
//! never loses it, even for a moment. A bit shared by two addresses costs the program one
//! probe in vain.

use aya::maps::{Array, Map, MapData};
use sensor_common::{ADDR_FILTER_MAP, rule::addr_filter};

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

    /// Sets the bit of an address hash, leaving every other bit as it is.
    pub fn add(&mut self, hash: u32) -> Result<(), MapsError> {
        let (index, bit) = addr_filter::position(hash);
        let word = self.get(index)?;
        if word & bit == 0 {
            self.set(index, word | bit)?;
        }
        Ok(())
    }

    /// Clears the bit of an address hash that no rule needs any more.
    pub fn clear(&mut self, hash: u32) -> Result<(), MapsError> {
        let (index, bit) = addr_filter::position(hash);
        let word = self.get(index)?;
        if word & bit != 0 {
            self.set(index, word & !bit)?;
        }
        Ok(())
    }

    /// Makes the filter hold exactly these address hashes; returns how many words changed.
    pub fn rebuild(&mut self, hashes: impl IntoIterator<Item = u32>) -> Result<usize, MapsError> {
        let mut want = vec![0u64; addr_filter::WORDS as usize];
        for hash in hashes {
            let (index, bit) = addr_filter::position(hash);
            if let Some(word) = want.get_mut(index as usize) {
                *word |= bit;
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

    /// Whether the bit of an address hash is set (for tests and `sensor status`).
    pub fn contains(&self, hash: u32) -> Result<bool, MapsError> {
        let (index, bit) = addr_filter::position(hash);
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
