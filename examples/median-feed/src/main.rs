//! The median feed demo: four oracle nodes (f = 1) talking QUIC on
//! loopback, each running the sandboxed median wasm plugin over its own
//! simulated price source (one shared market plus per-node noise; the last
//! node reports ten times the market), attest reports and transmit them to
//! the OCR3 aggregator contract, which verifies f+1 signatures and stores
//! the median. By default the contract runs on an EVM embedded in this
//! process (revm, the same bytecode); `--rpc-url` uses an external chain
//! such as anvil instead. Every new on-chain answer is printed; the run ends
//! with one JSON line.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, ensure};
use clap::Parser;
use ocr_chain::{Address, Chain, EmbeddedChain, PrivateKeySigner, RpcChain, RpcOptions};
use ocr_node::config::node::{EMBEDDED_CHAIN, NodeConfig};
use ocr_node::driver::DriverEvent;
use ocr_node::network_init::{self, InitOptions};
use ocr_node::node::RunOptions;
use ocr_node::sources;
use ocr_node::storage::Durability;
use tokio::sync::{mpsc, watch};

/// anvil's first development key: the default owner on an external chain.
const ANVIL_KEY_0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

#[derive(Parser)]
#[command(about = "Run the median feed demo: 4 oracle nodes, QUIC, wasm plugin, aggregator contract")]
struct Args {
    /// Stop after this many on-chain answers.
    #[arg(long, default_value_t = 10)]
    answers: u64,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 300)]
    duration: u64,
    /// Use this JSON-RPC endpoint (e.g. anvil) instead of the embedded EVM.
    #[arg(long)]
    rpc_url: Option<String>,
    /// Hex private key of the account that deploys and configures the
    /// contract on --rpc-url (default: anvil's first development key).
    #[arg(long)]
    owner_key: Option<String>,
    /// Number of nodes (f is the largest with 3f < n).
    #[arg(long, default_value_t = 4)]
    nodes: u8,
    /// The median plugin component (default: `<target>/plugins/median.wasm`).
    #[arg(long)]
    plugin: Option<PathBuf>,
}

fn default_plugin_path() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let target = exe.ancestors().nth(2).context("cannot find the target directory")?;
    Ok(target.join("plugins").join("median.wasm"))
}

/// Gives `account` 100 ETH on an anvil-like chain.
fn fund_on_anvil(rpc_url: &str, account: Address) -> Result<()> {
    let request = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "anvil_setBalance",
        "params": [account.to_string(), "0x56BC75E2D63100000"],
    });
    ureq::post(rpc_url).send_json(&request).with_context(|| {
        format!("funding {account} with anvil_setBalance on {rpc_url} (fund the transmitters yourself on other chains)")
    })?;
    Ok(())
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    ensure!((4..=31).contains(&args.nodes), "--nodes must be between 4 and 31");
    let started = Instant::now();
    let plugin = match args.plugin {
        Some(p) => p,
        None => default_plugin_path()?,
    };
    ensure!(plugin.exists(), "{} is missing: build it with `cargo xtask plugins`", plugin.display());

    let (chain, rpc_url, owner): (Arc<dyn Chain>, String, PrivateKeySigner) = match &args.rpc_url {
        None => {
            let owner = ocr_chain::signer_from_bytes(&[0x42; 32])?;
            (Arc::new(EmbeddedChain::new(31337)), EMBEDDED_CHAIN.to_owned(), owner)
        }
        Some(url) => {
            let key = hex::decode(args.owner_key.as_deref().unwrap_or(ANVIL_KEY_0).trim_start_matches("0x"))?;
            let key: [u8; 32] = key.try_into().map_err(|_| anyhow::anyhow!("--owner-key is not 32 bytes"))?;
            let chain =
                RpcChain::connect(url, RpcOptions::default()).await.with_context(|| format!("--rpc-url {url}"))?;
            (Arc::new(chain), url.clone(), ocr_chain::signer_from_bytes(&key)?)
        }
    };
    let contract = chain.deploy(&owner, 8, "ETH / USD").await.context("deploying the aggregator")?;
    let start_block = chain.block_number().await?;

    let dir = tempfile::tempdir()?;
    let layout = network_init::init(&InitOptions {
        nodes: args.nodes,
        out: dir.path().to_path_buf(),
        plugin: plugin.clone(),
        // Report on a 0.05% move or every 10 s, so answers flow in a demo.
        plugin_config: r#"{"version":1,"value_source":"eth-usd","juels_per_fee_coin_source":"link-eth","deviation_threshold_ppb":500000,"heartbeat_seconds":10}"#.to_owned(),
        base_port: 0,
        delta_round_ms: 500,
        r_max: 40,
        liar: true,
        durability: Durability::Machine,
        chain: Some((rpc_url.clone(), contract)),
        sources: None,
    })?;
    let network: ocr_node::config::network::NetworkConfig =
        toml::from_str(&std::fs::read_to_string(&layout.network_config)?)?;
    let set_config = ocr_node::chain_setup::set_config_args(&network)?;
    chain.set_config(contract, &owner, &set_config).await.context("setting the config")?;
    if args.rpc_url.is_some() {
        for key in &layout.public_keys {
            fund_on_anvil(&rpc_url, key.transmitter_address)?;
        }
    }
    let transmitter_ids: BTreeMap<Address, usize> =
        layout.public_keys.iter().enumerate().map(|(i, k)| (k.transmitter_address, i)).collect();
    let market = NodeConfig::load(&layout.node_configs[0])?.sources.get("eth-usd").cloned().context("no market")?;
    println!(
        "median feed: {} nodes (f = {}) over QUIC, plugin {}, aggregator {contract} on {}",
        args.nodes,
        (args.nodes - 1) / 3,
        plugin.display(),
        args.rpc_url.as_deref().unwrap_or("the embedded EVM (revm)")
    );
    println!("node {} reports ten times the market; the median ignores it\n", args.nodes - 1);

    let (stop, shutdown) = watch::channel(false);
    let (events_tx, mut events) = mpsc::channel::<DriverEvent>(4096);
    let mut nodes = Vec::new();
    for (i, file) in layout.node_configs.iter().enumerate() {
        let config = NodeConfig::load(file)?;
        let options = RunOptions {
            events: (i == 0).then(|| events_tx.clone()),
            chain: Some(chain.clone()),
            ..Default::default()
        };
        let shutdown = shutdown.clone();
        nodes.push(tokio::spawn(async move { ocr_node::node::run(config, options, shutdown).await }));
    }
    drop(events_tx);

    let mut signers: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut seen = 0usize;
    let mut answers = 0u64;
    let mut first_answer: Option<f64> = None;
    let (mut last_seq_nr, mut last_answer, mut reference) = (0u64, None::<String>, None::<i128>);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.duration);
    let mut poll = tokio::time::interval(Duration::from_millis(250));
    while answers < args.answers {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            Some(event) = events.recv() => {
                if let DriverEvent::Attested(report) = event {
                    signers.insert(report.seq_nr, report.signatures.iter().map(|(s, _)| *s).collect());
                    while signers.len() > 256 {
                        signers.pop_first();
                    }
                }
            }
            _ = poll.tick() => {
                let transmissions = chain.transmissions_since(contract, start_block).await?;
                for t in transmissions.iter().skip(seen) {
                    answers += 1;
                    first_answer.get_or_insert(started.elapsed().as_secs_f64());
                    let at = UNIX_EPOCH + Duration::from_secs(u64::from(t.observations_timestamp));
                    reference = sources::market_value(&market, at);
                    let signed_by = signers.get(&t.seq_nr).cloned().unwrap_or_default();
                    let transmitter = transmitter_ids.get(&t.transmitter).map_or("?".to_owned(), |i| i.to_string());
                    println!(
                        "seq_nr {:>4}  answer {:>14}  market {:>14}  observers {:?}  signers {:?}  transmitter {}",
                        t.seq_nr,
                        t.answer,
                        reference.map_or("?".to_owned(), |r| r.to_string()),
                        t.observers,
                        signed_by,
                        transmitter,
                    );
                    last_seq_nr = t.seq_nr;
                    last_answer = Some(t.answer.to_string());
                }
                seen = transmissions.len();
            }
        }
    }
    let _ = stop.send(true);
    for node in nodes {
        node.await??;
    }
    let onchain = chain.latest_round_data(contract).await?;
    let seconds = started.elapsed().as_secs_f64();
    let summary = serde_json::json!({
        "onchain_answers": answers,
        "last_seq_nr": last_seq_nr,
        "last_answer": last_answer,
        "reference_median": reference.map(|r| r.to_string()),
        "latest_round_answer": onchain.map(|r| r.answer.to_string()),
        "seconds_to_first_answer": first_answer,
        "answers_per_minute": first_answer.filter(|_| answers > 1).map(|first| (answers - 1) as f64 * 60.0 / (seconds - first).max(1e-9)),
        "seconds": seconds,
        "finished_at": now_unix(),
    });
    println!("{summary}");
    ensure!(answers > 0, "no answer reached the chain in {} s", args.duration);
    Ok(())
}
