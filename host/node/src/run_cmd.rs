//! `ocr-node run` and `ocr-node network init`: the node's own commands.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use ocr_node::config::node::NodeConfig;
use ocr_node::network_init::{self, InitOptions};
use ocr_node::storage::Durability;

/// `ocr-node run`.
#[derive(Args)]
pub struct RunArgs {
    /// The node TOML.
    #[arg(long)]
    pub config: PathBuf,
    /// Log as JSON lines (also `log_json = true` in the config).
    #[arg(long)]
    pub log_json: bool,
}

/// `ocr-node bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 4)]
    pub nodes: u8,
    /// Seconds to measure (after the first commit).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// The median plugin component (default: the built one).
    #[arg(long)]
    pub plugin: Option<PathBuf>,
    /// Run the median plugin's native build instead of the component (the
    /// baseline for the sandbox's cost).
    #[arg(long)]
    pub native: bool,
    /// One-way delay added to every link, in milliseconds (a user-space
    /// relay in front of each node).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub link_delay_ms: u64,
    /// Persist durability: `machine` (fdatasync, survives power loss) or
    /// `process` (survives a crash of the process only).
    #[arg(long, default_value = "machine", value_parser = parse_durability)]
    pub durability: Durability,
}

fn parse_durability(text: &str) -> Result<Durability, String> {
    match text {
        "machine" => Ok(Durability::Machine),
        "process" => Ok(Durability::Process),
        other => Err(format!("{other:?}: expected machine or process")),
    }
}

/// `ocr-node bench-chain`.
#[derive(Args)]
pub struct ChainBenchArgs {
    /// Oracles in the contract's config (f+1 signatures per report).
    #[arg(long, default_value_t = 4)]
    pub nodes: u8,
    /// Reports to transmit.
    #[arg(long, default_value_t = 500)]
    pub reports: u64,
    /// A JSON-RPC node to use instead of the embedded EVM (e.g. anvil).
    #[arg(long, requires = "rpc_key")]
    pub rpc_url: Option<String>,
    /// The hex private key of a funded account on that node (a development
    /// chain's well-known key: it is on the command line).
    #[arg(long, requires = "rpc_url")]
    pub rpc_key: Option<String>,
}

/// Runs the chain benchmark and prints its JSON line.
pub fn bench_chain(args: ChainBenchArgs) -> Result<()> {
    let rpc = match (args.rpc_url, args.rpc_key) {
        (Some(url), Some(key)) => {
            let bytes = hex::decode(key.trim_start_matches("0x")).context("--rpc-key: not hex")?;
            let key: [u8; 32] = bytes.try_into().map_err(|_| anyhow::anyhow!("--rpc-key: not 32 bytes"))?;
            Some((url, key))
        }
        _ => None,
    };
    let options = ocr_node::bench_chain::ChainBenchOptions { nodes: args.nodes, reports: args.reports, rpc };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(ocr_node::bench_chain::run(&options))?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// Runs the benchmark and prints its JSON line.
pub fn bench(args: BenchArgs) -> Result<()> {
    let plugin = match args.plugin {
        Some(p) => p,
        None => default_plugin_path()?,
    };
    let dir = tempfile::tempdir()?;
    let options = ocr_node::bench::BenchOptions {
        nodes: args.nodes,
        duration: std::time::Duration::from_secs(args.duration),
        plugin,
        native: args.native,
        link_delay: std::time::Duration::from_millis(args.link_delay_ms),
        durability: args.durability,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(ocr_node::bench::run(&options, dir.path()))?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// `ocr-node network ...`.
#[derive(Subcommand)]
pub enum NetworkCommand {
    /// Create keys and configs for a local N-node network.
    Init {
        /// Number of nodes.
        #[arg(long, default_value_t = 4)]
        nodes: u8,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// The plugin component (default: the built median plugin).
        #[arg(long)]
        plugin: Option<PathBuf>,
        /// The plugin's config (default: the median plugin's demo config).
        #[arg(long)]
        plugin_config: Option<String>,
        /// First UDP port (metrics on +100); 0 picks free ports.
        #[arg(long, default_value_t = 0)]
        base_port: u16,
        /// Milliseconds between rounds.
        #[arg(long, default_value_t = 100)]
        delta_round_ms: u64,
        /// Rounds per epoch.
        #[arg(long, default_value_t = 20)]
        r_max: u64,
        /// Make the last node report ten times the market.
        #[arg(long)]
        liar: bool,
        /// Read the config from this chain and transmit to it (needs
        /// --contract).
        #[arg(long, requires = "contract")]
        rpc_url: Option<String>,
        /// The aggregator (with --rpc-url).
        #[arg(long, requires = "rpc_url")]
        contract: Option<alloy_primitives::Address>,
    },
}

/// Where `cargo xtask plugins` puts the median plugin, relative to this binary.
pub fn default_plugin_path() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let target = exe.ancestors().nth(2).context("cannot find the target directory")?;
    Ok(target.join("plugins").join("median.wasm"))
}

/// Whether `run` asks for JSON logs (read before logging starts).
pub fn wants_json(args: &RunArgs) -> bool {
    args.log_json || NodeConfig::load(&args.config).is_ok_and(|c| c.log_json)
}

/// Runs the node until SIGINT or SIGTERM.
pub fn run(args: RunArgs) -> Result<()> {
    let config = NodeConfig::load(&args.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down");
            let _ = stop.send(true);
        });
        ocr_node::node::run(config, ocr_node::node::RunOptions::default(), shutdown).await
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `ocr-node network ...`.
pub fn network(command: NetworkCommand) -> Result<()> {
    match command {
        NetworkCommand::Init {
            nodes,
            out,
            plugin,
            plugin_config,
            base_port,
            delta_round_ms,
            r_max,
            liar,
            rpc_url,
            contract,
        } => {
            let plugin = match plugin {
                Some(p) => p,
                None => default_plugin_path()?,
            };
            let layout = network_init::init(&InitOptions {
                nodes,
                out,
                plugin,
                plugin_config: plugin_config.unwrap_or_else(network_init::default_median_config),
                base_port,
                delta_round_ms,
                r_max,
                liar,
                durability: Durability::Machine,
                chain: rpc_url.zip(contract),
                sources: None,
            })?;
            for (i, config) in layout.node_configs.iter().enumerate() {
                println!("node {i}: ocr-node run --config {}", config.display());
            }
            println!("network config: {}", layout.network_config.display());
            Ok(())
        }
    }
}
