//! `ocr-node plugin ...`: inspect a plugin component.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Subcommand;
use ocr_plugin_api::{Plugin, PluginCallError};
use ocr_plugin_host::{ComponentInfo, EngineOptions, PluginEngine};
use ocr_plugin_sdk::{NoDataSources, PluginConfig, PluginInfo};
use serde::Serialize;

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Show a component's name, world and version, sha256, size, declared
    /// limits and imports. Fails on anything that is not a reporting plugin.
    Inspect {
        /// The component file (.wasm).
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The plugin's offchain config for the factory call that reports the
        /// name and limits: inline text, or @FILE.
        #[arg(long, value_name = "CONFIG|@FILE")]
        offchain_config: Option<String>,
        /// Number of oracles passed to the factory.
        #[arg(long, default_value_t = 4)]
        n: u8,
        /// Faulty oracles passed to the factory.
        #[arg(long, default_value_t = 1)]
        f: u8,
    },
}

#[derive(Serialize)]
struct Limits {
    max_query_length: u32,
    max_observation_length: u32,
    max_outcome_length: u32,
    max_report_length: u32,
    max_report_count: u32,
}

#[derive(Serialize)]
struct Inspection {
    file: PathBuf,
    #[serde(flatten)]
    component: ComponentInfo,
    name: Option<String>,
    limits: Option<Limits>,
    factory_error: Option<String>,
}

pub fn run(command: PluginCommand) -> Result<()> {
    match command {
        PluginCommand::Inspect { file, json, offchain_config, n, f } => {
            let offchain = match offchain_config.as_deref() {
                Some(s) if s.starts_with('@') => {
                    std::fs::read(&s[1..]).with_context(|| format!("reading offchain config {}", &s[1..]))?
                }
                Some(s) => s.as_bytes().to_vec(),
                None => Vec::new(),
            };
            let inspection = inspect(file, PluginConfig::for_tests(n, f, offchain))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&inspection)?);
            } else {
                print_text(&inspection);
            }
            Ok(())
        }
    }
}

fn inspect(file: PathBuf, config: PluginConfig) -> Result<Inspection> {
    let engine = PluginEngine::new(EngineOptions::default())?;
    let loaded =
        engine.load_file(&file).with_context(|| format!("{} is not a usable reporting plugin", file.display()))?;
    let component = loaded.component_info().clone();
    let (name, limits, factory_error) = match loaded.instantiate(&config, Arc::new(NoDataSources)) {
        Ok(mut plugin) => {
            let PluginInfo { name, limits } = plugin.info().clone();
            let _ = plugin.close();
            let limits = Limits {
                max_query_length: limits.max_query_length,
                max_observation_length: limits.max_observation_length,
                max_outcome_length: limits.max_outcome_length,
                max_report_length: limits.max_report_length,
                max_report_count: limits.max_report_count,
            };
            (Some(name), Some(limits), None)
        }
        Err(PluginCallError::Guest { error, .. }) => (None, None, Some(error.to_string())),
        Err(other) => (None, None, Some(other.to_string())),
    };
    Ok(Inspection { file, component, name, limits, factory_error })
}

fn print_text(i: &Inspection) {
    println!("file:       {}", i.file.display());
    println!("name:       {}", i.name.as_deref().unwrap_or("(unknown: the factory did not run)"));
    println!("world:      {}", i.component.world);
    println!("version:    {}", i.component.contract_version);
    println!("sha256:     {}", i.component.sha256);
    println!("size:       {} bytes", i.component.size);
    match (&i.limits, &i.factory_error) {
        (Some(l), _) => {
            println!("limits:");
            println!("  max query length:       {}", l.max_query_length);
            println!("  max observation length: {}", l.max_observation_length);
            println!("  max outcome length:     {}", l.max_outcome_length);
            println!("  max report length:      {}", l.max_report_length);
            println!("  max report count:       {}", l.max_report_count);
        }
        (None, Some(e)) => {
            println!("limits:     unknown: the factory refused the config ({e}); pass --offchain-config")
        }
        (None, None) => {}
    }
    println!("imports:");
    for import in &i.component.imports {
        println!("  {import}");
    }
    println!("exports:");
    for export in &i.component.exports {
        println!("  {export}");
    }
}
