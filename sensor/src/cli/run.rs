//! `sensor run`: bring up the data path and keep it up until SIGINT or SIGTERM.
//!
//! On stop, the program is detached and the pins removed, unless rules are still live: then
//! the program stays attached and keeps enforcing them (they expire in the kernel on time)
//! until the next agent takes over or `sensor detach` is run. A crash leaves the same state.

use std::{
    fs,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::{
    api::{
        listener::RootOnly,
        routes::{self, ApiState, Paths},
    },
    capture::{
        observe::Observations,
        pipeline::Pipeline,
        sweep::{Sweeper, Timeouts, boot_id},
    },
    config_file::ConfigFile,
    devices::Inventory,
    ebpf::Counters,
    export::{self, runner::ExportCounters},
    response::{ConfigLists, Responder},
    store::Store,
    store::retention::Retention,
    telemetry::AgentStats,
};

use anyhow::Context as _;
use aya::maps::{MapData, RingBuf};
use sensor_common::{Config, Counter, EVENTS_BYTES, FLOWS_MAX_ENTRIES, config};
use tokio::{
    io::{Interest, unix::AsyncFd},
    signal::unix::{Signal, SignalKind, signal},
};
use tracing::{debug, info, warn};

use super::{PinArgs, StateArgs};
use crate::{
    clock::Clock,
    ebpf::{AttachMode, Datapath, LoadOptions, Shutdown},
    instance_lock::InstanceLock,
};

/// How often the event ring is drained.
const DRAIN_INTERVAL: Duration = Duration::from_millis(100);
/// How often ended and idle flows are swept into records.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// The config file read when `--config` is not given, if it exists.
const DEFAULT_CONFIG: &str = "/etc/sensor/sensor.toml";
/// How often the exporters send what is new.
const EXPORT_INTERVAL: Duration = Duration::from_secs(2);
/// How often fusion scores new EDR alerts and matches the combined models.
const FUSION_INTERVAL: Duration = Duration::from_secs(1);
/// How often the baselines are saved (and on stop).
const BASELINE_SAVE_INTERVAL: Duration = Duration::from_mins(5);
/// How often retention runs.
const PRUNE_INTERVAL: Duration = Duration::from_mins(10);

/// Arguments of `sensor run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Interface to watch; repeat for several (a gateway's inside and outside).
    #[arg(long = "iface", value_name = "IF", required = true)]
    pub ifaces: Vec<String>,
    /// XDP mode: native falls back to generic when the driver refuses, unless forced.
    #[arg(long, value_enum, default_value_t = AttachMode::Auto)]
    pub mode: AttachMode,
    /// Entries in the kernel flow table (least recently used flows are evicted when full).
    #[arg(long, value_name = "N", default_value_t = FLOWS_MAX_ENTRIES)]
    pub flow_table_size: u32,
    /// New flows each CPU may insert per second (0: no cap); packets over it pass, counted.
    #[arg(long, value_name = "N", default_value_t = config::DEFAULT_NEW_FLOWS_PER_SEC)]
    pub new_flows_per_sec: u32,
    /// Bytes of the event ring buffer (a power of two).
    #[arg(long, value_name = "BYTES", default_value_t = EVENTS_BYTES)]
    pub events_bytes: u32,
    #[command(flatten)]
    pub pins: PinArgs,
    /// Directory for the agent's runtime files (lock, ready marker, counters, API socket).
    #[arg(long, value_name = "DIR", default_value = "/run/sensor")]
    pub run_dir: PathBuf,
    #[command(flatten)]
    pub state: StateArgs,
    /// A TCP flow that ended (RST, or FIN both ways) is recorded after this long idle.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    pub tcp_closed_timeout: Duration,
    /// Any other TCP flow is recorded after this long idle.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration)]
    pub tcp_timeout: Duration,
    /// A UDP flow is recorded after this long idle.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = duration)]
    pub udp_timeout: Duration,
    /// An ICMP flow (or one of another protocol) is recorded after this long idle.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = duration)]
    pub icmp_timeout: Duration,
    /// A network that is inside (its addresses are devices); repeat for several.
    #[arg(long, value_name = "CIDR", default_values_t = default_internal())]
    pub internal: Vec<ipnet::IpNet>,
    /// Connection records and device events older than this are deleted.
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = duration)]
    pub retention: Duration,
    /// The oldest connection records go first when the database holds more than this.
    #[arg(long, value_name = "BYTES")]
    pub max_db_bytes: Option<u64>,
    /// The API socket (root only). Default: `sensor.sock` in the run directory.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// EDR alerts scoring at least this for rarity (0-100) surface as unusual.
    #[arg(long, value_name = "SCORE", default_value_t = crate::fusion::DEFAULT_SURFACE,
          value_parser = clap::value_parser!(u8).range(0..=100))]
    pub edr_surface: u8,
    /// Breaches scoring at least this start an investigation.
    #[arg(long, value_name = "SCORE", default_value_t = 60,
          value_parser = clap::value_parser!(u8).range(0..=100))]
    pub investigate_score: u8,
    /// Which EDR alerts start an investigation.
    #[arg(long, value_enum, value_name = "WHICH", default_value = "unusual")]
    pub investigate_edr: crate::investigate::triggers::EdrTrigger,
    /// Also serve `/metrics` (and only that) on this TCP address, for Prometheus.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// A network no rule may drop (the gateway itself, the SOC); repeat for several.
    #[arg(long, value_name = "CIDR")]
    pub never_block: Vec<ipnet::IpNet>,
    /// A peer quarantined devices may still reach (a DNS server, an EDR console); repeat
    /// for several.
    #[arg(long, value_name = "CIDR")]
    pub quarantine_allow: Vec<ipnet::IpNet>,
    #[command(flatten)]
    pub models: super::ModelArgs,
    /// The config file (TOML): exporters, EDR connectors, response policies. Default:
    /// `/etc/sensor/sensor.toml` if it exists, else none.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl RunArgs {
    /// The API socket's path.
    pub fn socket_path(&self) -> PathBuf {
        self.socket
            .clone()
            .unwrap_or_else(|| self.run_dir.join("sensor.sock"))
    }
}

/// The default internal networks, for clap.
pub fn default_internal() -> Vec<ipnet::IpNet> {
    crate::devices::DEFAULT_INTERNAL
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// Parses `90s`, `30m`, `2h`, `1h 30m`.
pub fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (write durations like 90s, 30m, 2h)"))
}

/// Loads, configures, attaches, then drains events until a signal.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let _lock = InstanceLock::acquire(&args.run_dir)?;
    let config_file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None if std::path::Path::new(DEFAULT_CONFIG).exists() => {
            ConfigFile::load(std::path::Path::new(DEFAULT_CONFIG))?
        }
        None => ConfigFile::default(),
    };
    let multi_buffer = !crate::ebpf::buffers::fit_one_buffer(&args.ifaces);
    let mut datapath = Datapath::load(&LoadOptions {
        flow_table_size: args.flow_table_size,
        events_bytes: args.events_bytes,
        pin_dir: Some(args.pins.pin_dir.clone()),
        multi_buffer,
    })
    .context("failed to bring up the data path (are you root?)")?;
    info!(
        multi_buffer,
        max_single_buffer_mtu = crate::ebpf::buffers::SINGLE_BUFFER_MAX_MTU,
        "loaded the XDP program for frames {}",
        if multi_buffer {
            "that may span several buffers (an interface's MTU is above the single-buffer limit)"
        } else {
            "that fit one buffer"
        }
    );
    datapath.configure(&Config {
        new_flows_per_sec: args.new_flows_per_sec,
        ..Config::new()
    })?;
    let rules = datapath.rules()?;
    let inherited = rules.live_count(Clock::monotonic_now()?)?;
    if inherited > 0 {
        info!(rules = inherited, "found live rules in the pinned maps");
    }
    // The store is the truth about who owns which rule: make the kernel agree before
    // attaching, so no rule nobody can see is enforced for a moment longer.
    let mut responder = Responder::new(
        datapath.rules()?,
        Store::open(&args.state.db_path())?,
        ConfigLists {
            never_block: args.never_block.clone(),
            quarantine_allow: args.quarantine_allow.clone(),
        },
    );
    let reconciled = responder
        .reconcile()
        .context("failed to reconcile the kernel's rules with the store")?;
    let responder = Arc::new(Mutex::new(responder));
    let responder_for_policies = Arc::clone(&responder);
    for iface in &args.ifaces {
        let mode = datapath.attach(iface, args.mode)?;
        info!(iface = %iface, mode = %mode, "attached XDP program");
    }
    let ready = args.run_dir.join("sensor.ready");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let events = datapath.events()?;
    let mut store = Store::open(&args.state.db_path())?;
    // Rung when an EDR alert or a breach is stored: fusion, investigations and the
    // response policies then run at once instead of on their next tick.
    let wake = Arc::new(tokio::sync::Notify::new());
    let polling = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let pipeline = Pipeline {
        observations: Observations::default(),
        inventory: Inventory::new(args.internal.clone()),
        sweeper: Sweeper::new(
            Timeouts {
                tcp_closed: args.tcp_closed_timeout,
                tcp: args.tcp_timeout,
                udp: args.udp_timeout,
                icmp: args.icmp_timeout,
                other: args.icmp_timeout,
            },
            boot_id(),
        ),
        table: datapath.flow_table()?,
        clock: Clock::new().context("failed to read the system clocks")?,
        engine: args.models.engine(&args.internal, &mut store)?,
        wake: Arc::clone(&wake),
        watcher: Some(crate::response::watch::Watcher::new(
            Arc::clone(&responder),
            args.internal.clone(),
        )),
    };
    if let Some(engine) = &pipeline.engine {
        info!(
            models = engine.model_names().len(),
            "detection models loaded"
        );
    }
    let housekeeping = Housekeeping {
        stats: AgentStats::default(),
        counters: datapath.counters_owned()?,
        baseline: None,
        retention: Retention {
            max_age: chrono::Duration::from_std(args.retention).ok(),
            max_bytes: args.max_db_bytes,
        },
        last_prune: std::time::Instant::now(),
        last_baseline_save: std::time::Instant::now(),
        run_dir: args.run_dir.clone(),
        responder: Arc::clone(&responder),
        exports: Arc::new(ExportCounters::default()),
    };
    let export_counters = Arc::clone(&housekeeping.exports);
    let paths = Paths {
        db_path: args.state.db_path(),
        pin_dir: args.pins.pin_dir.clone(),
        run_dir: args.run_dir.clone(),
    };
    let edr_statuses = crate::edr::connectors::Statuses::default();
    let api_state = ApiState {
        responder,
        paths: paths.clone(),
        edr: Arc::clone(&edr_statuses),
    };
    let socket = args.socket_path();
    let signal = runtime.block_on(async {
        // Watch the signals before saying we are ready, so a stop request that follows
        // readiness at once is handled, not fatal.
        let mut term = signal(SignalKind::terminate()).context("failed to watch SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("failed to watch SIGINT")?;
        let listener = RootOnly::bind(&socket)?;
        let api = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, routes::router(api_state.clone())).await {
                warn!(error = %err, "the API server stopped");
            }
        });
        let exporters = export::runner::spawn_all(
            &config_file.export,
            &args.state.db_path(),
            &export_counters,
            EXPORT_INTERVAL,
        )
        .context("failed to start the exporters")?;
        let connectors = crate::edr::connectors::spawn_all(
            &config_file.edr,
            &args.state.db_path(),
            &edr_statuses,
            &wake,
            &polling,
        )
        .map_err(anyhow::Error::msg)
        .context("failed to start the EDR connectors")?;
        let policies = crate::policy::Policies::new(&config_file.policy, &args.internal);
        info!(policies = ?policies.names(), "response policies in force");
        let fusion = crate::fusion::task::spawn(
            crate::fusion::task::Stages {
                fusion: crate::fusion::Fusion::new(&args.models.load()?, args.edr_surface)?,
                triggers: crate::investigate::triggers::Triggers {
                    breach_score: args.investigate_score,
                    edr: args.investigate_edr,
                    window: crate::investigate::Window::default(),
                },
                policies,
                responder: Arc::clone(&responder_for_policies),
                polling: Arc::clone(&polling),
            },
            args.state.db_path(),
            FUSION_INTERVAL,
            Arc::clone(&wake),
        );
        let metrics = match args.metrics_addr {
            Some(addr) => Some(serve_metrics(addr, paths).await?),
            None => None,
        };
        info!(
            socket = %socket.display(),
            expired = reconciled.expired.len(),
            removed = reconciled.removed.len(),
            restored = reconciled.restored.len(),
            kept = reconciled.kept,
            "API listening; kernel rules reconciled with the store"
        );
        fs::write(&ready, std::process::id().to_string())
            .with_context(|| format!("failed to write {}", ready.display()))?;
        info!(
            interfaces = args.ifaces.len(),
            pin_dir = %args.pins.pin_dir.display(),
            flow_table_size = args.flow_table_size,
            "sensor running; stop with Ctrl-C or SIGTERM"
        );
        let stopped = run_until_signal(
            events,
            pipeline,
            housekeeping,
            &mut store,
            &mut term,
            &mut int,
        )
        .await;
        api.abort();
        for t in exporters.into_iter().chain(connectors).chain([fusion]) {
            t.abort();
        }
        if let Some(m) = metrics {
            m.abort();
        }
        stopped
    })?;
    let _ = fs::remove_file(&socket);
    let live = rules.live_count(Clock::monotonic_now()?)?;
    if live > 0 {
        info!(
            signal,
            rules = live,
            "stopping; live rules keep the XDP program attached"
        );
        datapath.set_shutdown(Shutdown::KeepEnforcing);
    } else {
        info!(
            signal,
            "stopping: detaching the XDP program and removing pins"
        );
    }
    let _ = fs::remove_file(&ready);
    drop(datapath);
    Ok(())
}

/// The agent's loop state beyond the pipeline: its counters, the kernel counters it derives
/// evictions from, retention, and where it reports.
struct Housekeeping {
    stats: AgentStats,
    counters: Counters,
    /// `flow_new + flow_cache_reinsert` and live flows when the agent started.
    baseline: Option<(u64, u64)>,
    retention: Retention,
    last_prune: std::time::Instant,
    last_baseline_save: std::time::Instant,
    run_dir: PathBuf,
    responder: Arc<Mutex<Responder>>,
    exports: Arc<ExportCounters>,
}

impl Housekeeping {
    fn inserted(&self) -> u64 {
        let get = |c| self.counters.get(c).unwrap_or(0);
        get(Counter::FlowNew) + get(Counter::FlowCacheReinsert)
    }

    /// Sweeps, counts, prunes now and then, and reports. Failures are logged and retried on
    /// the next tick (flows stay in the table until their records are committed).
    fn tick(&mut self, pipeline: &mut Pipeline, store: &mut Store) {
        let Ok(now) = Clock::monotonic_now() else {
            return;
        };
        match pipeline.sweep(store, now) {
            Ok(swept) => {
                self.stats.flows_swept += swept.due as u64;
                self.stats.records_written += swept.stored as u64;
                self.stats.breaches += swept.breaches as u64;
                let (inserted0, live0) = *self
                    .baseline
                    .get_or_insert((self.inserted(), swept.live as u64));
                let grown = (swept.live as u64).saturating_sub(live0);
                let evicted = self
                    .inserted()
                    .saturating_sub(inserted0)
                    .saturating_sub(self.stats.flows_swept)
                    .saturating_sub(grown);
                if evicted > self.stats.flows_evicted {
                    warn!(
                        evicted,
                        "flows were evicted from a full flow table before they were recorded; \
                         raise --flow-table-size"
                    );
                }
                self.stats.flows_evicted = self.stats.flows_evicted.max(evicted);
                if swept.due > 0 {
                    debug!(
                        due = swept.due,
                        stored = swept.stored,
                        "swept flows into records"
                    );
                }
            }
            Err(err) => {
                self.stats.sweep_errors += 1;
                warn!(error = %err, "sweep failed; retrying on the next tick");
            }
        }
        if self.last_baseline_save.elapsed() >= BASELINE_SAVE_INTERVAL {
            self.last_baseline_save = std::time::Instant::now();
            if let Some(engine) = &mut pipeline.engine
                && let Err(err) = engine.save(store)
            {
                warn!(error = %err, "failed to save the baselines");
            }
        }
        if self.last_prune.elapsed() >= PRUNE_INTERVAL {
            self.last_prune = std::time::Instant::now();
            match store.prune(&self.retention, chrono::Utc::now()) {
                Ok(pruned) => self.stats.pruned += pruned.connections,
                Err(err) => warn!(error = %err, "retention failed"),
            }
        }
        if let Ok(mut responder) = self.responder.lock()
            && let Err(err) = responder.expire_due(chrono::Utc::now())
        {
            warn!(error = %err, "failed to expire actions; retrying on the next tick");
        }
        if let Some(watcher) = &mut pipeline.watcher {
            watcher.refresh();
        }
        self.stats.payloads_dropped = pipeline.observations.dropped;
        let exported = self.exports.totals();
        self.stats.exported = exported.sent;
        self.stats.export_failures = exported.failed;
        self.stats.updated = Some(chrono::Utc::now());
        if let Err(err) = self.stats.write(&self.run_dir) {
            warn!(error = %err, "failed to write the agent's counters");
        }
    }
}

/// Drains the event ring until SIGINT or SIGTERM; says which signal.
///
/// The program submits events without waking anyone, so a busy gateway costs no wakeup per
/// event: the ring is drained on a timer, and at once when the program forces a wakeup
/// because the ring is half full.
async fn run_until_signal(
    events: RingBuf<MapData>,
    mut pipeline: Pipeline,
    mut housekeeping: Housekeeping,
    store: &mut Store,
    term: &mut Signal,
    int: &mut Signal,
) -> anyhow::Result<&'static str> {
    let mut tick = tokio::time::interval(DRAIN_INTERVAL);
    let mut sweep_every = tokio::time::interval(SWEEP_INTERVAL);
    // SAFETY: the ring buffer owns its map's file descriptor for as long as it lives, and
    // the AsyncFd owns the ring buffer.
    let mut ring = unsafe { AsyncFd::register_with_interest(events, Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
        .context("failed to watch the event ring")?;
    let signal = loop {
        tokio::select! {
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
            _ = tick.tick() => pipeline.drain(ring.get_mut(), store),
            _ = sweep_every.tick() => housekeeping.tick(&mut pipeline, store),
            ready = ring.readable_mut() => {
                let mut guard = ready.context("failed to wait on the event ring")?;
                pipeline.drain(guard.get_inner_mut(), store);
                guard.clear_ready();
            }
        }
    };
    // A restart must not forget what was learned.
    if let Some(engine) = &mut pipeline.engine
        && let Err(err) = engine.save(store)
    {
        warn!(error = %err, "failed to save the baselines");
    }
    Ok(signal)
}

/// Serves `/metrics` alone on a TCP address: Prometheus scrapes over the network, and the
/// rest of the API stays on the root-only socket.
async fn serve_metrics(
    addr: std::net::SocketAddr,
    paths: Paths,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("failed to listen for /metrics on {addr}"))?;
    let router = routes::metrics_router(paths);
    info!(%addr, "serving /metrics");
    Ok(tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router).await {
            warn!(error = %err, "the metrics server stopped");
        }
    }))
}
