//! `sensor models list|show|test`: the detection models in effect (shipped, replaced or
//! added by the models directory), one model's file, and one model tried on a capture.

use std::path::PathBuf;

use super::{
    ModelArgs, breaches,
    output::{self, Column},
};
use crate::{
    capture::{replay::replay, sweep::Timeouts},
    detect::{Engine, model::Model},
    devices::Inventory,
    store::{Store, breaches::BreachQuery},
};

/// Arguments of `sensor models`.
#[derive(Debug, clap::Args)]
pub struct ModelsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ModelsCommand,
    #[command(flatten)]
    pub models: ModelArgs,
}

/// `sensor models` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {
    /// List the models in effect.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a model's description and file.
    Show {
        /// The model.
        name: String,
    },
    /// Replay a capture with only this model and print its breaches (needs root).
    Test {
        /// The model.
        name: String,
        /// The capture.
        #[arg(long, value_name = "FILE")]
        pcap: PathBuf,
        /// A network that is inside; repeat for several.
        #[arg(long, value_name = "CIDR", default_values_t = super::run::default_internal())]
        internal: Vec<ipnet::IpNet>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(serde::Serialize)]
struct Row<'a> {
    name: &'a str,
    version: u32,
    detector: &'a str,
    score: u8,
    window: String,
    throttle: String,
    enabled: bool,
    description: &'a str,
}

fn find(models: Vec<Model>, name: &str) -> anyhow::Result<Model> {
    models
        .into_iter()
        .find(|m| m.name == name)
        .ok_or_else(|| anyhow::anyhow!("no model named {name} (see `sensor models list`)"))
}

/// Runs the subcommand.
pub fn models(args: &ModelsArgs) -> anyhow::Result<()> {
    let models = args.models.load()?;
    match &args.command {
        ModelsCommand::List { json } => {
            let rows: Vec<Row<'_>> = models
                .iter()
                .map(|m| Row {
                    name: &m.name,
                    version: m.version,
                    detector: &m.detector,
                    score: m.score,
                    window: humantime::format_duration(m.window).to_string(),
                    throttle: humantime::format_duration(m.throttle).to_string(),
                    enabled: m.enabled,
                    description: m.description.lines().next().unwrap_or(""),
                })
                .collect();
            if *json {
                return Ok(output::json(&rows)?);
            }
            let col = |header, right| Column { header, right };
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.name.to_owned(),
                        r.version.to_string(),
                        r.detector.to_owned(),
                        r.score.to_string(),
                        r.window.clone(),
                        if r.enabled { "yes" } else { "no" }.to_owned(),
                    ]
                })
                .collect();
            output::table(
                &[
                    col("MODEL", false),
                    col("VERSION", true),
                    col("DETECTOR", false),
                    col("SCORE", true),
                    col("WINDOW", false),
                    col("ENABLED", false),
                ],
                &table,
            )?;
            output::line(&format!("{} models", rows.len()))?;
        }
        ModelsCommand::Show { name } => {
            let m = find(models, name)?;
            output::line(m.source.trim_end())?;
        }
        ModelsCommand::Test {
            name,
            pcap,
            internal,
            json,
        } => {
            let mut model = find(models, name)?;
            model.enabled = true;
            let dir =
                std::env::temp_dir().join(format!("sensor-model-test-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let result = (|| -> anyhow::Result<(Vec<crate::detect::Breach>, _)> {
                let mut store = Store::open(&dir.join("sensor.db"))?;
                let engine = Engine::new(vec![model], internal.clone())?;
                replay(
                    std::slice::from_ref(pcap),
                    &mut store,
                    Timeouts::default(),
                    Inventory::new(internal.clone()),
                    Some(engine),
                    |_| {},
                )?;
                Ok((store.breaches(&BreachQuery::default())?, store.devices()?))
            })();
            let _ = std::fs::remove_dir_all(&dir);
            let (found, devices) = result?;
            if *json {
                return Ok(output::json(&found)?);
            }
            breaches::print(&found, true, &breaches::device_names(&devices))?;
            output::line(&format!(
                "{} breaches of {name} in {}",
                found.len(),
                pcap.display()
            ))?;
        }
    }
    Ok(())
}
