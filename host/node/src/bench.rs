//! `ocr-node bench`: N complete nodes in one process, talking real QUIC over
//! loopback, each with its own keys, sled store, median plugin instance (the
//! wasm component, or its native build with `--native`) and driver, with
//! DeltaRound 0 so rounds run back to back. What limits the rate is then the
//! protocol's own work: signatures, plugin calls, fsyncs and the network
//! stack. One process keeps the setup honest about CPU: every node shares
//! the machine's cores exactly as N processes would.
//!
//! With `--link-delay-ms D` every node is reached through a user-space relay
//! ([`netem_relay`]) that delays each datagram by D in each direction, so
//! every message between two nodes takes D one way. A round needs five
//! message delays in sequence (round start, observation, proposal, prepare,
//! commit), so 5·D is the protocol's lower bound on the round interval, and
//! the result line gives the measured interval against it.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use netem_relay::{Impairment, Relay, RelayConfig};
use ocr_plugin_api::{NativePlugin, Plugin};
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::config::node::NodeConfig;
use crate::driver::DriverEvent;
use crate::network_init::{self, InitOptions};
use crate::node::NativePluginFactory;
use crate::storage::Durability;

/// Message delays on a round's critical path: round start, observation,
/// proposal, prepare, commit.
pub const MESSAGE_DELAYS_PER_ROUND: u32 = 5;

/// Rounds per epoch: few enough that a node which missed an epoch's start
/// (it connected late, and the others' messages overflowed its queue) is
/// back within seconds, enough that epoch starts cost little. Large
/// clusters run fewer rounds a second, so their epochs are shorter.
fn rounds_per_epoch(nodes: u8) -> u64 {
    if nodes <= 10 { 1000 } else { 100 }
}

/// How long the nodes get to start and commit once each.
const STARTUP: Duration = Duration::from_secs(120);

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Number of nodes.
    pub nodes: u8,
    /// Measured seconds (after a quorum of nodes has committed once).
    pub duration: Duration,
    /// The median plugin component (named by the network config; run unless
    /// `native`).
    pub plugin: std::path::PathBuf,
    /// Run the median plugin's native build instead of the component.
    pub native: bool,
    /// Added one-way delay on every link.
    pub link_delay: Duration,
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
    /// Which benchmark this line is.
    pub bench: &'static str,
    /// Nodes.
    pub nodes: u8,
    /// Faulty nodes tolerated.
    pub f: u8,
    /// `wasm` (the component in the sandbox) or `native`.
    pub plugin: &'static str,
    /// Added one-way delay per link, in milliseconds.
    pub link_delay_ms: f64,
    /// Distinct seq-nrs committed (anywhere) during the measured window.
    pub outcomes: u64,
    /// Outcomes per second.
    pub outcomes_per_sec: f64,
    /// Mean time between consecutive outcomes, in milliseconds.
    pub round_interval_ms: f64,
    /// The protocol's lower bound on that interval: five message delays.
    pub round_lower_bound_ms: f64,
    /// `round_interval_ms / round_lower_bound_ms` (only with a link delay).
    pub round_interval_over_lower_bound: Option<f64>,
    /// Round start (a node's first sight of the round) to commit, over
    /// every node's commits.
    pub commit_latency_ms: Latency,
    /// Nodes that committed during the window.
    pub nodes_committing: usize,
    /// Distinct reports attested during the window, at any node (node 0
    /// alone could be the late node sitting out the first epoch).
    pub attested_reports: u64,
    /// CPU time of the whole process during the window.
    pub cpu_seconds: f64,
    /// CPU time per node per committed outcome, in milliseconds.
    pub cpu_ms_per_node_round: f64,
    /// Peak resident memory of the whole process (all nodes).
    pub peak_rss_mb: f64,
    /// One Ed25519 verification on this host, alone, in microseconds
    /// (the median of a few hundred, taken before the nodes start): hosts
    /// differ, and this says how fast the one that made this line was.
    pub host_ed25519_verify_us: f64,
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

/// The `p` quantile (0 to 1) of ascending `sorted`, 0 when empty.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// The median time of one Ed25519 verification on this thread, in
/// microseconds: a figure of the host, comparable between runs on
/// different machines.
fn ed25519_verify_us() -> f64 {
    let key = ocr_core::signing::OffchainKey::from_seed([7; 32]);
    let (public, payload) = (key.public_key(), b"host calibration".as_slice());
    let signature = key.sign(payload);
    let mut times: Vec<f64> = (0..301)
        .map(|_| {
            let started = Instant::now();
            let valid = ocr_core::signing::verify(&public, std::hint::black_box(payload), &signature);
            let elapsed = started.elapsed().as_secs_f64() * 1e6;
            debug_assert!(valid);
            elapsed
        })
        .collect();
    times.sort_by(f64::total_cmp);
    percentile(&times, 0.5)
}

/// The median plugin's native build, for `--native`.
fn native_median() -> NativePluginFactory {
    Arc::new(|config, sources| {
        NativePlugin::<median::MedianPlugin>::create(config, sources).map(|p| Box::new(p) as Box<dyn Plugin + Send>)
    })
}

/// Starts one delaying relay in front of each node's QUIC address and
/// returns the relays' addresses, in node order.
async fn start_relays(
    addresses: &[SocketAddr],
    delay: Duration,
    shutdown: &watch::Receiver<bool>,
) -> Result<Vec<SocketAddr>> {
    let impairment = Impairment::new(delay, Duration::ZERO, 0.0).context("link delay")?;
    let mut relays = Vec::new();
    for address in addresses {
        let relay = Relay::bind(SocketAddr::from(([127, 0, 0, 1], 0)), RelayConfig::new(*address, impairment))
            .await
            .context("starting a link-delay relay")?;
        relays.push(relay.local_addr()?);
        let mut shutdown = shutdown.clone();
        tokio::spawn(relay.run(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        }));
    }
    Ok(relays)
}

/// Runs the benchmark in `dir` (which it fills with the network).
pub async fn run(options: &BenchOptions, dir: &Path) -> Result<BenchReport> {
    let host_ed25519_verify_us = ed25519_verify_us();
    let layout = network_init::init(&InitOptions {
        nodes: options.nodes,
        out: dir.to_path_buf(),
        plugin: options.plugin.clone(),
        // Report every round (deviation 0), so attestation runs every round.
        plugin_config: r#"{"version":1,"value_source":"eth-usd","juels_per_fee_coin_source":"link-eth","deviation_threshold_ppb":0,"heartbeat_seconds":60}"#.to_owned(),
        base_port: 0,
        delta_round_ms: 0,
        r_max: rounds_per_epoch(options.nodes),
        liar: false,
        durability: options.durability,
        chain: None,
        sources: None,
    })?;
    let (stop, shutdown) = watch::channel(false);
    let relays = if options.link_delay.is_zero() {
        None
    } else {
        Some(start_relays(&layout.addresses, options.link_delay, &shutdown).await?)
    };
    let (events_tx, mut events) = mpsc::channel::<(usize, DriverEvent)>(65_536);
    let mut nodes = Vec::new();
    for (i, file) in layout.node_configs.iter().enumerate() {
        let mut config = NodeConfig::load(file)?;
        if let Some(relays) = &relays {
            // Every peer is reached through the relay in front of it.
            for (j, keys) in layout.public_keys.iter().enumerate() {
                if let Some(address) = config.peers.get_mut(&keys.peer_id) {
                    *address = relays[j];
                }
            }
        }
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
        let run_options = crate::node::RunOptions {
            events: Some(tx),
            chain: None,
            native_plugin: options.native.then(native_median),
        };
        nodes.push(tokio::spawn(async move { crate::node::run(config, run_options, shutdown).await }));
    }
    drop(events_tx);

    // Wait until a quorum of nodes has committed: plugin compilation,
    // connection setup and the first epoch are not measured. (A node that
    // connected late may sit out the first epoch; the line says how many
    // nodes committed while measuring.)
    let n = usize::from(options.nodes);
    let quorum = ocr_plugin_sdk::byzantine_quorum(n, (n - 1) / 3);
    let started_up = tokio::time::timeout(STARTUP, async {
        let mut committed = BTreeSet::new();
        while let Some((i, event)) = events.recv().await {
            if matches!(event, DriverEvent::Committed { .. }) {
                committed.insert(i);
                if committed.len() >= quorum {
                    return Ok(());
                }
            }
        }
        Err(committed)
    })
    .await;
    if !matches!(started_up, Ok(Ok(()))) {
        let _ = stop.send(true);
        for node in nodes {
            if let Ok(Err(error)) = node.await {
                return Err(error.context("a node failed to start"));
            }
        }
        match started_up {
            Ok(Err(committed)) => bail!("the nodes stopped; these committed: {committed:?}"),
            _ => bail!("fewer than {quorum} nodes committed an outcome within {STARTUP:?}"),
        }
    }

    let cpu_start = cpu_seconds().context("reading /proc/self/stat")?;
    let started = Instant::now();
    let mut committed = BTreeSet::new();
    let mut committing = BTreeSet::new();
    let mut latencies = Vec::new();
    let mut attested = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + options.duration;
    loop {
        let event = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            event = events.recv() => event,
        };
        let Some((i, event)) = event else { break };
        match event {
            DriverEvent::Committed { seq_nr, latency, .. } => {
                committed.insert(seq_nr);
                committing.insert(i);
                if let Some(latency) = latency {
                    latencies.push(latency.as_secs_f64() * 1000.0);
                }
            }
            DriverEvent::Attested(report) => {
                attested.insert((report.seq_nr, report.index));
            }
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
    let round_interval_ms = if outcomes == 0 { f64::INFINITY } else { elapsed * 1000.0 / outcomes as f64 };
    let delay_ms = options.link_delay.as_secs_f64() * 1000.0;
    let lower_bound_ms = delay_ms * f64::from(MESSAGE_DELAYS_PER_ROUND);
    Ok(BenchReport {
        bench: "cluster",
        nodes: options.nodes,
        f: (options.nodes - 1) / 3,
        plugin: if options.native { "native" } else { "wasm" },
        link_delay_ms: delay_ms,
        outcomes,
        outcomes_per_sec: outcomes as f64 / elapsed,
        round_interval_ms,
        round_lower_bound_ms: lower_bound_ms,
        round_interval_over_lower_bound: (lower_bound_ms > 0.0).then(|| round_interval_ms / lower_bound_ms),
        commit_latency_ms: Latency { p50: percentile(&latencies, 0.5), p99: percentile(&latencies, 0.99) },
        nodes_committing: committing.len(),
        attested_reports: attested.len() as u64,
        cpu_seconds: cpu,
        cpu_ms_per_node_round: if outcomes == 0 { 0.0 } else { cpu * 1000.0 / outcomes as f64 / n as f64 },
        peak_rss_mb: peak_rss_mb().unwrap_or(0.0),
        host_ed25519_verify_us,
        mode: "one process, one tokio runtime, N nodes over QUIC on loopback",
        durability: match options.durability {
            Durability::Machine => "machine (fdatasync per lock and pacemaker write)",
            Durability::Process => "process (OS buffers per persist)",
        },
    })
}
