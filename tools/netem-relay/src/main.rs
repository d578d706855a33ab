//! `netem-relay`: a UDP relay adding latency, jitter and loss in both
//! directions. Prints its counters as one JSON line on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use netem_relay::{Impairment, Relay, RelayConfig};

/// The longest delay or jitter accepted, in milliseconds (one hour).
const MAX_MS: u64 = 3_600_000;

/// Relays UDP datagrams from any client to one target and back, delaying each
/// by delay ± jitter and dropping it with probability loss, in each direction.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address clients send to.
    #[arg(long)]
    listen: SocketAddr,
    /// Address datagrams are forwarded to.
    #[arg(long)]
    forward: SocketAddr,
    /// Mean one-way delay added in each direction, in milliseconds.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=MAX_MS))]
    delay_ms: u64,
    /// Largest deviation from the delay (uniform), in milliseconds.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=MAX_MS))]
    jitter_ms: u64,
    /// Probability that a datagram is dropped, in each direction.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    loss: f64,
    /// Seed for the loss and delay draws (default: from the OS).
    #[arg(long)]
    seed: Option<u64>,
    /// The most clients served at once.
    #[arg(long, default_value_t = 64)]
    max_clients: usize,
    /// Seconds after which a silent client is forgotten.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    idle_secs: u64,
    /// The most datagrams queued (delayed, or waiting to be scheduled).
    #[arg(long, default_value_t = 4096)]
    queue: usize,
}

fn parse_probability(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&p) { Ok(p) } else { Err(format!("{p} is not a probability in [0, 1]")) }
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let impairment =
        match Impairment::new(Duration::from_millis(args.delay_ms), Duration::from_millis(args.jitter_ms), args.loss) {
            Ok(impairment) => impairment,
            Err(e) => {
                eprintln!("netem-relay: {e}");
                return ExitCode::from(2);
            }
        };
    let mut config = RelayConfig::new(args.forward, impairment);
    config.seed = args.seed;
    config.max_clients = args.max_clients;
    config.idle = Duration::from_secs(args.idle_secs);
    config.queue_capacity = args.queue;
    let relay = match Relay::bind(args.listen, config).await {
        Ok(relay) => relay,
        Err(e) => {
            eprintln!("netem-relay: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "netem-relay: {} -> {}, delay {} ms ± {} ms, loss {}",
        args.listen, args.forward, args.delay_ms, args.jitter_ms, args.loss
    );
    let stats = relay.run(shutdown_signal()).await;
    println!("{}", stats.to_json());
    ExitCode::SUCCESS
}
