//! `ocr-node`: the OCR3 oracle node. For now it carries the plugin tooling;
//! the node itself (networking, storage, the protocol) lands on top of it.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod plugin_cmd;

#[derive(Parser)]
#[command(name = "ocr-node", version, about = "An OCR3 oracle node with WebAssembly reporting plugins")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Work with reporting-plugin components.
    Plugin {
        #[command(subcommand)]
        command: plugin_cmd::PluginCommand,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
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
