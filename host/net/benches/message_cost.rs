#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The CPU one consensus-sized message costs on loopback QUIC, both ends
//! together, measured two ways:
//!
//! - `quinn`: bare quinn with this crate's TLS configs, one stream each
//!   way, 90-byte frames: the floor no code of ours can go below;
//! - `network`: the node's own transport (`Network`, framing, queues, rate
//!   limits, decoding), sending `Prepare` messages.
//!
//! Pairs of endpoints ping-pong one message at a time, so every message is
//! a packet of its own, as consensus messages are; with several pairs at
//! once both cores are busy, as in the n = 31 cluster. The figure is process
//! CPU (user + system, /proc/self/stat) over messages delivered. It explains
//! the cluster's CPU per node per round: a node at n = 31 sends and
//! receives about 93 messages a round (`docs/performance.md`).
//!
//! `cargo bench -p ocr-net --bench message_cost` prints one JSON line per
//! case and pair count (`PAIRS=1,8,64` by default, at most 127;
//! `CASES=quinn,network`). `cargo test` runs it as a smoke test: one pair,
//! briefly, failing if no message made the round trip.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ocr_core::messages::{Message, MessageLimits};
use ocr_core::wire::RateLimits;
use ocr_net::identity::{self, AllowedPeers, LocalIdentity};
use ocr_net::{InstanceSender, NetMetrics, Network, NetworkConfig, PeerId, Transport};

const FRAME: usize = 90;
const DIGEST: [u8; 32] = [0x42; 32];

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

fn endpoint(identity: &LocalIdentity, allowed: &[PeerId]) -> quinn::Endpoint {
    let peers = AllowedPeers::default();
    peers.set(allowed.iter().copied());
    let server = identity::server_config(identity, peers).unwrap();
    quinn::Endpoint::server(server, loopback()).unwrap()
}

/// Bare quinn: the client opens a stream, the server one back, and each
/// echoes every frame it reads. Counts round trips into `count` until `stop`.
async fn quinn_pair(seed: u8, stop: Stop, count: Arc<AtomicU64>) {
    let (a, b) =
        (LocalIdentity::from_seed(&[seed; 32]).unwrap(), LocalIdentity::from_seed(&[seed | 0x80; 32]).unwrap());
    let server = endpoint(&b, &[a.id()]);
    let client = endpoint(&a, &[b.id()]);
    let address = server.local_addr().unwrap();
    let accepting = tokio::spawn(async move {
        let connection = server.accept().await.unwrap().await.unwrap();
        let mut recv = connection.accept_uni().await.unwrap();
        let mut send = connection.open_uni().await.unwrap();
        let mut frame = [0u8; FRAME];
        while recv.read_exact(&mut frame).await.is_ok() {
            if send.write_all(&frame).await.is_err() {
                break;
            }
        }
        drop(server);
    });
    let connection =
        client.connect_with(identity::client_config(&a, b.id()).unwrap(), address, identity::SERVER_NAME).unwrap();
    let connection = connection.await.unwrap();
    let mut send = connection.open_uni().await.unwrap();
    send.write_all(&[7u8; FRAME]).await.unwrap();
    let mut recv = connection.accept_uni().await.unwrap();
    let mut frame = [0u8; FRAME];
    recv.read_exact(&mut frame).await.unwrap();
    while !*stop.borrow() {
        send.write_all(&frame).await.unwrap();
        recv.read_exact(&mut frame).await.unwrap();
        count.fetch_add(1, Ordering::Relaxed);
    }
    connection.close(0u32.into(), b"done");
    accepting.abort();
}

fn limits() -> MessageLimits {
    MessageLimits {
        n: 2,
        quorum: 2,
        max_query_length: 128,
        max_observation_length: 128,
        max_outcome_length: 1024,
        max_report_count: 1,
        max_report_signature_length: 65,
    }
}

fn unlimited() -> RateLimits {
    RateLimits { messages_per_second: 1e9, message_capacity: 1 << 30, bytes_per_second: 1e12, byte_capacity: 1 << 40 }
}

/// The node's transport: two `Network`s in one instance of two oracles,
/// each answering every `Prepare` with one.
async fn network_pair(seed: u8, stop: Stop, count: Arc<AtomicU64>) {
    let seeds = [[seed; 32], [seed | 0x80; 32]];
    let ids: Vec<PeerId> = seeds.iter().map(|s| LocalIdentity::from_seed(s).unwrap().id()).collect();
    let ports: Vec<SocketAddr> =
        (0..2).map(|_| std::net::UdpSocket::bind(loopback()).unwrap().local_addr().unwrap()).collect();
    let start = |me: usize| -> (Network, InstanceSender) {
        let other = 1 - me;
        let config = NetworkConfig::new(ports[me], seeds[me], vec![(ids[other], ports[other])]);
        let network = Network::start(config, NetMetrics::default()).unwrap();
        let sender = network.open_instance(DIGEST, &ids, me as u8, limits(), unlimited()).unwrap();
        (network, sender)
    };
    let (network_a, a) = start(0);
    let (network_b, b) = start(1);
    let prepare = |seq_nr| Message::Prepare { epoch: 1, seq_nr, signature: [9; 64] };
    let echo = tokio::spawn(async move {
        let inbound = b.inbound();
        loop {
            let (_, message) = inbound.pop().await;
            if let Message::Prepare { seq_nr, .. } = message {
                b.send(0, &prepare(seq_nr));
            }
        }
    });
    let inbound = a.inbound();
    // The first message waits for the connection; the queue keeps it.
    a.send(1, &prepare(0));
    inbound.pop().await;
    let mut seq_nr = 0;
    while !*stop.borrow() {
        seq_nr += 1;
        a.send(1, &prepare(seq_nr));
        inbound.pop().await;
        count.fetch_add(1, Ordering::Relaxed);
    }
    echo.abort();
    drop((network_a, network_b));
}

type Stop = tokio::sync::watch::Receiver<bool>;

async fn measure<F, Fut>(case: &str, pairs: u8, window: Duration, pair: F)
where
    F: Fn(u8, Stop, Arc<AtomicU64>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    // Handshakes and first allocations are left out: the pairs run for a
    // second before the measured window opens.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let count = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> =
        (0..pairs).map(|p| tokio::spawn(pair(p.wrapping_add(1), stopped.clone(), count.clone()))).collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (cpu, round_trips, started) = (cpu_seconds(), count.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(window).await;
    let (cpu, round_trips) = (cpu_seconds() - cpu, count.load(Ordering::Relaxed) - round_trips);
    let elapsed = started.elapsed().as_secs_f64();
    stop.send(true).unwrap();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(round_trips > 0, "{case}: no message made the round trip in {elapsed:.1} s");
    let messages = 2.0 * round_trips as f64;
    println!(
        "{{\"bench\":\"message_cost\",\"case\":\"{case}\",\"pairs\":{pairs},\"frame_bytes\":{FRAME},\
         \"messages_per_sec\":{:.0},\"cpu_us_per_message\":{:.2}}}",
        messages / elapsed,
        cpu * 1e6 / messages
    );
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let window = if bench { Duration::from_secs(4) } else { Duration::from_millis(300) };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let pairs: Vec<u8> = std::env::var("PAIRS")
            .map(|v| v.split(',').filter_map(|p| p.trim().parse().ok()).filter(|p| (1..128).contains(p)).collect())
            .unwrap_or_else(|_| if bench { vec![1, 8, 64] } else { vec![1] });
        let cases = std::env::var("CASES").unwrap_or_else(|_| "quinn,network".to_owned());
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
