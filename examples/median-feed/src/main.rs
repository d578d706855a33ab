//! The median feed demo, at the stage the project is at: n oracles (4 by
//! default, f = 1), each running its own sandboxed instance of the median
//! wasm plugin on its own simulated price source (a shared random walk plus
//! per-node noise; one node reports wild outliers). Each round the leader
//! asks for observations, every oracle validates them and computes the
//! outcome, and the demo checks that all oracles agree byte for byte before
//! printing the report the network would sign. Networking, consensus and the
//! chain replace the in-process loop as they land.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use median::{MedianConfig, MedianOutcome, MedianReport};
use ocr_plugin_api::Plugin;
use ocr_plugin_host::{EngineOptions, PluginEngine};
use ocr_plugin_sdk::{AttributedObservation, ConfigDigest, DataSourceError, DataSources, OutcomeContext, PluginConfig};
use rand::{Rng, SeedableRng, rngs::StdRng};

#[derive(Parser)]
#[command(about = "Run the median feed demo")]
struct Args {
    /// Stop after this many rounds.
    #[arg(long, default_value_t = 20)]
    rounds: u64,
    /// Number of oracles (f is the largest with 3f < n).
    #[arg(long, default_value_t = 4)]
    nodes: u8,
    /// Seed of the simulated market.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The median plugin component (default: `<target>/plugins/median.wasm`).
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// Simulated seconds between rounds.
    #[arg(long, default_value_t = 5)]
    round_seconds: u32,
}

/// A node's data sources: values the simulation sets before each round.
#[derive(Default)]
struct SimulatedSources(Mutex<BTreeMap<String, String>>);

impl SimulatedSources {
    fn set(&self, name: &str, value: i128) {
        if let Ok(mut values) = self.0.lock() {
            values.insert(name.to_owned(), value.to_string());
        }
    }
}

impl DataSources for SimulatedSources {
    fn read(&self, name: &str) -> Result<String, DataSourceError> {
        let values = self.0.lock().map_err(|_| DataSourceError::Unavailable("lock poisoned".into()))?;
        values.get(name).cloned().ok_or_else(|| DataSourceError::Unknown(name.to_owned()))
    }
}

fn default_plugin_path() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let target = exe.ancestors().nth(2).context("cannot find the target directory")?;
    Ok(target.join("plugins").join("median.wasm"))
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!((4..=31).contains(&args.nodes), "--nodes must be between 4 and 31");
    let n = args.nodes;
    let f = (n - 1) / 3;
    let started = Instant::now();
    let plugin_path = match args.plugin {
        Some(p) => p,
        None => default_plugin_path()?,
    };
    let engine = PluginEngine::new(EngineOptions::default())?;
    let median = engine
        .load_file(&plugin_path)
        .with_context(|| format!("loading {} (build it with `cargo xtask plugins`)", plugin_path.display()))?;
    println!(
        "median feed: {n} oracles, f = {f}, plugin {} ({} bytes, sha256 {}…)",
        plugin_path.display(),
        median.component_info().size,
        &median.component_info().sha256[..16]
    );

    let offchain = MedianConfig {
        version: 1,
        value_source: "eth-usd".into(),
        juels_per_fee_coin_source: Some("link-eth".into()),
        deviation_threshold_ppb: 2_000_000,
        heartbeat_seconds: 60,
    };
    let sources: Vec<Arc<SimulatedSources>> = (0..n).map(|_| Arc::new(SimulatedSources::default())).collect();
    let mut oracles = Vec::new();
    for oracle in 0..n {
        let mut config = PluginConfig::for_tests(n, f, offchain.to_json().into_bytes());
        config.oracle_id = oracle;
        config.config_digest = ConfigDigest([0xd1; 32]);
        oracles.push(median.instantiate(&config, sources[usize::from(oracle)].clone())?);
    }

    let mut market = StdRng::seed_from_u64(args.seed);
    let mut price: i128 = 300_000_000_000; // $3000.00000000 (8 decimals)
    let mut previous = Vec::new();
    let (mut reports, mut last_answer, mut reference) = (0u64, None, 0i128);
    let mut timestamp = 1_700_000_000u32;
    for seq_nr in 1..=args.rounds {
        // The market moves; honest nodes see it with a little noise, the last
        // node reports nonsense.
        price += price * i128::from(market.random_range(-40i32..=40)) / 10_000;
        timestamp += args.round_seconds;
        let mut honest = Vec::new();
        for (i, s) in sources.iter().enumerate() {
            let outlier = i == usize::from(n) - 1;
            let value =
                if outlier { price * 10 } else { price + price * i128::from(market.random_range(-5i32..=5)) / 100_000 };
            if !outlier {
                honest.push(value);
            }
            s.set("eth-usd", value);
            s.set("link-eth", 4_500_000_000_000_000);
        }
        honest.sort_unstable();
        reference = honest[honest.len() / 2];

        let leader = usize::try_from(seq_nr % u64::from(n))?;
        let ctx = OutcomeContext { seq_nr, previous_outcome: previous.clone(), epoch: 1, round: seq_nr };
        let query = oracles[leader].query(&ctx)?;
        let mut observations = Vec::new();
        for (oracle, plugin) in oracles.iter_mut().enumerate() {
            let mut observation = plugin.observation(&ctx, &query)?;
            // The demo's oracles observe simulated time, so rounds advance
            // faster than the wall clock: overwrite the timestamp field.
            observation[1..5].copy_from_slice(&timestamp.to_be_bytes());
            observations.push(AttributedObservation { observation, observer: u8::try_from(oracle)? });
        }
        let leader_plugin = &mut oracles[leader];
        let mut valid = Vec::new();
        // Like a leader that waits out DeltaGrace, take every valid observation.
        for ao in observations {
            if leader_plugin.validate_observation(&ctx, &query, &ao).is_ok() {
                valid.push(ao);
            }
        }
        if !leader_plugin.observation_quorum(&ctx, &query, &valid)? {
            bail!("round {seq_nr}: no observation quorum");
        }
        // Every oracle checks the proposal and computes the outcome itself.
        let mut outcomes = Vec::new();
        for plugin in oracles.iter_mut() {
            for ao in &valid {
                plugin.validate_observation(&ctx, &query, ao)?;
            }
            outcomes.push(plugin.outcome(&ctx, &query, &valid)?);
        }
        ensure!(outcomes.windows(2).all(|w| w[0] == w[1]), "round {seq_nr}: oracles disagree on the outcome");
        let outcome = outcomes.swap_remove(0);
        let decoded = MedianOutcome::decode(&outcome).map_err(anyhow::Error::msg)?;
        let mut all_reports = Vec::new();
        for plugin in oracles.iter_mut() {
            all_reports.push(plugin.reports(seq_nr, &outcome)?);
        }
        ensure!(all_reports.windows(2).all(|w| w[0] == w[1]), "round {seq_nr}: oracles disagree on the reports");
        match all_reports[0].first() {
            Some(report) => {
                let r = MedianReport::decode(&report.report).map_err(anyhow::Error::msg)?;
                let answer = r.median().unwrap_or_default();
                // With at most f liars among 2f+1 or more values, the median
                // lies within the honest values.
                let honest_range = honest[0]..=honest[honest.len() - 1];
                ensure!(
                    honest_range.contains(&answer),
                    "round {seq_nr}: median {answer} outside the honest range {honest_range:?}"
                );
                reports += 1;
                last_answer = r.median();
                println!(
                    "seq_nr {seq_nr:>3}  leader {leader}  {:?}: median {} (reference {reference}) from oracles {:?}, report {} bytes",
                    decoded.decision,
                    r.median().unwrap_or_default(),
                    r.observers,
                    report.report.len()
                );
            }
            None => println!(
                "seq_nr {seq_nr:>3}  leader {leader}  no report: median {} within the deviation band",
                decoded.median().unwrap_or_default()
            ),
        }
        previous = outcome;
    }
    let summary = serde_json::json!({
        "rounds": args.rounds,
        "reports": reports,
        "last_seq_nr": args.rounds,
        "last_answer": last_answer.map(|a| a.to_string()),
        "reference_median": reference.to_string(),
        "seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    });
    println!("{summary}");
    Ok(())
}
