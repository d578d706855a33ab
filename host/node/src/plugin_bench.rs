//! `ocr-node plugin bench`: what one round costs a plugin, method by method,
//! through the node's real wasm host and sandbox. It plays a round of n
//! oracles on one machine (the query, n observations from the given static
//! sources, validation, the quorum, the outcome, the reports and the two
//! transmission checks) and times each call as the best mean over several
//! batches, which is robust on a noisy machine. Ends with one JSON line.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ocr_plugin_api::Plugin;
use ocr_plugin_host::{EngineOptions, PluginEngine};
use ocr_plugin_sdk::{
    AttributedObservation, ConfigDigest, OutcomeContext, PluginConfig, ReportWithInfo, StaticDataSources,
};

/// What to measure.
pub struct BenchArgs<'a> {
    /// The component.
    pub file: &'a Path,
    /// Its offchain config.
    pub offchain_config: Vec<u8>,
    /// `NAME=VALUE` static sources every oracle reads.
    pub sources: &'a [String],
    /// Oracles in the round.
    pub n: u8,
    /// Faulty oracles.
    pub f: u8,
}

/// Best mean time per call over 7 batches, each long enough (≥ 20 ms) to
/// average out timer resolution.
fn best_of(mut call: impl FnMut() -> Result<()>) -> Result<Duration> {
    let mut iterations = 1u32;
    loop {
        let started = Instant::now();
        for _ in 0..iterations {
            call()?;
        }
        if started.elapsed() > Duration::from_millis(20) || iterations >= 1 << 20 {
            break;
        }
        iterations *= 2;
    }
    let mut best = Duration::MAX;
    for _ in 0..7 {
        let started = Instant::now();
        for _ in 0..iterations {
            call()?;
        }
        best = best.min(started.elapsed() / iterations);
    }
    Ok(best)
}

/// Runs the bench and prints a table and a JSON line.
pub fn run(args: BenchArgs<'_>) -> Result<()> {
    let mut sources = StaticDataSources::new();
    for entry in args.sources {
        let (name, value) =
            entry.split_once('=').with_context(|| format!("--source {entry:?}: expected NAME=VALUE"))?;
        sources.set(name, value);
    }
    let sources = Arc::new(sources);
    let bytes = std::fs::read(args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let engine = PluginEngine::new(EngineOptions::default())?;
    let started = Instant::now();
    let loaded =
        engine.load(&bytes).with_context(|| format!("{} is not a usable reporting plugin", args.file.display()))?;
    let load = started.elapsed();
    let mut config = PluginConfig::for_tests(args.n, args.f, args.offchain_config);
    config.config_digest = ConfigDigest([7; 32]);
    let mut plugin = loaded.instantiate(&config, sources.clone()).context("the factory")?;

    let ctx = OutcomeContext { seq_nr: 1, ..Default::default() };
    let query = plugin.query(&ctx).context("query")?;
    let mut observations = Vec::with_capacity(usize::from(args.n));
    for observer in 0..args.n {
        let observation = plugin.observation(&ctx, &query).context("observation (are its --source values set?)")?;
        observations.push(AttributedObservation { observation, observer });
    }
    if !plugin.observation_quorum(&ctx, &query, &observations).context("observation-quorum")? {
        bail!("{} observations are no quorum for this plugin", observations.len());
    }
    let outcome = plugin.outcome(&ctx, &query, &observations).context("outcome")?;
    let reports = plugin.reports(1, &outcome).context("reports")?;
    let first = reports.first().map(|r| ReportWithInfo { report: r.report.clone(), info: r.info.clone() });

    let mut rows: Vec<(&str, Duration)> = vec![(
        "create",
        best_of(|| {
            loaded.instantiate(&config, sources.clone())?;
            Ok(())
        })?,
    )];
    rows.push((
        "query",
        best_of(|| {
            plugin.query(&ctx)?;
            Ok(())
        })?,
    ));
    rows.push((
        "observation",
        best_of(|| {
            plugin.observation(&ctx, &query)?;
            Ok(())
        })?,
    ));
    rows.push(("validate_observation", best_of(|| Ok(plugin.validate_observation(&ctx, &query, &observations[0])?))?));
    rows.push((
        "observation_quorum",
        best_of(|| {
            plugin.observation_quorum(&ctx, &query, &observations)?;
            Ok(())
        })?,
    ));
    rows.push((
        "outcome",
        best_of(|| {
            plugin.outcome(&ctx, &query, &observations)?;
            Ok(())
        })?,
    ));
    rows.push((
        "reports",
        best_of(|| {
            plugin.reports(1, &outcome)?;
            Ok(())
        })?,
    ));
    if let Some(report) = &first {
        rows.push((
            "should_accept",
            best_of(|| {
                plugin.should_accept_attested_report(1, report)?;
                Ok(())
            })?,
        ));
        rows.push((
            "should_transmit",
            best_of(|| {
                plugin.should_transmit_accepted_report(1, report)?;
                Ok(())
            })?,
        ));
    }
    let _ = plugin.close();

    // Per round at one oracle: its observation, n validations (a follower
    // checks the leader's proposal), the quorum, the outcome, the reports.
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let get = |name: &str| rows.iter().find(|(n, _)| *n == name).map_or(Duration::ZERO, |(_, d)| *d);
    let per_round = get("observation")
        + get("validate_observation") * u32::from(args.n)
        + get("observation_quorum")
        + get("outcome")
        + get("reports");
    println!(
        "{} ({} bytes, loaded in {:.0} ms), n={} f={}",
        args.file.display(),
        bytes.len(),
        micros(load) / 1e3,
        args.n,
        args.f
    );
    for (name, time) in &rows {
        println!("  {name:<22} {:>10.1} µs", micros(*time));
    }
    println!("  {:<22} {:>10.1} µs", "per round, one oracle", micros(per_round));
    let mut json = serde_json::json!({
        "file": args.file,
        "size": bytes.len(),
        "sha256": loaded.component_info().sha256,
        "load_ms": micros(load) / 1e3,
        "n": args.n,
        "per_round_us": micros(per_round),
    });
    for (name, time) in &rows {
        json[format!("{name}_us")] = serde_json::json!(micros(*time));
    }
    println!("{json}");
    Ok(())
}
