//! The streams demo: four oracle nodes (f = 1) over QUIC on loopback, each
//! running the sandboxed streams wasm plugin over five simulated markets
//! (random walks of different volatility). Each round the leader asks for
//! the two feeds observed longest ago; every feed that moved past its
//! deviation, or reached its heartbeat, gets a report of its own, attested
//! with f+1 signatures; an urgent move carries a schedule that has every
//! oracle transmit at once. Chainless: attested reports are printed, and the
//! run ends with one JSON line.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use clap::Parser;
use ocr_node::config::node::NodeConfig;
use ocr_node::driver::DriverEvent;
use ocr_node::network_init::{self, InitOptions};
use ocr_node::node::RunOptions;
use ocr_node::storage::Durability;
use streams::FeedReport;
use tokio::sync::{mpsc, watch};

#[derive(Parser)]
#[command(about = "Run the streams demo: 4 oracle nodes, QUIC, the streams wasm plugin, one report per moved feed")]
struct Args {
    /// Stop after this many attested reports.
    #[arg(long, default_value_t = 30)]
    reports: u64,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 120)]
    duration: u64,
    /// The streams plugin component (default: `<target>/plugins/streams.wasm`).
    #[arg(long)]
    plugin: Option<PathBuf>,
}

/// (feed, start value, volatility per step in ppm).
const MARKETS: [(&str, u64, u64); 5] = [
    ("btc-usd", 6_000_000_000_000, 400),
    ("eth-usd", 300_000_000_000, 600),
    ("sol-usd", 15_000_000_000, 1500),
    ("link-usd", 1_500_000_000, 300),
    ("dot-usd", 700_000_000, 100),
];

fn sources() -> String {
    MARKETS
        .iter()
        .enumerate()
        .map(|(i, (feed, start, step))| {
            format!(
                "[sources.{feed}]\nkind = \"random_walk\"\nstart = {start}\nstep_ppm = {step}\nstep_ms = 200\nseed = {}\nnoise_ppm = 20\nbias_ppm = 0\n\n",
                i + 1
            )
        })
        .collect()
}

fn plugin_config() -> String {
    let feeds: Vec<String> = MARKETS
        .iter()
        .map(|(feed, ..)| {
            format!(
                r#"{{"id":"{feed}","source":"{feed}","deviation_ppb":2000000,"heartbeat_seconds":30,"urgent_ppb":4000000}}"#
            )
        })
        .collect();
    format!(r#"{{"version":1,"feeds_per_round":2,"feeds":[{}]}}"#, feeds.join(","))
}

fn feed_name(report: &FeedReport) -> String {
    String::from_utf8_lossy(&report.feed_id).trim_end_matches('\0').to_owned()
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
    let started = Instant::now();
    let plugin = match args.plugin {
        Some(plugin) => plugin,
        None => {
            let exe = std::env::current_exe()?;
            exe.ancestors().nth(2).context("cannot find the target directory")?.join("plugins").join("streams.wasm")
        }
    };
    ensure!(plugin.exists(), "{} is missing: build it with `cargo xtask plugins`", plugin.display());

    let dir = tempfile::tempdir()?;
    let layout = network_init::init(&InitOptions {
        nodes: 4,
        out: dir.path().to_path_buf(),
        plugin: plugin.clone(),
        plugin_config: plugin_config(),
        base_port: 0,
        delta_round_ms: 250,
        r_max: 40,
        liar: false,
        durability: Durability::Machine,
        chain: None,
        sources: Some(sources()),
    })?;
    println!("streams: 4 nodes (f = 1) over QUIC, plugin {}, {} feeds, 2 per round\n", plugin.display(), MARKETS.len());

    let (stop, shutdown) = watch::channel(false);
    let (events_tx, mut events) = mpsc::channel::<DriverEvent>(4096);
    let mut nodes = Vec::new();
    for (i, file) in layout.node_configs.iter().enumerate() {
        let config = NodeConfig::load(file)?;
        let options = RunOptions { events: (i == 0).then(|| events_tx.clone()), ..Default::default() };
        let shutdown = shutdown.clone();
        nodes.push(tokio::spawn(async move { ocr_node::node::run(config, options, shutdown).await }));
    }
    drop(events_tx);

    let (mut reports, mut urgent, mut outcomes) = (0u64, 0u64, 0u64);
    let mut per_feed: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_outcome: BTreeMap<u64, u64> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.duration);
    while reports < args.reports {
        let event = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            event = events.recv() => match event { Some(event) => event, None => break },
        };
        match event {
            DriverEvent::Committed { .. } => outcomes += 1,
            DriverEvent::Attested(attested) => {
                let report = FeedReport::decode(&attested.report.report)
                    .context("an attested report that is not a feed report")?;
                let is_urgent = attested.schedule_override.is_some();
                reports += 1;
                urgent += u64::from(is_urgent);
                *per_feed.entry(feed_name(&report)).or_default() += 1;
                *per_outcome.entry(attested.seq_nr).or_default() += 1;
                let signers: Vec<u8> = attested.signatures.iter().map(|(s, _)| *s).collect();
                println!(
                    "seq_nr {:>4}  report {}  {:<9} {:>16}  signers {signers:?}{}",
                    attested.seq_nr,
                    attested.index,
                    feed_name(&report),
                    report.value,
                    if is_urgent { "  URGENT: every oracle transmits now" } else { "" },
                );
            }
            DriverEvent::Transmit(_) => {}
        }
    }
    let _ = stop.send(true);
    for node in nodes {
        node.await??;
    }
    let summary = serde_json::json!({
        "attested_reports": reports,
        "urgent_reports": urgent,
        "outcomes": outcomes,
        "most_reports_in_one_outcome": per_outcome.values().max(),
        "reports_per_feed": per_feed,
        "seconds": started.elapsed().as_secs_f64(),
    });
    println!("{summary}");
    ensure!(reports > 0, "no report was attested in {} s", args.duration);
    Ok(())
}
