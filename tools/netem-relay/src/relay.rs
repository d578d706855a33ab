//! The relay's sockets: one listening socket for clients, one upstream socket
//! per client (so replies find their way back), and a single loop that moves
//! datagrams through the [`Scheduler`] after the [`Impairment`] has decided
//! their fate.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::impair::{Impairment, Verdict};
use crate::schedule::Scheduler;

/// Larger than any UDP payload, so nothing is truncated.
const MAX_DATAGRAM: usize = 65_536;

/// How the relay treats traffic.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Where client datagrams go.
    pub forward: SocketAddr,
    /// Delay, jitter and loss, applied in each direction.
    pub impairment: Impairment,
    /// Seeds the loss and delay draws; `None` seeds from the OS.
    pub seed: Option<u64>,
    /// The most clients served at once; datagrams from further clients are
    /// dropped until one expires.
    pub max_clients: usize,
    /// A client silent in both directions for this long is forgotten and its
    /// upstream socket closed.
    pub idle: Duration,
    /// The most datagrams waiting (delayed, or read from upstream sockets and
    /// not yet scheduled); more are dropped.
    pub queue_capacity: usize,
}

impl RelayConfig {
    /// Forwards to `forward` with `impairment` and the default limits: 64
    /// clients, 60 s idle expiry, 4096 queued datagrams.
    pub fn new(forward: SocketAddr, impairment: Impairment) -> Self {
        Self { forward, impairment, seed: None, max_clients: 64, idle: Duration::from_secs(60), queue_capacity: 4096 }
    }
}

/// What the relay did, counted over its lifetime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams received from clients.
    pub from_clients: u64,
    /// Datagrams received from upstream.
    pub from_upstream: u64,
    /// Datagrams sent on after their delay (both directions).
    pub delivered: u64,
    /// Datagrams dropped by the loss draw (both directions).
    pub lost: u64,
    /// Datagrams dropped because a queue was full.
    pub overflowed: u64,
    /// Datagrams dropped because the client limit was reached.
    pub refused: u64,
    /// Datagrams whose send failed (e.g. nothing listening upstream).
    pub send_failures: u64,
    /// Clients seen for the first time (or again after expiring).
    pub clients_opened: u64,
    /// Clients forgotten after being idle.
    pub clients_expired: u64,
}

impl Stats {
    /// The counters as one line of JSON.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"from_clients\":{},\"from_upstream\":{},\"delivered\":{},\"lost\":{},\"overflowed\":{},\
             \"refused\":{},\"send_failures\":{},\"clients_opened\":{},\"clients_expired\":{}}}",
            self.from_clients,
            self.from_upstream,
            self.delivered,
            self.lost,
            self.overflowed,
            self.refused,
            self.send_failures,
            self.clients_opened,
            self.clients_expired
        )
    }
}

/// Where a delayed datagram goes when it is due.
enum Target {
    Upstream(Arc<std::net::UdpSocket>),
    Client(SocketAddr),
}

struct Pending {
    target: Target,
    data: Vec<u8>,
}

struct Client {
    /// Sends to the target. A clone of the socket the reader task receives
    /// on: plain non-blocking sends need no reactor readiness, which a
    /// just-registered tokio socket does not have yet.
    upstream: Arc<std::net::UdpSocket>,
    reader: JoinHandle<()>,
    last_seen: Instant,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

enum Event {
    Shutdown,
    FromClient(usize, SocketAddr),
    FromUpstream(SocketAddr, Vec<u8>),
    Timer,
    Sweep,
}

/// A bound relay, ready to [`run`](Relay::run).
pub struct Relay {
    socket: UdpSocket,
    /// Sends to clients (a clone of `socket`, see [`Client::upstream`]).
    sender: std::net::UdpSocket,
    config: RelayConfig,
}

impl Relay {
    /// Binds the client-facing socket on `listen`. Needs a tokio runtime.
    pub async fn bind(listen: SocketAddr, config: RelayConfig) -> io::Result<Self> {
        let socket = std::net::UdpSocket::bind(listen)?;
        socket.set_nonblocking(true)?;
        let sender = socket.try_clone()?;
        Ok(Self { socket: UdpSocket::from_std(socket)?, sender, config })
    }

    /// The address clients send to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Relays until `shutdown` completes, then returns what it did. Socket
    /// errors are counted, never fatal.
    pub async fn run<F: Future<Output = ()>>(self, shutdown: F) -> Stats {
        let Relay { socket, sender, config } = self;
        let mut rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        let mut stats = Stats::default();
        let reader_overflow = Arc::new(AtomicU64::new(0));
        let (up_tx, mut up_rx) = mpsc::channel::<(SocketAddr, Vec<u8>)>(config.queue_capacity.max(1));
        let mut clients: HashMap<SocketAddr, Client> = HashMap::new();
        let mut scheduler: Scheduler<Pending> = Scheduler::new(config.queue_capacity);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut sweep = tokio::time::interval((config.idle / 4).max(Duration::from_millis(100)));
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);

        loop {
            let next_due = scheduler.next_due();
            let event = tokio::select! {
                () = &mut shutdown => Event::Shutdown,
                received = socket.recv_from(&mut buf) => match received {
                    Ok((len, from)) => Event::FromClient(len, from),
                    // E.g. an ICMP error for an earlier send: nothing to do.
                    Err(_) => Event::Timer,
                },
                Some((client, data)) = up_rx.recv() => Event::FromUpstream(client, data),
                () = sleep_until(next_due) => Event::Timer,
                _ = sweep.tick() => Event::Sweep,
            };
            let now = Instant::now();
            match event {
                Event::Shutdown => break,
                Event::FromClient(len, from) => {
                    stats.from_clients += 1;
                    let full = clients.len() >= config.max_clients;
                    let upstream = match clients.get_mut(&from) {
                        Some(client) => {
                            client.last_seen = now;
                            Some(client.upstream.clone())
                        }
                        None if full => None,
                        None => match open_upstream(config.forward, from, up_tx.clone(), reader_overflow.clone()) {
                            Ok(client) => {
                                stats.clients_opened += 1;
                                let upstream = client.upstream.clone();
                                clients.insert(from, client);
                                Some(upstream)
                            }
                            Err(_) => None,
                        },
                    };
                    let Some(upstream) = upstream else {
                        stats.refused += 1;
                        continue;
                    };
                    let data = buf.get(..len).unwrap_or_default().to_vec();
                    impair(
                        &config.impairment,
                        &mut rng,
                        &mut scheduler,
                        &mut stats,
                        now,
                        Target::Upstream(upstream),
                        data,
                    );
                }
                Event::FromUpstream(client, data) => {
                    stats.from_upstream += 1;
                    if let Some(c) = clients.get_mut(&client) {
                        c.last_seen = now;
                    }
                    impair(&config.impairment, &mut rng, &mut scheduler, &mut stats, now, Target::Client(client), data);
                }
                Event::Timer => {}
                Event::Sweep => {
                    let before = clients.len();
                    clients.retain(|_, c| now.saturating_duration_since(c.last_seen) < config.idle);
                    stats.clients_expired += (before - clients.len()) as u64;
                }
            }
            while let Some(Pending { target, data }) = scheduler.pop_due(Instant::now()) {
                let sent = match &target {
                    Target::Upstream(upstream) => upstream.send(&data),
                    Target::Client(client) => sender.send_to(&data, *client),
                };
                match sent {
                    Ok(_) => stats.delivered += 1,
                    Err(_) => stats.send_failures += 1,
                }
            }
        }
        stats.overflowed += reader_overflow.load(Ordering::Relaxed);
        stats
    }
}

/// Draws the datagram's fate and queues it if it survives.
fn impair(
    impairment: &Impairment,
    rng: &mut StdRng,
    scheduler: &mut Scheduler<Pending>,
    stats: &mut Stats,
    now: Instant,
    target: Target,
    data: Vec<u8>,
) {
    match impairment.decide(rng) {
        Verdict::Drop => stats.lost += 1,
        Verdict::Deliver(delay) => {
            if scheduler.push(now, delay, Pending { target, data }).is_err() {
                stats.overflowed += 1;
            }
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due.into()).await,
        None => std::future::pending().await,
    }
}

/// A socket connected to `forward` for `client`, and a task handing what
/// comes back on it to the relay loop.
fn open_upstream(
    forward: SocketAddr,
    client: SocketAddr,
    to_loop: mpsc::Sender<(SocketAddr, Vec<u8>)>,
    overflow: Arc<AtomicU64>,
) -> io::Result<Client> {
    let any: IpAddr = match forward {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let std_socket = std::net::UdpSocket::bind(SocketAddr::new(any, 0))?;
    std_socket.set_nonblocking(true)?;
    std_socket.connect(forward)?;
    let upstream = Arc::new(std_socket.try_clone()?);
    let receiver = UdpSocket::from_std(std_socket)?;
    let reader = tokio::spawn(read_upstream(receiver, client, to_loop, overflow));
    Ok(Client { upstream, reader, last_seen: Instant::now() })
}

async fn read_upstream(
    upstream: UdpSocket,
    client: SocketAddr,
    to_loop: mpsc::Sender<(SocketAddr, Vec<u8>)>,
    overflow: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match upstream.recv(&mut buf).await {
            Ok(len) => {
                let data = buf.get(..len).unwrap_or_default().to_vec();
                match to_loop.try_send((client, data)) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        overflow.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
            // ECONNREFUSED after an ICMP port unreachable (the target is
            // down): keep the socket, the target may come back.
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}
