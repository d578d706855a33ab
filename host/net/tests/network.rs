#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The QUIC transport on loopback: messages flow between configured peers;
//! unknown keys and wrong keys are refused; and every kind of bad input
//! (oversized frame, garbage, wrong version, malformed body, flood) is
//! dropped and counted, the connection closed where the reference says so,
//! and the node keeps working.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ocr_core::messages::{Message, MessageLimits};
use ocr_core::wire::{self, MessageKind, RateLimits, WIRE_VERSION};
use ocr_net::frame::{self, FRAME_HEADER_LEN};
use ocr_net::identity::{self, LocalIdentity};
use ocr_net::metrics::{HandshakeLabels, PeerLabels};
use ocr_net::{Inbound, InstanceSender, NetMetrics, Network, NetworkConfig, PeerId, Transport};

const DIGEST: [u8; 32] = [0x42; 32];

fn limits() -> MessageLimits {
    MessageLimits {
        n: 3,
        quorum: 2,
        max_query_length: 128,
        max_observation_length: 128,
        max_outcome_length: 1024,
        max_report_count: 1,
        max_report_signature_length: 65,
    }
}

fn generous() -> RateLimits {
    RateLimits {
        messages_per_second: 10_000.0,
        message_capacity: 10_000,
        bytes_per_second: 1e9,
        byte_capacity: 1 << 30,
    }
}

fn id(seed: u8) -> PeerId {
    LocalIdentity::from_seed(&[seed; 32]).unwrap().id()
}

fn free_port() -> SocketAddr {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

struct Node {
    network: Network,
    sender: InstanceSender,
    inbound: Arc<Inbound>,
    metrics: NetMetrics,
}

/// Oracle `me` of three (seeds 1, 2, 3), listening on `addresses[me]`.
fn node(me: u8, addresses: &[SocketAddr], rates: RateLimits) -> Node {
    let seeds = [1u8, 2, 3];
    let peers = (0..3).filter(|&i| i != me).map(|i| (id(seeds[usize::from(i)]), addresses[usize::from(i)])).collect();
    let metrics = NetMetrics::default();
    let config = NetworkConfig::new(addresses[usize::from(me)], [seeds[usize::from(me)]; 32], peers);
    let network = Network::start(config, metrics.clone()).unwrap();
    let oracles: Vec<PeerId> = seeds.iter().map(|s| id(*s)).collect();
    let sender = network.open_instance(DIGEST, &oracles, me, limits(), rates).unwrap();
    let inbound = sender.inbound();
    Node { network, sender, inbound, metrics }
}

async fn receive(inbound: &Inbound) -> (u8, Message) {
    tokio::time::timeout(Duration::from_secs(10), inbound.pop()).await.expect("a message within 10 s")
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_peers_exchange_messages_in_order() {
    let addresses = [free_port(), free_port(), free_port()];
    let nodes: Vec<Node> = (0..3).map(|i| node(i, &addresses, generous())).collect();
    for epoch in 1..=20 {
        nodes[0].sender.broadcast(&Message::NewEpochWish { epoch });
    }
    nodes[2].sender.send(1, &Message::CertifiedCommitRequest { seq_nr: 9 });
    for (i, node) in nodes.iter().enumerate() {
        let expected = if i == 1 { 21 } else { 20 };
        let mut received = Vec::new();
        for _ in 0..expected {
            received.push(receive(&node.inbound).await);
        }
        let from_0: Vec<Message> = received.iter().filter(|(from, _)| *from == 0).map(|(_, m)| m.clone()).collect();
        let wishes: Vec<Message> = (1..=20).map(|epoch| Message::NewEpochWish { epoch }).collect();
        assert_eq!(from_0, wishes, "everything from oracle 0, in order, at oracle {i}");
        if i == 1 {
            assert!(received.contains(&(2, Message::CertifiedCommitRequest { seq_nr: 9 })));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_cannot_connect_and_a_wrong_key_is_not_accepted() {
    let addresses = [free_port(), free_port(), free_port()];
    let a = node(0, &addresses, generous());

    // A stranger (seed 9) dials oracle 0: the handshake fails.
    let stranger = LocalIdentity::from_seed(&[9; 32]).unwrap();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let connecting = endpoint
        .connect_with(identity::client_config(&stranger, a.network.peer_id()).unwrap(), addresses[0], "ocr-peer")
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), connecting).await.unwrap();
    // TLS 1.3 clients finish before the server checks their certificate, so
    // the refusal may arrive as the connection closing right after.
    if let Ok(connection) = result {
        let reason = tokio::time::timeout(Duration::from_secs(10), connection.closed()).await.unwrap();
        assert!(!matches!(reason, quinn::ConnectionError::LocallyClosed), "{reason}");
    }
    let refused = HandshakeLabels { direction: "inbound", result: "refused" };
    eventually("the refusal is counted", || a.metrics.handshakes.get_or_create(&refused).get() >= 1).await;
    assert!(a.inbound.is_empty());

    // Oracle 1's address is served by a node with another key (seed 4).
    // Dialing it as oracle 1 fails on the dialer's side; dialing it as what
    // it is succeeds, so the failure is the key and nothing else.
    let impostor =
        Network::start(NetworkConfig::new(addresses[1], [4; 32], vec![(id(1), addresses[0])]), NetMetrics::default())
            .unwrap();
    let me = LocalIdentity::from_seed(&[1; 32]).unwrap();
    let dialer = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let as_oracle_1 =
        dialer.connect_with(identity::client_config(&me, id(2)).unwrap(), addresses[1], "ocr-peer").unwrap();
    let error = tokio::time::timeout(Duration::from_secs(10), as_oracle_1).await.unwrap().unwrap_err();
    assert!(error.to_string().contains("certificate"), "{error}");
    let as_itself =
        dialer.connect_with(identity::client_config(&me, id(4)).unwrap(), addresses[1], "ocr-peer").unwrap();
    tokio::time::timeout(Duration::from_secs(10), as_itself).await.unwrap().expect("the right key connects");
    drop(impostor);
}

/// A raw connection to oracle 0 presenting oracle 1's key, for sending
/// hand-made bytes. Oracle 1's own node is not running.
async fn raw_peer(addresses: &[SocketAddr], target: PeerId) -> quinn::Connection {
    let identity = LocalIdentity::from_seed(&[2; 32]).unwrap();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint
        .connect_with(identity::client_config(&identity, target).unwrap(), addresses[0], "ocr-peer")
        .unwrap()
        .await
        .unwrap()
}

async fn open(connection: &quinn::Connection) -> quinn::SendStream {
    let mut stream = connection.open_uni().await.unwrap();
    stream.write_all(&frame::stream_header(&DIGEST)).await.unwrap();
    stream
}

async fn closed_for(connection: &quinn::Connection) -> String {
    let reason = tokio::time::timeout(Duration::from_secs(10), connection.closed()).await.expect("closed");
    match reason {
        quinn::ConnectionError::ApplicationClosed(close) => String::from_utf8_lossy(&close.reason).into_owned(),
        other => panic!("closed for another reason: {other}"),
    }
}

fn dropped(metrics: &NetMetrics, reason: &str) -> u64 {
    metrics.dropped_for(reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_split_across_packets_and_larger_than_one_arrive_whole() {
    let addresses = [free_port(), free_port(), free_port()];
    let a = node(0, &addresses, generous());
    let connection = raw_peer(&addresses, a.network.peer_id()).await;
    let mut stream = open(&connection).await;

    // One frame written a few bytes at a time, each piece its own packet:
    // the body is gathered from several chunks.
    let query: Vec<u8> = (0..100).collect();
    let start = Message::RoundStart { epoch: 3, seq_nr: 4, query, signature: [9; 64] };
    let framed = frame::frame(MessageKind::RoundStart, &wire::encode(&start));
    for piece in framed.chunks(7) {
        stream.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(receive(&a.inbound).await, (1, start));

    // Frames written together beyond what one packet carries (quinn's
    // largest is 1452 bytes): at least one of them straddles two packets.
    let outcome: Vec<u8> = (0..1024u32).map(|i| (i % 251) as u8).collect();
    let commit = |seq_nr| {
        let signatures = vec![(0, [1; 64]), (2, [2; 64])];
        Message::CertifiedCommit(ocr_core::certificate::CertifiedCommit {
            epoch: 1,
            seq_nr,
            outcome: outcome.clone(),
            signatures,
        })
    };
    let messages = [commit(2), commit(3), Message::NewEpochWish { epoch: 5 }];
    let together: Vec<u8> = messages.iter().flat_map(|m| frame::frame(MessageKind::of(m), &wire::encode(m))).collect();
    assert!(together.len() > 1452, "{} bytes", together.len());
    stream.write_all(&together).await.unwrap();
    for message in messages {
        assert_eq!(receive(&a.inbound).await, (1, message));
    }
    assert!(connection.close_reason().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framing_violations_close_the_connection_and_are_counted() {
    let addresses = [free_port(), free_port(), free_port()];
    let a = node(0, &addresses, generous());
    let target = a.network.peer_id();

    // An oversized frame: the header alone condemns it.
    let connection = raw_peer(&addresses, target).await;
    let mut stream = open(&connection).await;
    let mut header = vec![WIRE_VERSION, MessageKind::NewEpochWish as u8];
    header.extend_from_slice(&1_000_000u32.to_be_bytes());
    stream.write_all(&header).await.unwrap();
    assert_eq!(closed_for(&connection).await, "oversized");
    eventually("oversized is counted", || dropped(&a.metrics, "oversized") == 1).await;

    // A frame in a version this node does not speak.
    let connection = raw_peer(&addresses, target).await;
    let mut stream = open(&connection).await;
    let mut bad = frame::frame(MessageKind::NewEpochWish, &wire::encode(&Message::NewEpochWish { epoch: 1 }));
    bad[0] = WIRE_VERSION + 1;
    stream.write_all(&bad).await.unwrap();
    assert_eq!(closed_for(&connection).await, "bad_version");
    eventually("bad_version is counted", || dropped(&a.metrics, "bad_version") == 1).await;

    // Garbage instead of a stream header.
    let connection = raw_peer(&addresses, target).await;
    let mut stream = connection.open_uni().await.unwrap();
    stream.write_all(&[0xde; 64]).await.unwrap();
    assert_eq!(closed_for(&connection).await, "bad_magic");

    // An unknown kind.
    let connection = raw_peer(&addresses, target).await;
    let mut stream = open(&connection).await;
    stream.write_all(&[WIRE_VERSION, 200, 0, 0, 0, 0]).await.unwrap();
    assert_eq!(closed_for(&connection).await, "unknown_kind");

    let violations = a.metrics.protocol_violations.get_or_create(&PeerLabels { peer_id: hex::encode(&id(2).0[..8]) });
    assert_eq!(violations.get(), 4);

    // The node is still fine: a well-behaved connection delivers.
    let connection = raw_peer(&addresses, target).await;
    let mut stream = open(&connection).await;
    let good = frame::frame(MessageKind::NewEpochWish, &wire::encode(&Message::NewEpochWish { epoch: 5 }));
    stream.write_all(&good).await.unwrap();
    assert_eq!(receive(&a.inbound).await, (1, Message::NewEpochWish { epoch: 5 }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_and_floods_are_dropped_without_closing() {
    let addresses = [free_port(), free_port(), free_port()];
    let rates =
        RateLimits { messages_per_second: 5.0, message_capacity: 20, bytes_per_second: 1e6, byte_capacity: 1 << 20 };
    let a = node(0, &addresses, rates);
    let connection = raw_peer(&addresses, a.network.peer_id()).await;
    let mut stream = open(&connection).await;

    // A body that is not a message of its kind: dropped, counted, no close.
    stream.write_all(&frame::frame(MessageKind::NewEpochWish, &[1, 2, 3])).await.unwrap();
    // A message that fits its frame bound but breaks a limit (more
    // observations than oracles) decodes and is refused by the size check.
    let observation = ocr_core::messages::AttributedSignedObservation {
        signed: ocr_core::messages::SignedObservation { observation: Vec::new(), signature: [0; 64] },
        observer: 0,
    };
    let crowded = Message::Proposal { epoch: 1, seq_nr: 1, observations: vec![observation; 4] };
    stream.write_all(&frame::frame(MessageKind::Proposal, &wire::encode(&crowded))).await.unwrap();
    eventually("malformed bodies are counted", || dropped(&a.metrics, "malformed") == 2).await;

    // A well-formed message with an invalid signature passes the transport
    // (signatures are the core's business, after these checks).
    let forged = Message::RoundStart { epoch: 1, seq_nr: 1, query: vec![1], signature: [7; 64] };
    stream.write_all(&frame::frame(MessageKind::RoundStart, &wire::encode(&forged))).await.unwrap();
    assert_eq!(receive(&a.inbound).await, (1, forged));

    // A flood far above the rate: most is dropped, the connection stays.
    let wish = frame::frame(MessageKind::NewEpochWish, &wire::encode(&Message::NewEpochWish { epoch: 2 }));
    let burst: Vec<u8> = wish.iter().copied().cycle().take(wish.len() * 500).collect();
    stream.write_all(&burst).await.unwrap();
    eventually("the flood is rate limited", || dropped(&a.metrics, "rate_limited") >= 450).await;
    let mut delivered = 0;
    while a.inbound.try_pop().is_some() {
        delivered += 1;
    }
    assert!(delivered <= 30, "{delivered} of 500 flooded messages got through");
    assert!(connection.close_reason().is_none(), "a flood is dropped, not disconnected");

    // Once the bucket refills, the same connection delivers again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stream.write_all(&wish).await.unwrap();
    assert_eq!(receive(&a.inbound).await, (1, Message::NewEpochWish { epoch: 2 }));
    assert_eq!(FRAME_HEADER_LEN, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_reachable_in_one_direction_only_still_connects() {
    // Each side's address book has a dead address for the other, except the
    // side that is *not* the preferred dialer: only its fallback dial works.
    let (low, high) = if id(1) < id(2) { (1u8, 2u8) } else { (2, 1) };
    let low_address = free_port();
    let high_address = free_port();
    let dead = free_port();
    let start = |seed: u8, listen, peer: u8, peer_address| {
        let config = NetworkConfig::new(listen, [seed; 32], vec![(id(peer), peer_address)]);
        Network::start(config, NetMetrics::default()).unwrap()
    };
    let low_node = start(low, low_address, high, dead);
    let high_node = start(high, high_address, low, low_address);
    eventually("the fallback dial connects the pair", || {
        low_node.is_connected(&id(high)) && high_node.is_connected(&id(low))
    })
    .await;
}
