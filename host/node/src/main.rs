//! `ocr-node`: the OCR3 oracle node's command line: keys, network setup,
//! running a node, benchmarks and plugin tooling, over the `ocr_node` library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use ocr_node::keys;

/// The node allocates and frees per message (frames, decoded messages,
/// signature batches) on several threads; glibc's allocator cost about 6 %
/// of a 31-node cluster's CPU, mimalloc (thread-local free lists) less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod contract_cmd;
mod keys_cmd;
mod plugin_bench;
mod plugin_cmd;
mod run_cmd;

#[derive(Parser)]
#[command(name = "ocr-node", version, about = "An OCR3 oracle node with WebAssembly reporting plugins")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make the oracle's keys and show their public parts.
    Keys {
        #[command(subcommand)]
        command: keys_cmd::KeysCommand,
    },
    /// Run the node.
    Run(run_cmd::RunArgs),
    /// Run N nodes in this process over QUIC on loopback and measure them.
    Bench(run_cmd::BenchArgs),
    /// Measure the chain path alone: attested report to included
    /// transaction, on the embedded EVM or a JSON-RPC node; prints a JSON line.
    BenchChain(run_cmd::ChainBenchArgs),
    /// Deploy and configure the aggregator contract.
    Contract {
        #[command(subcommand)]
        command: contract_cmd::ContractCommand,
    },
    /// Set up networks of nodes.
    Network {
        #[command(subcommand)]
        command: run_cmd::NetworkCommand,
    },
    /// Work with reporting-plugin components.
    Plugin {
        #[command(subcommand)]
        command: plugin_cmd::PluginCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A benchmark logs warnings only: a line per report at hundreds of
    // rounds a second would be part of what it measures.
    let default_filter = if matches!(cli.command, Command::Bench(_) | Command::BenchChain(_)) {
        "warn"
    } else {
        "info,quinn=warn,rustls=warn,sled=warn"
    };
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter))
    };
    let json = matches!(&cli.command, Command::Run(args) if run_cmd::wants_json(args));
    if json {
        tracing_subscriber::fmt().json().with_env_filter(filter()).with_writer(std::io::stderr).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter()).with_writer(std::io::stderr).init();
    }
    let result = match cli.command {
        Command::Keys { command } => keys_cmd::run(command),
        Command::Run(args) => run_cmd::run(args),
        Command::Bench(args) => run_cmd::bench(args),
        Command::BenchChain(args) => run_cmd::bench_chain(args),
        Command::Contract { command } => contract_cmd::run(command),
        Command::Network { command } => run_cmd::network(command),
        Command::Plugin { command } => plugin_cmd::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
