//! `ocr-node plugin ...`: inspect a component file, and list, add, remove
//! and inspect the plugins of a node, through its admin API while it runs
//! or, with `--offline`, in its store directly while it is stopped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use ocr_node::admin_client::AdminClient;
use ocr_node::config::network::NetworkConfig;
use ocr_node::config::node::NodeConfig;
use ocr_node::plugin_store::{PluginStore, parse_sha256};
use ocr_node::storage::SledStorage;
use ocr_plugin_api::{Plugin, PluginCallError};
use ocr_plugin_host::{ComponentInfo, EngineOptions, PluginEngine};
use ocr_plugin_sdk::{NoDataSources, PluginConfig, PluginInfo};
use serde::Serialize;
use serde_json::Value;

/// Which node's plugins.
#[derive(Args)]
pub struct Target {
    /// The node's TOML: its admin API (admin_listen, admin_token_file), or
    /// with --offline its plugin store.
    #[arg(long, value_name = "FILE")]
    node: Option<PathBuf>,
    /// The admin API's base URL (e.g. http://127.0.0.1:9200), instead of --node.
    #[arg(long, value_name = "URL", conflicts_with = "node", requires = "token_file")]
    admin: Option<String>,
    /// The file with the admin API's token (with --admin).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Work on the store of a stopped node (needs --node) instead of its API.
    #[arg(long, requires = "node")]
    offline: bool,
}

enum Node {
    Api(AdminClient),
    /// A stopped node's store, with its state database held open so the
    /// node cannot start meanwhile, and the plugin its last config names.
    Store {
        store: Box<PluginStore>,
        _lock: SledStorage,
        named: Option<String>,
    },
}

impl Target {
    fn open(&self) -> Result<Node> {
        match (&self.node, &self.admin, self.offline) {
            (Some(file), _, true) => {
                let config = NodeConfig::load(file)?;
                // sled locks its database: this fails while the node runs.
                let state = SledStorage::open(&config.data_dir.join("state")).with_context(|| {
                    format!(
                        "{}: is the node running? --offline needs it stopped (or use its admin API)",
                        file.display()
                    )
                })?;
                let named = state
                    .last_config()?
                    .and_then(|text| String::from_utf8(text).ok())
                    .and_then(|text| NetworkConfig::parse(Path::new("(stored config)"), &text).ok())
                    .map(|instance| hex::encode(instance.plugin_sha256));
                let store = PluginStore::open(&config.data_dir, Some(config.plugin_dir))?;
                Ok(Node::Store { store: Box::new(store), _lock: state, named })
            }
            (Some(file), _, false) => Ok(Node::Api(AdminClient::for_node(file)?)),
            (None, Some(url), _) => {
                let token_file = self.token_file.as_deref().context("--admin needs --token-file")?;
                Ok(Node::Api(AdminClient::new(url, ocr_node::admin::read_token(token_file)?)))
            }
            (None, None, _) => bail!("say which node: --node NODE.toml, or --admin URL --token-file FILE"),
        }
    }
}

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Make a new plugin crate from the template: a one-source median feed
    /// that builds to wasm32-wasip2 and passes its unit and test-kit tests
    /// as generated, depending on a checkout of this repository by path.
    New {
        /// The plugin's name: lowercase letters, digits and '-'.
        name: String,
        /// Where to make it (default: ./NAME). Must not exist or be empty.
        #[arg(long)]
        path: Option<PathBuf>,
        /// The checkout of this repository to take the SDK and the test kit
        /// from (default: the one this binary was built from).
        #[arg(long)]
        checkout: Option<PathBuf>,
    },
    /// List a node's plugins: sha256, name, size, the instances using each,
    /// and calls, errors and time per method.
    List {
        #[command(flatten)]
        target: Target,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a component to a node: checked (a component of our world, under
    /// the size cap, compiles, its factory runs), then stored by sha256.
    /// Adding one the node has restarts nothing.
    Add {
        /// The component file (.wasm).
        file: PathBuf,
        #[command(flatten)]
        target: Target,
        /// The plugin config for the factory's smoke test when no instance
        /// names the plugin yet: inline text, or @FILE.
        #[arg(long, value_name = "CONFIG|@FILE")]
        offchain_config: Option<String>,
    },
    /// Time each method of a component on one round of n oracles, through
    /// the node's wasm host and sandbox (no node needed).
    Bench {
        /// The component file (.wasm).
        file: PathBuf,
        /// The plugin's offchain config: inline text, or @FILE.
        #[arg(long, value_name = "CONFIG|@FILE")]
        offchain_config: Option<String>,
        /// A static data source every oracle reads: NAME=VALUE (repeatable).
        #[arg(long = "source", value_name = "NAME=VALUE")]
        sources: Vec<String>,
        /// Oracles in the round.
        #[arg(long, default_value_t = 31)]
        n: u8,
        /// Faulty oracles.
        #[arg(long, default_value_t = 10)]
        f: u8,
    },
    /// Remove a plugin no instance uses, with its compiled artifacts.
    Remove {
        /// The plugin's sha256.
        sha256: String,
        #[command(flatten)]
        target: Target,
    },
    /// Show a component's name, world and version, sha256, size, declared
    /// limits and imports (a file), or a node's plugin with its usage (a
    /// sha256 with --node or --admin). Fails on anything that is not a
    /// reporting plugin.
    Inspect {
        /// The component file (.wasm), or a plugin's sha256.
        file: PathBuf,
        #[command(flatten)]
        target: Target,
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

fn read_offchain_config(arg: Option<&str>) -> Result<Option<Vec<u8>>> {
    Ok(match arg {
        Some(s) if s.starts_with('@') => {
            Some(std::fs::read(&s[1..]).with_context(|| format!("reading offchain config {}", &s[1..]))?)
        }
        Some(s) => Some(s.as_bytes().to_vec()),
        None => None,
    })
}

fn print_json(value: &impl Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn run(command: PluginCommand) -> Result<()> {
    match command {
        PluginCommand::New { name, path, checkout } => {
            let checkout = checkout
                .or_else(ocr_node::plugin_template::default_checkout)
                .context("the checkout this binary was built from is gone: pass --checkout")?;
            let dir = path.unwrap_or_else(|| PathBuf::from(&name));
            let made = ocr_node::plugin_template::new_plugin(&name, &dir, &checkout)?;
            eprintln!(
                "made {} (type {}): cd {} && cargo test --release && cargo build --profile plugin --target wasm32-wasip2",
                made.dir.display(),
                made.type_name,
                made.dir.display()
            );
            print_json(&serde_json::json!({
                "dir": made.dir,
                "crate": made.crate_name,
                "component": format!("target/wasm32-wasip2/plugin/{}.wasm", made.crate_name),
            }))
        }
        PluginCommand::Bench { file, offchain_config, sources, n, f } => {
            crate::plugin_bench::run(crate::plugin_bench::BenchArgs {
                file: &file,
                offchain_config: read_offchain_config(offchain_config.as_deref())?.unwrap_or_default(),
                sources: &sources,
                n,
                f,
            })
        }
        PluginCommand::List { target, json } => {
            let listing = match target.open()? {
                Node::Api(api) => api.list()?,
                Node::Store { store, .. } => serde_json::to_value(store.list())?,
            };
            if json { print_json(&listing) } else { print_listing(&listing) }
        }
        PluginCommand::Add { file, target, offchain_config } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let offchain = read_offchain_config(offchain_config.as_deref())?;
            let report = match target.open()? {
                Node::Api(api) => api.add(&bytes, offchain.as_deref())?,
                Node::Store { store, .. } => serde_json::to_value(
                    store.add(&bytes, offchain).with_context(|| format!("{} refused", file.display()))?,
                )?,
            };
            print_json(&report)
        }
        PluginCommand::Remove { sha256, target } => {
            let sha256 = parse_sha256(&sha256)?;
            match target.open()? {
                Node::Api(api) => print_json(&api.remove(&sha256)?),
                Node::Store { named: Some(named), .. } if named == sha256 => {
                    bail!("plugin {sha256} is named by the node's last config: the node would need it to resume")
                }
                Node::Store { store, .. } => {
                    store.remove(&sha256)?;
                    print_json(&serde_json::json!({ "removed": sha256 }))
                }
            }
        }
        PluginCommand::Inspect { file, target, .. } if target.node.is_some() || target.admin.is_some() => {
            let sha256 = parse_sha256(&file.to_string_lossy())?;
            let found = match target.open()? {
                Node::Api(api) => api.show(&sha256)?,
                Node::Store { store, .. } => serde_json::to_value(store.list())?
                    .as_array()
                    .and_then(|all| all.iter().find(|p| p["sha256"] == sha256.as_str()).cloned())
                    .with_context(|| format!("no plugin with sha256 {sha256} in the store"))?,
            };
            print_json(&found)
        }
        PluginCommand::Inspect { file, json, offchain_config, n, f, .. } => {
            let offchain = read_offchain_config(offchain_config.as_deref())?.unwrap_or_default();
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

fn print_listing(listing: &Value) -> Result<()> {
    let plugins = listing.as_array().context("the node's answer is not a list")?;
    if plugins.is_empty() {
        println!("no plugins");
    }
    for plugin in plugins {
        let text = |key: &str| plugin[key].as_str().unwrap_or("-").to_owned();
        let instances: Vec<String> = plugin["instances"]
            .as_array()
            .map(|all| all.iter().filter_map(Value::as_str).map(|d| d.chars().take(16).collect()).collect())
            .unwrap_or_default();
        println!("{}  {}  {} bytes", text("sha256"), text("name"), plugin["size"]);
        println!("  world {} version {}", text("world"), text("contract_version"));
        println!("  instances: {}", if instances.is_empty() { "none".to_owned() } else { instances.join(", ") });
        if let Some(methods) = plugin["methods"].as_object() {
            for (method, usage) in methods {
                let seconds = usage["seconds"].as_f64().unwrap_or(0.0);
                let calls = usage["calls"].as_u64().unwrap_or(0);
                let mean_us = if calls == 0 { 0.0 } else { seconds * 1e6 / calls as f64 };
                println!("  {method:<32} {calls:>9} calls {:>6} errors {mean_us:>9.1} µs/call", usage["errors"]);
            }
        }
    }
    Ok(())
}
