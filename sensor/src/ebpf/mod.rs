//! Everything that touches aya: the embedded object, loading and attaching it, pinning and
//! reading its maps. The rest of the agent sees the typed handles in [`maps`].
//!
//! # Minimum kernel version
//! 5.18 for `bpf_xdp_load_bytes` (payload snippets); 5.11 for `bpf_ktime_get_coarse_ns`;
//! 5.5 for mappable arrays (the IP rule tables);
//! 5.9 for bpf_link-based XDP attachment, which pinned links need. Developed and tested on
//! 6.18.

pub mod addr_filter;
pub mod addr_table;
pub mod bpffs;
pub mod buffers;
pub mod loader;
pub mod maps;
pub mod pins;
pub mod rules;
pub mod target;

pub use loader::{AttachMode, Attached, Datapath, LoadOptions, LoaderError, Shutdown, detach_all};
pub use maps::{Counters, FlowTable, MapsError};
pub use rules::{Endpoint, Rule, RuleError, Rules, Target};

/// The XDP program, built by `build.rs` through `xtask`. Empty when built with
/// `SENSOR_EBPF_STUB=1`.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sensor-ebpf"));

/// The embedded eBPF object, or an error if this binary was built with the stub.
pub fn object() -> Result<&'static [u8], LoaderError> {
    if OBJECT.is_empty() {
        Err(LoaderError::StubObject)
    } else {
        Ok(OBJECT)
    }
}

/// The default directory the maps are pinned in; `bpftool map dump pinned` reads them there.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/sensor";
