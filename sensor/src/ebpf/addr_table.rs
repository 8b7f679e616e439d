//! The agent's side of an IP rule table (`sensor_common::rule::addr_table`): an
//! open-addressed array of cells the XDP program probes from an address's hash on.
//!
//! The array is mapped into the agent (`BPF_F_MMAPABLE`), so a probe, a scan or a write is
//! memory access, not a system call per cell: listing the rules or asking whether a table
//! is empty reads 4 MiB, not 65,536 map lookups. Cells are read and written with volatile
//! accesses, in an order the program can rely on while it reads them (see [`insert`] and
//! [`remove`]); the program only ever adds to a live cell's hit counter and stamps its last
//! hit.
//!
//! [`insert`]: AddrTable::insert
//! [`remove`]: AddrTable::remove

use std::{
    os::fd::{AsFd as _, AsRawFd as _},
    ptr,
    sync::atomic::{Ordering, fence},
};

use aya::maps::{Map, MapData};
use memmap2::{MmapOptions, MmapRaw};
use sensor_common::{
    AddrRule, RuleValue,
    rule::{addr_hash, addr_table, addr_words},
};

use super::maps::MapsError;

/// Why a rule could not be placed in a table.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlaceError {
    /// Every cell an address may take holds another address.
    #[error(
        "the {} cells this address may take all hold other addresses (the table is \
         crowded near it): remove rules, or block a CIDR instead",
        addr_table::PROBES
    )]
    Crowded,
    /// The unspecified address (`::`) marks an empty cell and cannot be a rule.
    #[error("the unspecified address cannot be a rule's address")]
    Unspecified,
}

/// A mapped IP rule table.
pub struct AddrTable {
    name: &'static str,
    cells: MmapRaw,
    /// The map, whose fd the mapping was made from; kept for as long as the mapping.
    _map: MapData,
}

impl AddrTable {
    /// Maps the program's table `name` (an array of `AddrRule`, created mappable).
    pub fn from_map(map: Map, name: &'static str) -> Result<Self, MapsError> {
        let read = |source| MapsError::Read { name, source };
        let Map::Array(data) = map else {
            return Err(read(aya::maps::MapError::InvalidName {
                name: format!("{name}: not an array"),
            }));
        };
        let info = data.info().map_err(read)?;
        if info.value_size() as usize != size_of::<AddrRule>() {
            return Err(read(aya::maps::MapError::InvalidValueSize {
                size: info.value_size() as usize,
                expected: size_of::<AddrRule>(),
            }));
        }
        if info.max_entries() != addr_table::CELLS || info.map_flags() & addr_table::MAP_FLAGS == 0
        {
            return Err(read(aya::maps::MapError::InvalidName {
                name: format!(
                    "{name}: not a mappable array of {} cells",
                    addr_table::CELLS
                ),
            }));
        }
        let len = addr_table::CELLS as usize * size_of::<AddrRule>();
        let cells = MmapOptions::new()
            .len(len)
            .map_raw(data.fd().as_fd().as_raw_fd())
            .map_err(|e| read(aya::maps::MapError::SyscallError(syscall_error(e))))?;
        Ok(Self {
            name,
            cells,
            _map: data,
        })
    }

    /// The map's name, for errors.
    pub fn name(&self) -> &'static str {
        self.name
    }

    #[expect(
        clippy::cast_ptr_alignment,
        reason = "the mapping is page-aligned and cells are 64 bytes apart"
    )]
    fn cell(&self, index: u32) -> *mut AddrRule {
        let index = (index & (addr_table::CELLS - 1)) as usize;
        // SAFETY: the mapping is `CELLS` cells long and the index is masked below that.
        unsafe { self.cells.as_mut_ptr().cast::<AddrRule>().add(index) }
    }

    fn read(&self, index: u32) -> AddrRule {
        // SAFETY: a cell of the live mapping, page-aligned base and 64-byte stride.
        unsafe { ptr::read_volatile(self.cell(index)) }
    }

    /// The cell holding `addr`, if any.
    fn find(&self, addr: &[u8; 16]) -> Option<u32> {
        let home = addr_hash(addr_words(addr));
        (0..addr_table::PROBES)
            .map(|probe| addr_table::cell(home, probe))
            .find(|&index| self.read(index).addr == *addr)
    }

    /// The rule for `addr`.
    pub fn get(&self, addr: &[u8; 16]) -> Option<RuleValue> {
        if *addr == [0; 16] {
            return None;
        }
        self.find(addr).map(|index| self.read(index).rule)
    }

    /// Writes the rule for `addr`, over its earlier rule if it has one. A new rule goes to
    /// the first empty cell from its hash on, its rule before its address: the program
    /// matches a cell by address, so it never sees the address with half a rule.
    pub fn insert(&mut self, addr: &[u8; 16], rule: RuleValue) -> Result<(), PlaceError> {
        if *addr == [0; 16] {
            return Err(PlaceError::Unspecified);
        }
        let cell = if let Some(index) = self.find(addr) {
            self.cell(index)
        } else {
            let home = addr_hash(addr_words(addr));
            let index = (0..addr_table::PROBES)
                .map(|probe| addr_table::cell(home, probe))
                .find(|&index| self.read(index).addr == [0; 16])
                .ok_or(PlaceError::Crowded)?;
            self.cell(index)
        };
        // SAFETY: a cell of the live mapping; the program reads it concurrently, which the
        // order of the stores (and the fence between them) makes safe to do.
        unsafe {
            ptr::write_volatile(&raw mut (*cell).rule, rule);
            fence(Ordering::Release);
            ptr::write_volatile(&raw mut (*cell).addr, *addr);
        }
        Ok(())
    }

    /// Removes the rule for `addr`; returns whether there was one. Its scope is cleared
    /// first, so the rule stops applying before its cell is emptied.
    pub fn remove(&mut self, addr: &[u8; 16]) -> bool {
        if *addr == [0; 16] {
            return false;
        }
        let Some(index) = self.find(addr) else {
            return false;
        };
        let cell = self.cell(index);
        // SAFETY: as in `insert`.
        unsafe {
            ptr::write_volatile(&raw mut (*cell).rule.scope, 0);
            fence(Ordering::Release);
            ptr::write_volatile(&raw mut (*cell).addr, [0; 16]);
            fence(Ordering::Release);
            ptr::write_volatile(&raw mut (*cell).rule, RuleValue::default());
        }
        true
    }

    /// Every rule, by address.
    pub fn entries(&self) -> Vec<([u8; 16], RuleValue)> {
        (0..addr_table::CELLS)
            .map(|index| self.read(index))
            .filter(|cell| cell.addr != [0; 16])
            .map(|cell| (cell.addr, cell.rule))
            .collect()
    }

    /// Whether the table holds no rule.
    pub fn is_empty(&self) -> bool {
        (0..addr_table::CELLS).all(|index| self.read(index).addr == [0; 16])
    }

    /// Whether the table holds an address of this hash (all of them sit in the cells from
    /// that hash on).
    pub fn holds_hash(&self, hash: u32) -> bool {
        (0..addr_table::PROBES).any(|probe| {
            let cell = self.read(addr_table::cell(hash, probe));
            cell.addr != [0; 16] && addr_hash(addr_words(&cell.addr)) == hash
        })
    }
}

fn syscall_error(io_error: std::io::Error) -> aya::sys::SyscallError {
    aya::sys::SyscallError {
        call: "mmap",
        io_error,
    }
}
