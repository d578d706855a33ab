#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The CPU one consensus-sized message costs on loopback QUIC, both ends
//! together, measured two ways:
//!
//! - `quinn`: bare quinn with this crate's TLS and transport configs, one
//!   stream each way: the floor no code of ours can go below;
//! - `network`: the node's own transport (`Network`: framing, queues, rate
//!   limits, decoding), sending `Prepare` messages.
//!
//! Both send the same number of bytes per message: one `Prepare` frame.
//! Pairs of endpoints ping-pong one message at a time, so every message is
//! a packet of its own, as consensus messages are; with several pairs at
//! once both cores are busy, as in the n = 31 cluster, and with many pairs
//! the endpoints' state no longer stays in cache, as with 31 nodes. The
//! figure is process CPU (user + system, /proc/self/stat, Linux) over the
//! messages delivered in the same window, which opens once every pair has
//! made its first round trip (handshakes are not measured).
//!
//! `cargo bench -p ocr-net --bench message_cost` prints one JSON line per
//! case and pair count. `MESSAGE_COST_PAIRS` (default `1,8,64`, each
//! 1–127), `MESSAGE_COST_CASES` (default `quinn,network`),
//! `MESSAGE_COST_WINDOW_MS` (default 4000) and `MESSAGE_COST_WORKERS` (the
//! runtime's worker threads, default 2, as the node has on this machine)
//! choose what runs. `cargo test
//! --all-targets` runs it as a smoke test: one pair, briefly, failing (not
//! hanging) if no message makes the round trip.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ocr_core::messages::{Message, MessageLimits};
use ocr_core::wire::{self, RateLimits};
use ocr_net::frame::FRAME_HEADER_LEN;
use ocr_net::identity::{self, AllowedPeers, LocalIdentity};
use ocr_net::{InstanceSender, NetMetrics, Network, NetworkConfig, PeerId, Transport};

const DIGEST: [u8; 32] = [0x42; 32];
/// How long every pair gets to connect and make its first round trip.
const CONNECT_DEADLINE: Duration = Duration::from_secs(20);
/// How long a pair may wait for one echo before the run is called broken.
const ECHO_DEADLINE: Duration = Duration::from_secs(10);

fn prepare(seq_nr: u64) -> Message {
    Message::Prepare { epoch: 1, seq_nr, signature: [9; 64] }
}

/// The bytes one `Prepare` takes on its stream, header included.
fn frame_bytes() -> usize {
    FRAME_HEADER_LEN + wire::encode(&prepare(0)).len()
}

/// Process CPU seconds so far (clock ticks of 10 ms: measured over seconds).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// What every pair shares with the measurement: round trips made, pairs
/// ready (first round trip done), and the stop signal.
#[derive(Clone)]
struct Shared {
    round_trips: Arc<AtomicU64>,
    ready: Arc<AtomicUsize>,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl Shared {
    /// Runs one round trip, unless the stop comes first (then `false`),
    /// and counts it; the first one marks the pair ready instead. Panics if
    /// the echo does not come.
    async fn round_trip(&mut self, first: bool, exchange: impl std::future::Future<Output = ()>) -> bool {
        tokio::select! {
            _ = self.stop.wait_for(|stop| *stop) => false,
            done = tokio::time::timeout(ECHO_DEADLINE, exchange) => {
                done.unwrap_or_else(|_| panic!("no echo within {ECHO_DEADLINE:?}"));
                if first {
                    self.ready.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.round_trips.fetch_add(1, Ordering::Relaxed);
                }
                true
            }
        }
    }
}

fn endpoint(identity: &LocalIdentity, allowed: &[PeerId]) -> quinn::Endpoint {
    let peers = AllowedPeers::default();
    peers.set(allowed.iter().copied());
    let server = identity::server_config(identity, peers).unwrap();
    quinn::Endpoint::server(server, loopback()).unwrap()
}

/// Bare quinn: the client opens a stream, the server one back, and the
/// server echoes every frame it reads.
async fn quinn_pair(seed: u8, mut shared: Shared) {
    let (a, b) =
        (LocalIdentity::from_seed(&[seed; 32]).unwrap(), LocalIdentity::from_seed(&[seed | 0x80; 32]).unwrap());
    let server = endpoint(&b, &[a.id()]);
    let client = endpoint(&a, &[b.id()]);
    let address = server.local_addr().unwrap();
    let size = frame_bytes();
    let echo = tokio::spawn(async move {
        let connection = server.accept().await?.await.ok()?;
        let mut recv = connection.accept_uni().await.ok()?;
        let mut send = connection.open_uni().await.ok()?;
        let mut frame = vec![0u8; size];
        while recv.read_exact(&mut frame).await.is_ok() {
            send.write_all(&frame).await.ok()?;
        }
        Some(())
    });
    let connecting = client.connect_with(identity::client_config(&a, b.id()).unwrap(), address, identity::SERVER_NAME);
    let connection = connecting.unwrap().await.unwrap();
    let mut send = connection.open_uni().await.unwrap();
    // A stream reaches the peer with its first data: the server accepts
    // ours once this frame arrives, and opens its own to echo it.
    send.write_all(&vec![7u8; size]).await.unwrap();
    let mut recv = connection.accept_uni().await.unwrap();
    let mut frame = vec![0u8; size];
    let mut first = true;
    while shared
        .round_trip(first, async {
            if !first {
                send.write_all(&frame).await.unwrap();
            }
            recv.read_exact(&mut frame).await.unwrap();
        })
        .await
    {
        first = false;
    }
    connection.close(0u32.into(), b"done");
    // The echo ends when its stream does; then both endpoints go idle.
    let _ = tokio::time::timeout(ECHO_DEADLINE, echo).await;
    let _ = tokio::time::timeout(ECHO_DEADLINE, client.wait_idle()).await;
}

/// No rate limit: a dropped message would stall its pair for good, and the
/// limiter's own cost is still paid on every message.
fn unlimited() -> RateLimits {
    RateLimits { messages_per_second: 1e9, message_capacity: 1 << 30, bytes_per_second: 1e12, byte_capacity: 1 << 40 }
}

/// The node's transport: two `Network`s in one instance of two oracles,
/// each answering every `Prepare` with one.
async fn network_pair(seed: u8, mut shared: Shared) {
    let seeds = [[seed; 32], [seed | 0x80; 32]];
    let ids: Vec<PeerId> = seeds.iter().map(|s| LocalIdentity::from_seed(s).unwrap().id()).collect();
    // Free ports, as the crate's tests find them; a dial that comes before
    // its peer listens is retried, within CONNECT_DEADLINE.
    let ports: Vec<SocketAddr> =
        (0..2).map(|_| std::net::UdpSocket::bind(loopback()).unwrap().local_addr().unwrap()).collect();
    let start = |me: usize| -> (Network, InstanceSender) {
        let other = 1 - me;
        let config = NetworkConfig::new(ports[me], seeds[me], vec![(ids[other], ports[other])]);
        let network = Network::start(config, NetMetrics::default()).unwrap();
        let sender = network.open_instance(DIGEST, &ids, me as u8, MessageLimits::for_fuzzing(2), unlimited()).unwrap();
        (network, sender)
    };
    let (network_a, a) = start(0);
    let (network_b, b) = start(1);
    let echo = tokio::spawn(async move {
        let inbound = b.inbound();
        loop {
            if let (_, Message::Prepare { seq_nr, .. }) = inbound.pop().await {
                b.send(0, &prepare(seq_nr));
            }
        }
    });
    let inbound = a.inbound();
    let mut seq_nr = 0;
    // A message sent before the connection is up waits in the writer's
    // queue, so the first exchange needs no retry.
    while shared
        .round_trip(seq_nr == 0, async {
            a.send(1, &prepare(seq_nr));
            inbound.pop().await;
        })
        .await
    {
        seq_nr += 1;
    }
    echo.abort();
    drop((a, network_a, network_b));
}

async fn measure<F, Fut>(case: &str, pairs: u8, window: Duration, pair: F)
where
    F: Fn(u8, Shared) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shared =
        Shared { round_trips: Arc::new(AtomicU64::new(0)), ready: Arc::new(AtomicUsize::new(0)), stop: stopped };
    let tasks: Vec<_> = (1..=pairs).map(|p| tokio::spawn(pair(p, shared.clone()))).collect();
    let connecting = Instant::now();
    while shared.ready.load(Ordering::Relaxed) < usize::from(pairs) {
        let failed = tasks.iter().any(|t| t.is_finished());
        assert!(
            !failed && connecting.elapsed() < CONNECT_DEADLINE,
            "{case}: {} of {pairs} pairs made a first round trip within {CONNECT_DEADLINE:?}",
            shared.ready.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (cpu, round_trips, started) = (cpu_seconds(), shared.round_trips.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(window).await;
    let (cpu, round_trips) = (cpu_seconds() - cpu, shared.round_trips.load(Ordering::Relaxed) - round_trips);
    let elapsed = started.elapsed().as_secs_f64();
    stop.send(true).unwrap();
    for task in tasks {
        tokio::time::timeout(CONNECT_DEADLINE, task).await.expect("a pair did not stop").unwrap();
    }
    assert!(round_trips > 0, "{case}: no message made the round trip in {elapsed:.1} s");
    let messages = 2.0 * round_trips as f64;
    println!(
        "{{\"bench\":\"message_cost\",\"case\":\"{case}\",\"pairs\":{pairs},\"frame_bytes\":{},\
         \"messages_per_sec\":{:.0},\"cpu_us_per_message\":{:.2}}}",
        frame_bytes(),
        messages / elapsed,
        cpu * 1e6 / messages
    );
}

/// An environment variable's value, or `default` when it is unset.
fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (pairs, window_ms) = if bench { ("1,8,64", "4000") } else { ("1", "300") };
    let pairs: Vec<u8> = setting("MESSAGE_COST_PAIRS", pairs)
        .split(',')
        .map(|p| match p.trim().parse::<u8>() {
            Ok(p @ 1..=127) => p,
            _ => panic!("MESSAGE_COST_PAIRS: {p:?} is not a pair count from 1 to 127"),
        })
        .collect();
    let window_ms: u64 =
        setting("MESSAGE_COST_WINDOW_MS", window_ms).parse().expect("MESSAGE_COST_WINDOW_MS: milliseconds");
    let window = Duration::from_millis(window_ms);
    let cases = setting("MESSAGE_COST_CASES", "quinn,network");
    let workers: usize = setting("MESSAGE_COST_WORKERS", "2").parse().expect("MESSAGE_COST_WORKERS: a thread count");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().unwrap();
    runtime.block_on(async {
        for pairs in pairs {
            if cases.contains("quinn") {
                measure("quinn", pairs, window, quinn_pair).await;
            }
            if cases.contains("network") {
                measure("network", pairs, window, network_pair).await;
            }
        }
    });
}
