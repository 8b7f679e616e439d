//! Loading the XDP program, attaching it, and keeping it attached across agent restarts.
//!
//! With a pin directory the maps live on the bpf filesystem by name and are reused by the
//! next agent (rules, flows and counters survive a restart; a pin whose layout no longer
//! matches, left by another version, is replaced with a warning). Each interface's XDP link
//! is pinned too, so the program stays attached and keeps enforcing rules while no agent
//! runs; a new agent swaps its program into the existing link atomically, with no moment
//! unenforced. [`Datapath::shutdown`] decides whether to let go.
//!
//! Attachment prefers native (driver) XDP and falls back to generic (skb) XDP with a log line
//! when the driver refuses; `--mode` can demand one or the other.

use std::{
    collections::BTreeMap,
    fmt, fs,
    path::{Path, PathBuf},
};

use aya::{
    Ebpf, EbpfError, EbpfLoader,
    maps::{Map, MapData, RingBuf},
    programs::{
        ProgramError, TestRun, TestRunOptions, Xdp, XdpMode,
        links::{FdLink, PinnedLink},
        xdp::XdpLink,
    },
};
use sensor_common::{
    COUNTERS_MAP, Config, EVENTS_BYTES, EVENTS_MAP, FLOWS_MAP, FLOWS_MAX_ENTRIES, PINNED_MAPS,
    XDP_PROGRAM, XDP_PROGRAM_LINEAR,
};
use tracing::{info, warn};

use super::{
    bpffs::{self, BpffsError},
    maps::{ConfigMap, Counters, FlowTable, MapsError, clone_map},
    pins,
    rules::Rules,
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
    /// A link pin could not be made, read or removed.
    #[error("failed to {action} the pinned XDP link of {iface} at {path}")]
    Link {
        /// What was being done.
        action: &'static str,
        /// The interface.
        iface: String,
        /// The pin.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A map handle failed.
    #[error(transparent)]
    Maps(#[from] MapsError),
    /// The pin directory is unusable.
    #[error(transparent)]
    Bpffs(#[from] BpffsError),
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

/// How an interface ended up attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Attached {
    /// Driver mode.
    Native,
    /// skb mode.
    Generic,
    /// Swapped into the link an earlier agent left pinned (its mode is kept).
    Replaced,
}

impl fmt::Display for Attached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Native => "native",
            Self::Generic => "generic",
            Self::Replaced => "replaced",
        })
    }
}

/// How to load the program.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Entries in the flow table.
    pub flow_table_size: u32,
    /// Bytes of the event ring buffer (a power of two, at least a page).
    pub events_bytes: u32,
    /// Where maps and links are pinned; `None` keeps everything private to this process
    /// (the verdict tests).
    pub pin_dir: Option<PathBuf>,
    /// Load the program for frames that may span several buffers (`XDP_PROGRAM`: jumbo
    /// MTUs, `sensor replay` of frames longer than a page), which asks the kernel for every
    /// frame's length; otherwise the one for frames that fit a buffer
    /// (`XDP_PROGRAM_LINEAR`), which the kernel never hands a longer frame.
    pub multi_buffer: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            flow_table_size: FLOWS_MAX_ENTRIES,
            events_bytes: EVENTS_BYTES,
            pin_dir: None,
            multi_buffer: true,
        }
    }
}

/// What to do with the kernel side when the agent stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// Detach from every interface and remove every pin.
    Detach,
    /// Leave the program attached and the maps pinned, so rules keep being enforced (and
    /// expire on time) until a new agent takes over or `sensor detach` is run.
    KeepEnforcing,
}

/// The loaded program and its maps.
pub struct Datapath {
    ebpf: Ebpf,
    /// The program loaded (`XDP_PROGRAM` or `XDP_PROGRAM_LINEAR`).
    program: &'static str,
    maps: BTreeMap<&'static str, Map>,
    pin_dir: Option<PathBuf>,
    /// Pinned links by interface; dropping one closes our fd but leaves the link in place.
    links: Vec<(String, PinnedLink)>,
    shutdown: Shutdown,
}

impl fmt::Debug for Datapath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Datapath")
            .field("pin_dir", &self.pin_dir)
            .field("links", &self.links.len())
            .finish_non_exhaustive()
    }
}

impl Datapath {
    /// Loads the embedded program into the kernel (not yet attached anywhere).
    pub fn load(options: &LoadOptions) -> Result<Self, LoaderError> {
        Self::load_object(super::object()?, options)
    }

    /// Loads a given object.
    pub fn load_object(object: &[u8], options: &LoadOptions) -> Result<Self, LoaderError> {
        if let Some(dir) = &options.pin_dir {
            bpffs::prepare(dir)?;
            // Load once without pins to learn the maps' layouts, and replace any pin that
            // does not match them (an older sensor's), before reusing the rest.
            let probe = load_with(object, options, None)?;
            pins::drop_incompatible(dir, &probe)?;
        }
        let mut ebpf = load_with(object, options, options.pin_dir.as_deref())?;
        let name = if options.multi_buffer {
            XDP_PROGRAM
        } else {
            XDP_PROGRAM_LINEAR
        };
        program(&mut ebpf, name)?
            .load()
            .map_err(|source| LoaderError::Program {
                action: "verify and load",
                source,
            })?;
        let mut maps = BTreeMap::new();
        for name in PINNED_MAPS {
            let map = ebpf
                .take_map(name)
                .ok_or(LoaderError::Missing { what: "map", name })?;
            maps.insert(name, map);
        }
        let datapath = Self {
            ebpf,
            program: name,
            maps,
            pin_dir: options.pin_dir.clone(),
            links: Vec::new(),
            shutdown: Shutdown::Detach,
        };
        // Fail now, not on first use, if the object's maps have unexpected types.
        datapath.flows()?;
        datapath.counters()?;
        // The program reads its settings in place: a fresh settings map (all zeros: events
        // off, no new-flow cap) gets the defaults. Settings an earlier agent left in a
        // pinned map stay.
        let mut config = datapath.config_map()?;
        if config.get()? == Config::default() {
            config.set(&Config::new())?;
        }
        // Rules an earlier agent left in pinned maps must be in force from the moment this
        // program is attached: their address filter bits and active classes are derived
        // state, so derive them again (an older agent may not have kept them).
        let mut rules = datapath.rules()?;
        rules.rebuild_addr_filter()?;
        rules.refresh_active()?;
        Ok(datapath)
    }

    /// Attaches the program to `iface`. If an earlier agent left a pinned link there, the
    /// program is swapped into it; otherwise native mode is tried first and generic used if
    /// `mode` allows. With a pin directory the new link is pinned.
    pub fn attach(&mut self, iface: &str, mode: AttachMode) -> Result<Attached, LoaderError> {
        let link_pin = self.pin_dir.as_ref().map(|d| pins::link_path(d, iface));
        if let Some(path) = link_pin.as_ref().filter(|p| p.exists()) {
            return self.replace(iface, path);
        }
        let prog = program(&mut self.ebpf, self.program)?;
        let (link_id, attached) = attach_new(prog, iface, mode)?;
        if let Some(path) = link_pin {
            let link = prog
                .take_link(link_id)
                .map_err(|source| LoaderError::Program {
                    action: "take the link of",
                    source,
                })?;
            match FdLink::try_from(link) {
                Ok(fd_link) => {
                    pins::create_links_dir(&path)?;
                    let pinned = fd_link.pin(&path).map_err(|e| LoaderError::Link {
                        action: "pin",
                        iface: iface.to_owned(),
                        path: path.clone(),
                        source: Box::new(e),
                    })?;
                    self.links.push((iface.to_owned(), pinned));
                }
                Err(err) => warn!(
                    iface,
                    error = %err,
                    "the kernel attached through netlink, not a bpf_link; the program will \
                     detach when the agent exits"
                ),
            }
        }
        Ok(attached)
    }

    fn replace(&mut self, iface: &str, path: &Path) -> Result<Attached, LoaderError> {
        let link_err =
            |action, source: Box<dyn std::error::Error + Send + Sync>| LoaderError::Link {
                action,
                iface: iface.to_owned(),
                path: path.to_path_buf(),
                source,
            };
        let pinned = PinnedLink::from_pin(path).map_err(|e| link_err("open", Box::new(e)))?;
        let xdp_link =
            XdpLink::try_from(FdLink::from(pinned)).map_err(|e| link_err("use", Box::new(e)))?;
        let prog = program(&mut self.ebpf, self.program)?;
        let link_id = prog
            .attach_to_link(xdp_link)
            .map_err(|source| LoaderError::Program {
                action: "swap in",
                source,
            })?;
        // The link stays pinned at `path`; keep a handle to it for shutdown.
        let _ = prog.take_link(link_id).map(drop);
        let pinned = PinnedLink::from_pin(path).map_err(|e| link_err("reopen", Box::new(e)))?;
        self.links.push((iface.to_owned(), pinned));
        info!(
            iface,
            "took over the XDP link an earlier agent left attached"
        );
        Ok(Attached::Replaced)
    }

    /// Chooses what [`Drop`] does with the kernel side.
    pub fn set_shutdown(&mut self, shutdown: Shutdown) {
        self.shutdown = shutdown;
    }

    /// Writes the program's settings.
    pub fn configure(&self, config: &Config) -> Result<(), LoaderError> {
        Ok(self.config_map()?.set(config)?)
    }

    fn config_map(&self) -> Result<ConfigMap, LoaderError> {
        Ok(ConfigMap::from_map(clone_map(
            self.map(sensor_common::CONFIG_MAP)?,
        )?)?)
    }

    fn map(&self, name: &'static str) -> Result<&Map, LoaderError> {
        self.maps
            .get(name)
            .ok_or(LoaderError::Missing { what: "map", name })
    }

    /// The flow table.
    pub fn flows(&self) -> Result<FlowTable<&MapData>, LoaderError> {
        Ok(FlowTable::borrow(
            self.map(FLOWS_MAP)?,
            self.map(sensor_common::FLOW_CACHE_MAP)?,
        )?)
    }

    /// The flow table with handles of its own, for the sweeper, which removes flows.
    pub fn flow_table(&self) -> Result<FlowTable, LoaderError> {
        Ok(FlowTable::from_maps(
            clone_map(self.map(FLOWS_MAP)?)?,
            clone_map(self.map(sensor_common::FLOW_CACHE_MAP)?)?,
        )?)
    }

    /// The counters with a handle of their own, for the agent's loop.
    pub fn counters_owned(&self) -> Result<Counters, LoaderError> {
        Ok(Counters::from_map(clone_map(self.map(COUNTERS_MAP)?)?)?)
    }

    /// The counters.
    pub fn counters(&self) -> Result<Counters<&MapData>, LoaderError> {
        Ok(Counters::borrow(self.map(COUNTERS_MAP)?)?)
    }

    /// A writer for the rule maps (its own handles on the same maps).
    pub fn rules(&self) -> Result<Rules, LoaderError> {
        let mut open = |name| -> Result<Map, LoaderError> { Ok(clone_map(self.map(name)?)?) };
        Rules::from_maps(&mut open)
    }

    /// A reader of the event ring buffer (its own handle; use one reader at a time).
    pub fn events(&self) -> Result<RingBuf<MapData>, LoaderError> {
        let map = clone_map(self.map(EVENTS_MAP)?)?;
        RingBuf::try_from(map).map_err(|source| {
            LoaderError::Maps(MapsError::Read {
                name: EVENTS_MAP,
                source,
            })
        })
    }

    /// How many instructions the verifier processed to accept the program: the figure its
    /// 1,000,000-instruction budget caps, so tests can watch the headroom left.
    pub fn verified_instructions(&self) -> Result<Option<u32>, LoaderError> {
        let prog: &Xdp = self
            .ebpf
            .program(self.program)
            .ok_or(LoaderError::Missing {
                what: "program",
                name: self.program,
            })?
            .try_into()
            .map_err(|source| LoaderError::Program {
                action: "read the program of",
                source,
            })?;
        let info = prog.info().map_err(|source| LoaderError::Program {
            action: "read the verifier figures of",
            source,
        })?;
        Ok(info.verified_instruction_count())
    }

    /// Runs the program once on `packet` with `BPF_PROG_TEST_RUN` and returns its verdict.
    pub fn test_run(&mut self, packet: &[u8]) -> Result<u32, LoaderError> {
        Ok(self.test_run_timed(packet, 1)?.0)
    }

    /// Runs the program `repeat` times on `packet`; returns the verdict and the kernel's
    /// average time per run (program only, no syscall), for the benchmark.
    pub fn test_run_timed(
        &mut self,
        packet: &[u8],
        repeat: u32,
    ) -> Result<(u32, std::time::Duration), LoaderError> {
        let opts = TestRunOptions {
            data_in: Some(packet),
            repeat,
            ..TestRunOptions::default()
        };
        let result = program(&mut self.ebpf, self.program)?
            .test_run(opts)
            .map_err(|source| LoaderError::Program {
                action: "test-run",
                source,
            })?;
        Ok((result.return_value, result.duration))
    }
}

impl Drop for Datapath {
    fn drop(&mut self) {
        let Some(dir) = self.pin_dir.clone() else {
            return;
        };
        if self.shutdown == Shutdown::KeepEnforcing {
            info!(
                pin_dir = %dir.display(),
                "leaving the XDP program attached and the maps pinned: rules stay enforced"
            );
            return;
        }
        for (iface, link) in self.links.drain(..) {
            if let Err(err) = link.unpin() {
                warn!(iface, error = %err, "failed to remove the pinned XDP link");
            }
        }
        if let Err(err) = pins::remove_all(&dir) {
            warn!(pin_dir = %dir.display(), error = %err, "failed to remove pins");
        }
    }
}

fn load_with(
    object: &[u8],
    options: &LoadOptions,
    pin_dir: Option<&Path>,
) -> Result<Ebpf, LoaderError> {
    let paths: Vec<(&'static str, PathBuf)> = pin_dir
        .map(|d| PINNED_MAPS.iter().map(|&n| (n, d.join(n))).collect())
        .unwrap_or_default();
    let mut loader = EbpfLoader::new();
    loader
        .map_max_entries(FLOWS_MAP, options.flow_table_size)
        .map_max_entries(EVENTS_MAP, options.events_bytes);
    for (name, path) in &paths {
        loader.map_pin_path(name, path.as_path());
    }
    loader.load(object).map_err(LoaderError::Load)
}

fn attach_new(
    prog: &mut Xdp,
    iface: &str,
    mode: AttachMode,
) -> Result<(aya::programs::xdp::XdpLinkId, Attached), LoaderError> {
    if mode != AttachMode::Generic {
        match prog.attach(iface, XdpMode::Driver) {
            Ok(id) => return Ok((id, Attached::Native)),
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
    let id = prog
        .attach(iface, XdpMode::Skb)
        .map_err(|source| LoaderError::Attach {
            iface: iface.to_owned(),
            mode: Attached::Generic,
            source,
        })?;
    Ok((id, Attached::Generic))
}

fn program<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut Xdp, LoaderError> {
    let missing = LoaderError::Missing {
        what: "program",
        name,
    };
    let prog = ebpf.program_mut(name).ok_or(missing)?;
    prog.try_into().map_err(|source| LoaderError::Program {
        action: "find",
        source,
    })
}

/// Removes what an agent left on the kernel side under `dir`: detaches every pinned link
/// and removes every map pin (`sensor detach`).
pub fn detach_all(dir: &Path) -> Result<usize, LoaderError> {
    let mut detached = 0;
    let links = pins::links_dir(dir);
    if let Ok(entries) = fs::read_dir(&links) {
        for entry in entries.flatten() {
            bpffs::remove_pin(&entry.path())?;
            detached += 1;
        }
    }
    pins::remove_all(dir)?;
    Ok(detached)
}
