#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Datagrams through a relay on loopback, to an echo server and back.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netem_relay::{Impairment, Relay, RelayConfig, Stats};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Echoes every datagram back to its sender.
async fn echo_server(socket: UdpSocket) {
    let mut buf = vec![0u8; 65_536];
    while let Ok((len, from)) = socket.recv_from(&mut buf).await {
        let _ = socket.send_to(&buf[..len], from).await;
    }
}

async fn start_echo() -> (SocketAddr, JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    (addr, tokio::spawn(echo_server(socket)))
}

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    handle: JoinHandle<Stats>,
}

impl Running {
    async fn stop(self) -> Stats {
        self.stop.send(()).unwrap();
        self.handle.await.unwrap()
    }
}

async fn start_relay(config: RelayConfig) -> Running {
    let relay = Relay::bind("127.0.0.1:0".parse().unwrap(), config).await.unwrap();
    let addr = relay.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel();
    let handle = tokio::spawn(relay.run(async {
        let _ = stopped.await;
    }));
    Running { addr, stop, handle }
}

async fn client(relay: SocketAddr) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.connect(relay).await.unwrap();
    socket
}

/// Receives datagrams until `quiet` passes without one.
async fn drain(socket: &UdpSocket, quiet: Duration) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while let Ok(Ok(len)) = tokio::time::timeout(quiet, socket.recv(&mut buf)).await {
        got.push(buf[..len].to_vec());
    }
    got
}

#[tokio::test]
async fn replies_return_to_their_own_client_after_two_delays() {
    let (echo, _server) = start_echo().await;
    let impairment = Impairment::new(ms(20), ms(0), 0.0).unwrap();
    let relay = start_relay(RelayConfig::new(echo, impairment)).await;
    let a = client(relay.addr).await;
    let b = client(relay.addr).await;

    let started = Instant::now();
    a.send(b"ping a").await.unwrap();
    let mut buf = [0u8; 64];
    let len = tokio::time::timeout(ms(2000), a.recv(&mut buf)).await.unwrap().unwrap();
    let rtt = started.elapsed();
    assert_eq!(&buf[..len], b"ping a");
    assert!(rtt >= ms(40), "a round trip through the relay took only {rtt:?}");

    for i in 0..20u8 {
        a.send(&[b'a', i]).await.unwrap();
        b.send(&[b'b', i]).await.unwrap();
    }
    let got_a = drain(&a, ms(300)).await;
    let got_b = drain(&b, ms(300)).await;
    assert_eq!(got_a, (0..20u8).map(|i| vec![b'a', i]).collect::<Vec<_>>());
    assert_eq!(got_b, (0..20u8).map(|i| vec![b'b', i]).collect::<Vec<_>>());

    let stats = relay.stop().await;
    assert_eq!(stats.from_clients, 41);
    assert_eq!(stats.from_upstream, 41);
    assert_eq!(stats.delivered, 82);
    assert_eq!(stats.lost, 0);
    assert_eq!(stats.clients_opened, 2);
}

#[tokio::test]
async fn total_loss_delivers_nothing() {
    let (echo, _server) = start_echo().await;
    let impairment = Impairment::new(ms(1), ms(1), 1.0).unwrap();
    let relay = start_relay(RelayConfig::new(echo, impairment)).await;
    let a = client(relay.addr).await;
    for i in 0..50u8 {
        a.send(&[i]).await.unwrap();
    }
    assert!(drain(&a, ms(200)).await.is_empty());
    let stats = relay.stop().await;
    assert_eq!((stats.from_clients, stats.lost, stats.from_upstream), (50, 50, 0));
}

#[tokio::test]
async fn partial_loss_is_counted_in_both_directions() {
    let (echo, _server) = start_echo().await;
    let mut config = RelayConfig::new(echo, Impairment::new(ms(2), ms(2), 0.3).unwrap());
    config.seed = Some(11);
    let relay = start_relay(config).await;
    let a = client(relay.addr).await;
    for i in 0..200u8 {
        a.send(&[i]).await.unwrap();
        // Pace the sends so that no socket buffer overflows.
        if i % 20 == 0 {
            tokio::time::sleep(ms(5)).await;
        }
    }
    let got = drain(&a, ms(300)).await.len() as u64;
    let stats = relay.stop().await;
    assert_eq!(stats.from_clients, 200);
    // Every datagram not lost on the way out or back came back.
    assert_eq!(stats.lost + got, 200, "{stats:?}");
    assert_eq!(stats.delivered, stats.from_upstream + got);
    // 0.7² of 200 = 98 expected back.
    assert!((60..=140).contains(&got), "{got} of 200 came back");
}

#[tokio::test]
async fn clients_beyond_the_limit_are_refused() {
    let (echo, _server) = start_echo().await;
    let mut config = RelayConfig::new(echo, Impairment::none());
    config.max_clients = 1;
    let relay = start_relay(config).await;
    let a = client(relay.addr).await;
    let b = client(relay.addr).await;
    a.send(b"a").await.unwrap();
    assert_eq!(drain(&a, ms(200)).await, vec![b"a".to_vec()]);
    b.send(b"b").await.unwrap();
    assert!(drain(&b, ms(200)).await.is_empty());
    let stats = relay.stop().await;
    assert_eq!((stats.clients_opened, stats.refused), (1, 1));
}

#[tokio::test]
async fn idle_clients_expire_and_come_back() {
    let (echo, _server) = start_echo().await;
    let mut config = RelayConfig::new(echo, Impairment::none());
    config.idle = ms(200);
    let relay = start_relay(config).await;
    let a = client(relay.addr).await;
    a.send(b"1").await.unwrap();
    assert_eq!(drain(&a, ms(100)).await.len(), 1);
    tokio::time::sleep(ms(500)).await;
    a.send(b"2").await.unwrap();
    assert_eq!(drain(&a, ms(100)).await.len(), 1);
    let stats = relay.stop().await;
    assert_eq!((stats.clients_opened, stats.clients_expired), (2, 1));
}

#[tokio::test]
async fn a_target_that_is_down_and_comes_back_is_reached_again() {
    // Find a free port, then leave it closed for a while.
    let port = UdpSocket::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let relay = start_relay(RelayConfig::new(target, Impairment::none())).await;
    let a = client(relay.addr).await;
    for _ in 0..5 {
        a.send(b"anyone?").await.unwrap();
        tokio::time::sleep(ms(20)).await;
    }
    assert!(drain(&a, ms(100)).await.is_empty());

    let socket = UdpSocket::bind(target).await.unwrap();
    let _server = tokio::spawn(echo_server(socket));
    a.send(b"back").await.unwrap();
    assert_eq!(drain(&a, ms(300)).await, vec![b"back".to_vec()]);
    let stats = relay.stop().await;
    assert_eq!(stats.clients_opened, 1);
}

#[tokio::test]
async fn empty_and_maximum_size_datagrams_pass() {
    let (echo, _server) = start_echo().await;
    let relay = start_relay(RelayConfig::new(echo, Impairment::none())).await;
    let a = client(relay.addr).await;
    a.send(b"").await.unwrap();
    assert_eq!(drain(&a, ms(200)).await, vec![Vec::<u8>::new()]);
    let big = vec![0xa5u8; 65_507];
    a.send(&big).await.unwrap();
    assert_eq!(drain(&a, ms(200)).await, vec![big]);
    relay.stop().await;
}
