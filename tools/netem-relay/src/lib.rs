//! # netem-relay: latency, jitter and loss for UDP, in user space
//!
//! The kernel here has no netem qdisc, so multi-host tests put this relay in
//! front of a node's UDP (QUIC) port instead. It listens on one address and
//! forwards each client's datagrams to a fixed target through an upstream
//! socket of that client's own, so the target's replies come back on that
//! socket and are returned to the right client. Every datagram, in both
//! directions, is dropped with probability `loss` or delivered after
//! `delay ± jitter` (uniform; jitter reorders, as netem's does).
//!
//! The decisions are sans-IO: [`Impairment::decide`] draws a datagram's fate
//! from an RNG and [`Scheduler`] orders delayed datagrams by due time, both
//! without sockets or clocks; [`Relay`] does the IO. Everything is bounded:
//! the number of clients (idle ones expire), and the datagrams waiting. Socket
//! errors are counted in [`Stats`], never fatal.
//!
//! QUIC copes with the rewritten source addresses: connections are identified
//! by connection ids and peers authenticated by their keys, not addresses.

pub mod impair;
pub mod relay;
pub mod schedule;

pub use impair::{Impairment, ImpairmentError, Verdict};
pub use relay::{Relay, RelayConfig, Stats};
pub use schedule::Scheduler;
