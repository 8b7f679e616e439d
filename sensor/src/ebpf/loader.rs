//! Loading the XDP program, attaching it to interfaces, and pinning its maps.
//!
//! Attachment prefers native (driver) XDP and falls back to generic (skb) XDP with a log line
//! when the driver refuses; `--mode` can demand one or the other. Links are owned by the
//! [`Datapath`]: dropping it, or the process dying, detaches the program. Pins are removed on
//! drop; pins left by an agent that died are removed and replaced on the next start.

use std::{
    fmt,
    path::{Path, PathBuf},
};

use aya::{
    Ebpf, EbpfError, EbpfLoader,
    maps::{Map, MapData},
    programs::{ProgramError, TestRun, TestRunOptions, Xdp, XdpMode},
};
use sensor_common::{COUNTERS_MAP, FLOWS_MAP, FLOWS_MAX_ENTRIES, XDP_PROGRAM};
use tracing::{info, warn};

use super::{
    bpffs::{self, BpffsError},
    maps::{Counters, FlowTable, MapsError},
};

/// Why the data path could not be brought up.
#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    /// The binary carries no object.
    #[error(
        "this sensor binary was built with SENSOR_EBPF_STUB=1 and carries no XDP program; \
         rebuild it without that variable"
    )]
    StubObject,
    /// The kernel refused the object (the verifier log is in the source).
    #[error("failed to load the XDP program")]
    Load(#[source] EbpfError),
    /// The object lacks a program or map it should have.
    #[error("the eBPF object has no {what} named `{name}`")]
    Missing {
        /// "program" or "map".
        what: &'static str,
        /// Its name.
        name: &'static str,
    },
    /// A program operation failed.
    #[error("failed to {action} the XDP program")]
    Program {
        /// What was being done.
        action: &'static str,
        /// The cause.
        #[source]
        source: ProgramError,
    },
    /// Attaching to an interface failed in every allowed mode.
    #[error("failed to attach the XDP program to {iface} in {mode} mode")]
    Attach {
        /// The interface.
        iface: String,
        /// The last mode tried.
        mode: Attached,
        /// The cause.
        #[source]
        source: ProgramError,
    },
    /// A map handle failed.
    #[error(transparent)]
    Maps(#[from] MapsError),
    /// The pin directory is unusable.
    #[error(transparent)]
    Bpffs(#[from] BpffsError),
    /// Pinning a map failed.
    #[error("failed to pin map `{name}` at {path}")]
    Pin {
        /// The map.
        name: &'static str,
        /// The pin path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: aya::pin::PinError,
    },
}

/// Which XDP modes `attach` may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AttachMode {
    /// Native if the driver supports it, else generic.
    #[default]
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (skb) mode only: works on any interface, slower.
    Generic,
}

/// The mode an interface ended up in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Attached {
    /// Driver mode.
    Native,
    /// skb mode.
    Generic,
}

impl fmt::Display for Attached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Native => "native",
            Self::Generic => "generic",
        })
    }
}

/// How to load the program.
#[derive(Clone, Copy, Debug)]
pub struct LoadOptions {
    /// Entries in the flow table.
    pub flow_table_size: u32,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            flow_table_size: FLOWS_MAX_ENTRIES,
        }
    }
}

/// The loaded program and its maps.
pub struct Datapath {
    ebpf: Ebpf,
    /// Taken out of `ebpf` so typed handles can borrow them while the program is used.
    flows: Map,
    counters: Map,
    pins: Vec<PathBuf>,
}

impl fmt::Debug for Datapath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Datapath")
            .field("pins", &self.pins)
            .finish_non_exhaustive()
    }
}

impl Datapath {
    /// Loads the embedded program into the kernel (not yet attached anywhere).
    pub fn load(options: LoadOptions) -> Result<Self, LoaderError> {
        Self::load_object(super::object()?, options)
    }

    /// Loads a given object; the tests use this with the embedded one.
    pub fn load_object(object: &[u8], options: LoadOptions) -> Result<Self, LoaderError> {
        let mut ebpf = EbpfLoader::new()
            .map_max_entries(FLOWS_MAP, options.flow_table_size)
            .load(object)
            .map_err(LoaderError::Load)?;
        program(&mut ebpf)?
            .load()
            .map_err(|source| LoaderError::Program {
                action: "verify and load",
                source,
            })?;
        let mut take = |name| {
            ebpf.take_map(name)
                .ok_or(LoaderError::Missing { what: "map", name })
        };
        let flows = take(FLOWS_MAP)?;
        let counters = take(COUNTERS_MAP)?;
        // Fail now, not on first use, if the object's maps have unexpected types.
        FlowTable::borrow(&flows)?;
        Counters::borrow(&counters)?;
        Ok(Self {
            ebpf,
            flows,
            counters,
            pins: Vec::new(),
        })
    }

    /// Attaches the program to `iface`, falling back from native to generic mode if `mode`
    /// allows it.
    pub fn attach(&mut self, iface: &str, mode: AttachMode) -> Result<Attached, LoaderError> {
        let prog = program(&mut self.ebpf)?;
        if mode != AttachMode::Generic {
            match prog.attach(iface, XdpMode::Driver) {
                Ok(_) => return Ok(Attached::Native),
                Err(source) if mode == AttachMode::Native => {
                    return Err(LoaderError::Attach {
                        iface: iface.to_owned(),
                        mode: Attached::Native,
                        source,
                    });
                }
                Err(err) => warn!(
                    iface,
                    error = %err,
                    "native XDP refused; falling back to generic (skb) mode, which is slower"
                ),
            }
        }
        prog.attach(iface, XdpMode::Skb)
            .map_err(|source| LoaderError::Attach {
                iface: iface.to_owned(),
                mode: Attached::Generic,
                source,
            })?;
        Ok(Attached::Generic)
    }

    /// Pins the maps under `dir`, replacing pins an earlier agent left behind.
    pub fn pin(&mut self, dir: &Path) -> Result<(), LoaderError> {
        bpffs::prepare(dir)?;
        for (name, pin) in [(FLOWS_MAP, &self.flows), (COUNTERS_MAP, &self.counters)] {
            let path = dir.join(name);
            if bpffs::remove_pin(&path)? {
                info!(path = %path.display(), "removed a stale pin left by an earlier agent");
            }
            pin.pin(&path).map_err(|source| LoaderError::Pin {
                name,
                path: path.clone(),
                source,
            })?;
            self.pins.push(path);
        }
        Ok(())
    }

    /// The flow table.
    pub fn flows(&self) -> Result<FlowTable<&MapData>, LoaderError> {
        Ok(FlowTable::borrow(&self.flows)?)
    }

    /// The counters.
    pub fn counters(&self) -> Result<Counters<&MapData>, LoaderError> {
        Ok(Counters::borrow(&self.counters)?)
    }

    /// Runs the program once on `packet` with `BPF_PROG_TEST_RUN` and returns its verdict.
    pub fn test_run(&mut self, packet: &[u8]) -> Result<u32, LoaderError> {
        let opts = TestRunOptions {
            data_in: Some(packet),
            ..TestRunOptions::default()
        };
        let result =
            program(&mut self.ebpf)?
                .test_run(opts)
                .map_err(|source| LoaderError::Program {
                    action: "test-run",
                    source,
                })?;
        Ok(result.return_value)
    }
}

impl Drop for Datapath {
    fn drop(&mut self) {
        for path in &self.pins {
            if let Err(err) = bpffs::remove_pin(path) {
                warn!(path = %path.display(), error = %err, "failed to remove pin");
            }
        }
    }
}

fn program(ebpf: &mut Ebpf) -> Result<&mut Xdp, LoaderError> {
    let missing = LoaderError::Missing {
        what: "program",
        name: XDP_PROGRAM,
    };
    let prog = ebpf.program_mut(XDP_PROGRAM).ok_or(missing)?;
    prog.try_into().map_err(|source| LoaderError::Program {
        action: "find",
        source,
    })
}
