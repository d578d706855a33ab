//! `ocr-node bench`: N complete nodes in one process, talking real QUIC over
//! loopback, each with its own keys, sled store, wasm median plugin instance
//! and driver, with DeltaRound 0 so rounds run back to back. What limits the
//! rate is then the protocol's own work: signatures, plugin calls, fsyncs and
//! the network stack. One process keeps the setup honest about CPU: every
//! node shares the machine's cores exactly as N processes would.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::config::node::NodeConfig;
use crate::driver::DriverEvent;
use crate::network_init::{self, InitOptions};
use crate::storage::Durability;

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Number of nodes.
    pub nodes: u8,
    /// Measured seconds (after the first commit).
    pub duration: Duration,
    /// The median plugin component.
    pub plugin: std::path::PathBuf,
    /// How durable the nodes' persists are.
    pub durability: Durability,
}

/// Commit latency percentiles, in milliseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// The result line.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Nodes.
    pub nodes: u8,
    /// Faulty nodes tolerated.
    pub f: u8,
    /// Outcomes committed at node 0 during the measured window.
    pub outcomes: u64,
    /// Outcomes per second.
    pub outcomes_per_sec: f64,
    /// Round start to commit, over every node's commits.
    pub commit_latency_ms: Latency,
    /// Reports attested at node 0 during the window.
    pub attested_reports: u64,
    /// CPU time of the whole process during the window.
    pub cpu_seconds: f64,
    /// Peak resident memory of the process.
    pub peak_rss_mb: f64,
    /// How the nodes ran.
    pub mode: &'static str,
    /// How durable each persist was.
    pub durability: &'static str,
}

/// CPU seconds (user + system) this process has used, from /proc.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start at ")".
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some((utime + stime) / 100.0)
}

/// Peak resident set size in MB, from /proc.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Runs the benchmark in `dir` (which it fills with the network).
pub async fn run(options: &BenchOptions, dir: &Path) -> Result<BenchReport> {
    let layout = network_init::init(&InitOptions {
        nodes: options.nodes,
        out: dir.to_path_buf(),
        plugin: options.plugin.clone(),
        // Report every round (deviation 0), so attestation runs every round.
        plugin_config: r#"{"version":1,"value_source":"eth-usd","juels_per_fee_coin_source":"link-eth","deviation_threshold_ppb":0,"heartbeat_seconds":60}"#.to_owned(),
        base_port: 0,
        delta_round_ms: 0,
        r_max: 1_000_000,
        liar: false,
        durability: options.durability,
        chain: None,
        sources: None,
    })?;
    let (stop, shutdown) = watch::channel(false);
    let (events_tx, mut events) = mpsc::channel::<(usize, DriverEvent)>(65_536);
    let mut nodes = Vec::new();
    for (i, file) in layout.node_configs.iter().enumerate() {
        let config = NodeConfig::load(file)?;
        let (tx, mut rx) = mpsc::channel(4096);
        let forward = events_tx.clone();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                if forward.send((i, event)).await.is_err() {
                    break;
                }
            }
        });
        let shutdown = shutdown.clone();
        nodes.push(tokio::spawn(async move {
            crate::node::run(config, crate::node::RunOptions { events: Some(tx), chain: None }, shutdown).await
        }));
    }
    drop(events_tx);

    // Wait for the first commit at node 0 (plugin compilation and
    // connection setup are not measured).
    let first = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some((i, event)) = events.recv().await {
            if i == 0 && matches!(event, DriverEvent::Committed { .. }) {
                return true;
            }
        }
        false
    })
    .await;
    if !matches!(first, Ok(true)) {
        let _ = stop.send(true);
        for node in nodes {
            if let Ok(Err(error)) = node.await {
                return Err(error.context("a node failed to start"));
            }
        }
        bail!("no outcome committed within 120 s");
    }

    let cpu_start = cpu_seconds().context("reading /proc/self/stat")?;
    let started = Instant::now();
    let mut committed = BTreeSet::new();
    let mut latencies = Vec::new();
    let mut attested = 0u64;
    let deadline = tokio::time::Instant::now() + options.duration;
    loop {
        let event = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            event = events.recv() => event,
        };
        let Some((i, event)) = event else { break };
        match event {
            DriverEvent::Committed { seq_nr, latency, .. } => {
                if i == 0 {
                    committed.insert(seq_nr);
                }
                if let Some(latency) = latency {
                    latencies.push(latency.as_secs_f64() * 1000.0);
                }
            }
            DriverEvent::Attested(_) if i == 0 => attested += 1,
            _ => {}
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds().context("reading /proc/self/stat")? - cpu_start;
    let _ = stop.send(true);
    for node in nodes {
        match node.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(error.context("a node stopped with an error")),
            Err(error) => bail!("a node task failed: {error}"),
        }
    }
    latencies.sort_by(f64::total_cmp);
    let outcomes = committed.len() as u64;
    Ok(BenchReport {
        nodes: options.nodes,
        f: (options.nodes - 1) / 3,
        outcomes,
        outcomes_per_sec: outcomes as f64 / elapsed,
        commit_latency_ms: Latency { p50: percentile(&latencies, 0.5), p99: percentile(&latencies, 0.99) },
        attested_reports: attested,
        cpu_seconds: cpu,
        peak_rss_mb: peak_rss_mb().unwrap_or(0.0),
        mode: "one process, one tokio runtime, N nodes over QUIC on loopback",
        durability: match options.durability {
            Durability::Machine => "machine (fdatasync per lock and pacemaker write)",
            Durability::Process => "process (OS buffers per persist)",
        },
    })
}
