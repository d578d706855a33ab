//! The QUIC network of one node: one endpoint, one connection per peer, and
//! per protocol instance a unidirectional stream per direction, so that
//! instances never block each other.
//!
//! Guarantees: only configured peers with their pinned keys get a
//! connection; every inbound frame is checked (version, kind, length) before
//! its body is read and rate-limited before it is decoded; a peer that breaks
//! the framing rules is disconnected; every queue is bounded and drops its
//! oldest entry under pressure, and every drop is counted. Delivery is
//! best-effort and FIFO per stream, as the protocol expects: its own timers
//! resend what still matters.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ocr_core::messages::{Message, MessageLimits};
use ocr_core::wire::{self, MessageKind, RateLimits};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::NetError;
use crate::frame::{self, FRAME_HEADER_LEN, FrameError, STREAM_HEADER_LEN};
use crate::identity::{self, AllowedPeers, LocalIdentity, PeerId};
use crate::metrics::{HandshakeLabels, NetMetrics, PeerCounters, PeerLabels};
use crate::queue::DropOldest;
use crate::rate::PeerRateLimiter;
use crate::transport::{Inbound, Transport};

/// The endpoint's config, with a stateless-reset key derived from the peer
/// key. A restarted node then answers packets of its previous incarnation's
/// connections with resets its peers accept, so they drop the dead
/// connection within a round trip instead of waiting for the idle timeout.
/// The derivation is one-way: the reset key reveals nothing of the seed.
fn endpoint_config(peer_seed: &[u8; 32]) -> quinn::EndpointConfig {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"ocr3 quic stateless reset key v1");
    hasher.update(peer_seed);
    let derived = hasher.finalize();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &derived);
    let mut config = quinn::EndpointConfig::new(Arc::new(key));
    // quinn drops packets whose connection id its generator does not
    // recognise before considering a reset; a generator keyed from the same
    // derivation recognises the previous incarnation's ids.
    let mut cid_key = [0u8; 8];
    cid_key.copy_from_slice(&derived[..8]);
    let cid_key = u64::from_le_bytes(cid_key);
    config.cid_generator(move || Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key)));
    config
}

/// Deadline of a handshake, a stream header and a write (anti-tarpitting).
const IO_DEADLINE: Duration = Duration::from_secs(5);

/// How long a stream for an instance that is not open here waits for it.
const EARLY_STREAM_WAIT: Duration = Duration::from_secs(2);

/// How long the non-preferred side of a pair waits without a connection
/// before dialing itself.
const FALLBACK_DIAL: Duration = Duration::from_secs(2);

/// QUIC application error code when a peer breaks the framing rules.
const CLOSE_PROTOCOL_VIOLATION: u32 = 1;
/// QUIC application error code when a newer connection replaces this one.
const CLOSE_REPLACED: u32 = 2;
/// QUIC application error code on shutdown.
const CLOSE_SHUTDOWN: u32 = 3;
/// Stream stop code for a stream naming an instance we do not run.
const STOP_UNKNOWN_INSTANCE: u32 = 4;

/// How the network is set up.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// The UDP address to listen on.
    pub listen: SocketAddr,
    /// The seed of this node's ed25519 peer key.
    pub peer_seed: [u8; 32],
    /// Every other node: its peer id and address.
    pub peers: Vec<(PeerId, SocketAddr)>,
    /// Frames waiting per peer and instance before the oldest is dropped.
    pub outbound_queue: usize,
    /// Messages waiting per instance before the oldest is dropped.
    pub inbound_queue: usize,
    /// First redial delay; doubles up to `redial_max`.
    pub redial_min: Duration,
    /// Longest redial delay.
    pub redial_max: Duration,
}

impl NetworkConfig {
    /// A config with the default queue sizes and redial delays.
    pub fn new(listen: SocketAddr, peer_seed: [u8; 32], peers: Vec<(PeerId, SocketAddr)>) -> Self {
        Self {
            listen,
            peer_seed,
            peers,
            outbound_queue: 256,
            inbound_queue: 1024,
            redial_min: Duration::from_millis(100),
            redial_max: Duration::from_secs(5),
        }
    }
}

/// One configured peer and its current connection.
struct Peer {
    id: PeerId,
    address: SocketAddr,
    connection: watch::Sender<Option<quinn::Connection>>,
}

/// What readers need to know about an instance.
struct InstanceShared {
    index: HashMap<PeerId, u8>,
    limits: MessageLimits,
    rates: RateLimits,
    limiters: Mutex<HashMap<u8, PeerRateLimiter>>,
    inbound: Arc<Inbound>,
}

struct Inner {
    identity: LocalIdentity,
    endpoint: quinn::Endpoint,
    peers: HashMap<PeerId, Arc<Peer>>,
    instances: RwLock<HashMap<[u8; 32], Arc<InstanceShared>>>,
    metrics: NetMetrics,
    config: NetworkConfig,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Who dialed each live connection (by quinn's stable id).
    initiators: Mutex<HashMap<usize, PeerId>>,
    /// Bumped whenever an instance opens, so streams that arrived first can
    /// find it.
    opened: watch::Sender<u64>,
}

/// A running network endpoint. Dropping it closes every connection.
pub struct Network {
    inner: Arc<Inner>,
}

/// The first bytes of a peer id, as a metric label.
fn short(peer: &PeerId) -> String {
    hex::encode(&peer.0[..8])
}

impl Network {
    /// Binds the endpoint and starts keeping a connection to every peer
    /// (one per pair: see `dial_loop`).
    pub fn start(config: NetworkConfig, metrics: NetMetrics) -> Result<Self, NetError> {
        let identity = LocalIdentity::from_seed(&config.peer_seed)?;
        let allowed = AllowedPeers::default();
        allowed.set(config.peers.iter().map(|(id, _)| *id));
        let server = identity::server_config(&identity, allowed)?;
        let bind = |reason: String| NetError::Bind { address: config.listen, reason };
        let socket = std::net::UdpSocket::bind(config.listen).map_err(|e| bind(e.to_string()))?;
        let endpoint = quinn::Endpoint::new(
            endpoint_config(&config.peer_seed),
            Some(server),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(|e| bind(e.to_string()))?;
        let peers = config
            .peers
            .iter()
            .filter(|(id, _)| *id != identity.id())
            .map(|(id, address)| {
                let (connection, _) = watch::channel(None);
                (*id, Arc::new(Peer { id: *id, address: *address, connection }))
            })
            .collect();
        let inner = Arc::new(Inner {
            identity,
            endpoint,
            peers,
            instances: RwLock::new(HashMap::new()),
            metrics,
            config,
            tasks: Mutex::new(Vec::new()),
            initiators: Mutex::new(HashMap::new()),
            opened: watch::channel(0).0,
        });
        let mut tasks = vec![tokio::spawn(accept_loop(inner.clone()))];
        for peer in inner.peers.values() {
            tasks.push(tokio::spawn(dial_loop(inner.clone(), peer.clone())));
        }
        if let Ok(mut all) = inner.tasks.lock() {
            all.extend(tasks);
        }
        Ok(Self { inner })
    }

    /// The address the endpoint listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, NetError> {
        self.inner.endpoint.local_addr().map_err(|e| NetError::Io(e.to_string()))
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.inner.identity.id()
    }

    /// Whether a connection to `peer` is up.
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.inner.peers.get(peer).is_some_and(|p| p.connection.borrow().is_some())
    }

    /// Opens protocol instance `digest`, in which oracle `i` is `oracles[i]`
    /// and this node is `me`. Inbound messages are checked against `limits`
    /// and `rates`.
    pub fn open_instance(
        &self,
        digest: [u8; 32],
        oracles: &[PeerId],
        me: u8,
        limits: MessageLimits,
        rates: RateLimits,
    ) -> Result<InstanceSender, NetError> {
        if oracles.get(usize::from(me)) != Some(&self.inner.identity.id()) {
            return Err(NetError::NotInInstance);
        }
        let mut index = HashMap::new();
        for (i, id) in oracles.iter().enumerate() {
            let i = u8::try_from(i).map_err(|_| NetError::NotInInstance)?;
            if i != me && !self.inner.peers.contains_key(id) {
                return Err(NetError::UnknownPeer(*id));
            }
            index.insert(*id, i);
        }
        let inbound = Arc::new(DropOldest::new(self.inner.config.inbound_queue));
        let shared = Arc::new(InstanceShared {
            index,
            limits,
            rates,
            limiters: Mutex::new(HashMap::new()),
            inbound: inbound.clone(),
        });
        self.inner.instances.write().map_err(|_| NetError::Poisoned)?.insert(digest, shared);
        self.inner.opened.send_modify(|n| *n += 1);
        let mut outbound = Vec::with_capacity(oracles.len());
        let mut writers = Vec::new();
        for (i, id) in oracles.iter().enumerate() {
            if i == usize::from(me) {
                outbound.push(None);
                continue;
            }
            let queue = Arc::new(DropOldest::new(self.inner.config.outbound_queue));
            let Some(peer) = self.inner.peers.get(id).cloned() else {
                return Err(NetError::UnknownPeer(*id));
            };
            let to = u8::try_from(i).map_err(|_| NetError::NotInInstance)?;
            writers.push(tokio::spawn(write_loop(self.inner.clone(), peer, digest, to, queue.clone())));
            outbound.push(Some(queue));
        }
        Ok(InstanceSender {
            inner: Arc::new(SenderInner { network: self.inner.clone(), digest, me, inbound, outbound, writers }),
        })
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.inner.endpoint.close(quinn::VarInt::from_u32(CLOSE_SHUTDOWN), b"shutdown");
        if let Ok(tasks) = self.inner.tasks.lock() {
            tasks.iter().for_each(JoinHandle::abort);
        }
    }
}

/// A frame queued for one peer.
type Outgoing = (MessageKind, Bytes);

struct SenderInner {
    network: Arc<Inner>,
    digest: [u8; 32],
    me: u8,
    inbound: Arc<Inbound>,
    outbound: Vec<Option<Arc<DropOldest<Outgoing>>>>,
    writers: Vec<JoinHandle<()>>,
}

impl Drop for SenderInner {
    fn drop(&mut self) {
        self.writers.iter().for_each(JoinHandle::abort);
        if let Ok(mut instances) = self.network.instances.write() {
            instances.remove(&self.digest);
        }
    }
}

/// The sending side of one instance, and its inbound queue. Closing the last
/// clone closes the instance.
#[derive(Clone)]
pub struct InstanceSender {
    inner: Arc<SenderInner>,
}

impl InstanceSender {
    /// The queue of messages received for this instance.
    pub fn inbound(&self) -> Arc<Inbound> {
        self.inner.inbound.clone()
    }

    fn enqueue(&self, to: u8, kind: MessageKind, frame: &Bytes) {
        let Some(Some(queue)) = self.inner.outbound.get(usize::from(to)) else {
            return;
        };
        if let Some((dropped, _)) = queue.push((kind, frame.clone())) {
            self.inner.network.metrics.drop(dropped.name(), to, "outbound_queue_full");
        }
    }

    fn deliver_locally(&self, message: &Message) {
        if let Some((from, dropped)) = self.inner.inbound.push((self.inner.me, message.clone())) {
            self.inner.network.metrics.drop(dropped.kind(), from, "inbound_queue_full");
        }
    }
}

fn encode_frame(message: &Message) -> (MessageKind, Bytes) {
    let kind = MessageKind::of(message);
    (kind, Bytes::from(frame::frame(kind, &wire::encode(message))))
}

impl Transport for InstanceSender {
    fn send(&self, to: u8, message: &Message) {
        if to == self.inner.me {
            self.deliver_locally(message);
            return;
        }
        let (kind, frame) = encode_frame(message);
        self.enqueue(to, kind, &frame);
    }

    fn broadcast(&self, message: &Message) {
        let (kind, frame) = encode_frame(message);
        for to in 0..self.inner.outbound.len() {
            if let Ok(to) = u8::try_from(to) {
                self.enqueue(to, kind, &frame);
            }
        }
        self.deliver_locally(message);
    }
}

/// Accepts inbound connections; the TLS verifier has already refused
/// unknown keys by the time a connection completes.
async fn accept_loop(inner: Arc<Inner>) {
    while let Some(incoming) = inner.endpoint.accept().await {
        let inner = inner.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            let result = match tokio::time::timeout(IO_DEADLINE, incoming).await {
                Ok(Ok(connection)) => Ok(connection),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("handshake timed out".to_owned()),
            };
            match result {
                Ok(connection) => {
                    let Some(peer) = identity::connection_peer(&connection).and_then(|id| inner.peers.get(&id)) else {
                        connection.close(quinn::VarInt::from_u32(CLOSE_PROTOCOL_VIOLATION), b"unknown peer");
                        return;
                    };
                    if !welcome(&connection).await {
                        return;
                    }
                    inner
                        .metrics
                        .handshakes
                        .get_or_create(&HandshakeLabels { direction: "inbound", result: "ok" })
                        .inc();
                    tracing::info!(peer = %short(&peer.id), %remote, "peer connected (inbound)");
                    install(&inner, peer.clone(), connection, false);
                }
                Err(reason) => {
                    inner
                        .metrics
                        .handshakes
                        .get_or_create(&HandshakeLabels { direction: "inbound", result: "refused" })
                        .inc();
                    tracing::warn!(%remote, %reason, "refused an inbound connection");
                }
            }
        });
    }
}

/// Whether a connection dialed by `initiator` is the one a pair keeps when
/// both sides dialed: the smaller peer id's. Both ends decide alike, so two
/// simultaneous dials settle on one connection instead of closing each other.
fn preferred(inner: &Inner, peer: &PeerId, initiator: &PeerId) -> bool {
    *initiator == inner.identity.id().min(*peer)
}

/// Makes `connection` the peer's connection, reads it, and clears it when it
/// closes. An older live connection is closed, unless it is the preferred
/// one of the pair and the new one is not: then the new one is closed.
fn install(inner: &Arc<Inner>, peer: Arc<Peer>, connection: quinn::Connection, outbound: bool) {
    let initiator = if outbound { inner.identity.id() } else { peer.id };
    let new_preferred = preferred(inner, &peer.id, &initiator);
    let keep_current = peer.connection.borrow().as_ref().is_some_and(|current| {
        current.close_reason().is_none() && !new_preferred && peer_initiated_preferred(inner, &peer, current)
    });
    if keep_current {
        connection.close(quinn::VarInt::from_u32(CLOSE_REPLACED), b"duplicate");
        return;
    }
    if let Ok(mut initiators) = inner.initiators.lock() {
        initiators.insert(connection.stable_id(), initiator);
    }
    let old = peer.connection.send_replace(Some(connection.clone()));
    if let Some(old) = old {
        old.close(quinn::VarInt::from_u32(CLOSE_REPLACED), b"replaced");
    }
    let labels = PeerLabels { peer_id: short(&peer.id) };
    inner.metrics.connected.get_or_create(&labels).set(1);
    let reader = tokio::spawn(read_connection(inner.clone(), peer.id, connection.clone()));
    let inner = inner.clone();
    tokio::spawn(async move {
        let reason = connection.closed().await;
        reader.abort();
        if let Ok(mut initiators) = inner.initiators.lock() {
            initiators.remove(&connection.stable_id());
        }
        let cleared = peer.connection.send_if_modified(|current| {
            if current.as_ref().is_some_and(|c| c.stable_id() == connection.stable_id()) {
                *current = None;
                true
            } else {
                false
            }
        });
        if cleared {
            inner.metrics.connected.get_or_create(&labels).set(0);
        }
        tracing::info!(peer = %labels.peer_id, %reason, "connection closed");
    });
}

/// Whether `connection` (the peer's current one) was dialed by the side
/// whose dials are preferred.
fn peer_initiated_preferred(inner: &Inner, peer: &Peer, connection: &quinn::Connection) -> bool {
    let initiator = inner.initiators.lock().ok().and_then(|i| i.get(&connection.stable_id()).copied());
    initiator.is_some_and(|initiator| preferred(inner, &peer.id, &initiator))
}

/// Keeps a connection to `peer` up, redialing with exponential backoff.
/// The pair's preferred dialer (the smaller peer id) dials at once; the
/// other side dials only after `FALLBACK_DIAL` without a connection, so a
/// pair where only one direction can reach the other still connects.
async fn dial_loop(inner: Arc<Inner>, peer: Arc<Peer>) {
    let mut delay = inner.config.redial_min;
    let preferred_dialer = inner.identity.id() < peer.id;
    if !preferred_dialer {
        tokio::time::sleep(jittered(FALLBACK_DIAL)).await;
    }
    loop {
        let current = peer.connection.borrow().clone();
        if let Some(connection) = current {
            let since = Instant::now();
            connection.closed().await;
            if since.elapsed() > inner.config.redial_max {
                delay = inner.config.redial_min;
            }
            // A connection that keeps dying young is redialled with growing
            // delays, like a dial that fails.
            tokio::time::sleep(jittered(delay)).await;
            delay = (delay * 2).min(inner.config.redial_max);
            if !preferred_dialer {
                // Give the preferred dialer its chance first.
                tokio::time::sleep(jittered(FALLBACK_DIAL)).await;
                if peer.connection.borrow().is_some() {
                    continue;
                }
            }
        }
        match dial(&inner, &peer).await {
            Ok(connection) => {
                inner.metrics.handshakes.get_or_create(&HandshakeLabels { direction: "outbound", result: "ok" }).inc();
                tracing::info!(peer = %short(&peer.id), address = %peer.address, "peer connected (outbound)");
                install(&inner, peer.clone(), connection, true);
                continue;
            }
            Err(reason) => {
                inner
                    .metrics
                    .handshakes
                    .get_or_create(&HandshakeLabels { direction: "outbound", result: "failed" })
                    .inc();
                tracing::debug!(peer = %short(&peer.id), address = %peer.address, %reason, "dial failed");
            }
        }
        tokio::time::sleep(jittered(delay)).await;
        delay = (delay * 2).min(inner.config.redial_max);
    }
}

/// `delay` ± 25%, so that nodes restarted together do not redial in step.
fn jittered(delay: Duration) -> Duration {
    let spread = delay / 2;
    let clock = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let nanos = clock.subsec_nanos() ^ std::process::id();
    let fraction = f64::from(nanos % 1000) / 1000.0;
    delay - delay / 4 + spread.mul_f64(fraction)
}

/// The byte an acceptor sends on a stream of its own once it accepted a
/// connection. A TLS 1.3 client finishes its handshake before the server has
/// checked the client's certificate, so without it a refused dialer would
/// believe it is connected until the close arrives.
const WELCOME: u8 = 0xAC;

/// Tells an accepted dialer that its certificate was accepted.
async fn welcome(connection: &quinn::Connection) -> bool {
    let send = async {
        let mut stream = connection.open_uni().await.ok()?;
        stream.write_all(&[WELCOME]).await.ok()?;
        stream.finish().ok()
    };
    tokio::time::timeout(IO_DEADLINE, send).await.ok().flatten().is_some()
}

/// Waits for the acceptor's welcome.
async fn welcomed(connection: &quinn::Connection) -> Result<(), String> {
    let read = async {
        let mut stream = connection.accept_uni().await.map_err(|e| e.to_string())?;
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.map_err(|e| e.to_string())?;
        if byte[0] == WELCOME { Ok(()) } else { Err("the peer did not welcome the connection".to_owned()) }
    };
    tokio::time::timeout(IO_DEADLINE, read).await.map_err(|_| "no welcome from the peer".to_owned())?
}

async fn dial(inner: &Inner, peer: &Peer) -> Result<quinn::Connection, String> {
    let config = identity::client_config(&inner.identity, peer.id).map_err(|e| e.to_string())?;
    let connecting =
        inner.endpoint.connect_with(config, peer.address, identity::SERVER_NAME).map_err(|e| e.to_string())?;
    match tokio::time::timeout(IO_DEADLINE, connecting).await {
        Ok(Ok(connection)) => match welcomed(&connection).await {
            Ok(()) => Ok(connection),
            Err(reason) => Err(connection.close_reason().map_or(reason, |closed| closed.to_string())),
        },
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("handshake timed out".to_owned()),
    }
}

/// Sends one instance's frames to one peer over a stream of the peer's
/// current connection, reopening the stream on a new connection.
async fn write_loop(inner: Arc<Inner>, peer: Arc<Peer>, digest: [u8; 32], to: u8, queue: Arc<DropOldest<Outgoing>>) {
    let mut connection_rx = peer.connection.subscribe();
    let mut stream: Option<(usize, quinn::SendStream)> = None;
    let mut counters = PeerCounters::new(to, &inner.metrics.messages_out, &inner.metrics.bytes_out);
    loop {
        let connection = loop {
            if let Some(connection) = connection_rx.borrow_and_update().clone() {
                break connection;
            }
            if connection_rx.changed().await.is_err() {
                return;
            }
        };
        let (kind, frame) = queue.pop().await;
        if stream.as_ref().is_none_or(|(id, _)| *id != connection.stable_id()) {
            stream = open_stream(&connection, &digest).await.map(|s| (connection.stable_id(), s));
        }
        let Some((_, send)) = stream.as_mut() else {
            inner.metrics.drop(kind.name(), to, "send_failed");
            continue;
        };
        // The frame is handed over as it is, not copied: a broadcast's one
        // frame is shared by every peer's stream until each has sent it.
        let len = frame.len();
        match tokio::time::timeout(IO_DEADLINE, send.write_chunk(frame)).await {
            Ok(Ok(())) => {
                counters.message(kind);
                counters.bytes(kind, len);
            }
            _ => {
                inner.metrics.drop(kind.name(), to, "send_failed");
                stream = None;
            }
        }
    }
}

async fn open_stream(connection: &quinn::Connection, digest: &[u8; 32]) -> Option<quinn::SendStream> {
    let open = async {
        let mut send = connection.open_uni().await.ok()?;
        send.write_all(&frame::stream_header(digest)).await.ok()?;
        Some(send)
    };
    tokio::time::timeout(IO_DEADLINE, open).await.ok().flatten()
}

/// Accepts the peer's streams, one reader each.
async fn read_connection(inner: Arc<Inner>, peer: PeerId, connection: quinn::Connection) {
    while let Ok(recv) = connection.accept_uni().await {
        tokio::spawn(read_stream(inner.clone(), peer, connection.clone(), recv));
    }
}

/// Closes the connection because the peer broke the framing rules.
fn violation(inner: &Inner, peer: &PeerId, connection: &quinn::Connection, error: &FrameError) {
    tracing::warn!(peer = %short(peer), %error, "closing a connection for a framing violation");
    inner.metrics.protocol_violations.get_or_create(&PeerLabels { peer_id: short(peer) }).inc();
    connection.close(quinn::VarInt::from_u32(CLOSE_PROTOCOL_VIOLATION), error.reason().as_bytes());
}

async fn read_stream(inner: Arc<Inner>, peer: PeerId, connection: quinn::Connection, mut recv: quinn::RecvStream) {
    let mut header = [0u8; STREAM_HEADER_LEN];
    match tokio::time::timeout(IO_DEADLINE, recv.read_exact(&mut header)).await {
        Ok(Ok(())) => {}
        _ => return,
    }
    let digest = match frame::parse_stream_header(&header) {
        Ok(digest) => digest,
        Err(error) => return violation(&inner, &peer, &connection, &error),
    };
    // At a config switch peers start the new instance at slightly different
    // times: a stream for an instance not open here yet waits a little for
    // it rather than losing what the peer sent first (flow control bounds
    // what it can buffer meanwhile).
    let mut opened = inner.opened.subscribe();
    let lookup = || inner.instances.read().ok().and_then(|instances| instances.get(&digest).cloned());
    let waited = tokio::time::timeout(EARLY_STREAM_WAIT, async {
        loop {
            if let Some(instance) = lookup() {
                return Some(instance);
            }
            opened.changed().await.ok()?;
        }
    });
    let instance = waited.await.ok().flatten();
    let Some((instance, from)) = instance.and_then(|i| i.index.get(&peer).copied().map(|from| (i, from))) else {
        tracing::debug!(peer = %short(&peer), instance = %hex::encode(digest), "stream for an instance not running here");
        let _ = recv.stop(quinn::VarInt::from_u32(STOP_UNKNOWN_INSTANCE));
        return;
    };
    let mut counters = PeerCounters::new(from, &inner.metrics.messages_in, &inner.metrics.bytes_in);
    loop {
        let mut header = [0u8; FRAME_HEADER_LEN];
        if recv.read_exact(&mut header).await.is_err() {
            return;
        }
        let (kind, len) = match frame::parse_frame_header(&header, &instance.limits) {
            Ok(parsed) => parsed,
            Err(error) => {
                let kind = MessageKind::from_u8(header[1]).map_or("unknown", MessageKind::name);
                inner.metrics.drop(kind, from, error.reason());
                return violation(&inner, &peer, &connection, &error);
            }
        };
        let Some(body) = read_body(&mut recv, len).await else {
            return;
        };
        counters.bytes(kind, FRAME_HEADER_LEN + len);
        let admitted = match instance.limiters.lock() {
            Ok(mut limiters) => limiters
                .entry(from)
                .or_insert_with(|| PeerRateLimiter::new(&instance.rates, Instant::now()))
                .admit(FRAME_HEADER_LEN + len, Instant::now()),
            Err(_) => false,
        };
        if !admitted {
            inner.metrics.drop(kind.name(), from, "rate_limited");
            continue;
        }
        let message = match wire::decode(kind, &body, &instance.limits) {
            Ok(message) => message,
            Err(error) => {
                tracing::debug!(peer = from, kind = kind.name(), %error, "dropped a malformed message");
                inner.metrics.drop(kind.name(), from, "malformed");
                continue;
            }
        };
        counters.message(kind);
        if let Some((dropped_from, dropped)) = instance.inbound.push((from, message)) {
            inner.metrics.drop(dropped.kind(), dropped_from, "inbound_queue_full");
        }
    }
}

/// The next `len` bytes of `recv`, or `None` if the stream ends first. A
/// frame that arrived whole (the usual case: one message, one packet) is
/// the received buffer itself, neither copied nor zero-filled first; `len`
/// is already checked against the kind's size limit, so at most that much
/// is ever gathered.
async fn read_body(recv: &mut quinn::RecvStream, len: usize) -> Option<Bytes> {
    if len == 0 {
        return Some(Bytes::new());
    }
    let first = recv.read_chunk(len, true).await.ok()??.bytes;
    if first.len() == len {
        return Some(first);
    }
    let mut body = bytes::BytesMut::with_capacity(len);
    body.extend_from_slice(&first);
    while body.len() < len {
        let chunk = recv.read_chunk(len - body.len(), true).await.ok()??;
        body.extend_from_slice(&chunk.bytes);
    }
    Some(body.freeze())
}
