//! The agent's own counters: what happens between the kernel and the store, where loss
//! must not be silent either. The agent writes them to `<run dir>/status.json` after every
//! sweep (atomically, by rename), and `sensor status` shows them beside the kernel's.

use std::{
    io,
    path::{Path, PathBuf},
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Counters of the running agent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStats {
    /// When these were written.
    pub updated: Option<DateTime<Utc>>,
    /// Flows swept from the kernel table since the agent started.
    pub flows_swept: u64,
    /// Connection records newly stored since the agent started.
    pub records_written: u64,
    /// Flows the kernel's LRU table evicted before they could be recorded, since the agent
    /// started (new flows, less flows swept, less growth of the table). Non-zero means the
    /// table is too small for this network: raise `--flow-table-size`.
    pub flows_evicted: u64,
    /// First payloads dropped because too many flows were open.
    pub payloads_dropped: u64,
    /// Sweeps that failed (the flows stay in the table and are retried).
    pub sweep_errors: u64,
    /// Connection records removed by retention since the agent started.
    pub pruned: u64,
    /// Breaches the models raised since the agent started.
    #[serde(default)]
    pub breaches: u64,
    /// Records the exporters delivered since the agent started.
    #[serde(default)]
    pub exported: u64,
    /// Export batches that failed and wait for a later round.
    #[serde(default)]
    pub export_failures: u64,
}

/// The file the agent writes its counters to.
pub fn path(run_dir: &Path) -> PathBuf {
    run_dir.join("status.json")
}

impl AgentStats {
    /// Writes the counters, replacing the file atomically.
    pub fn write(&self, run_dir: &Path) -> io::Result<()> {
        let tmp = run_dir.join(".status.json.tmp");
        let json = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(tmp, path(run_dir))
    }

    /// The counters an agent last wrote, if any.
    pub fn read(run_dir: &Path) -> Option<Self> {
        let text = std::fs::read(path(run_dir)).ok()?;
        serde_json::from_slice(&text).ok()
    }
}
