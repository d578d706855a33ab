//! # The QUIC transport of OCR3 oracles
//!
//! quinn and rustls, TLS 1.3 authenticated in both directions with pinned
//! ed25519 peer keys ([`identity`]); per-instance streams carrying versioned
//! frames checked before decoding ([`frame`]); per-peer token buckets
//! ([`rate`]) and bounded drop-oldest queues ([`queue`]); reconnects with
//! backoff ([`network`]). The driver sees only the [`Transport`] trait and an
//! inbound queue, which [`LocalHub`] also provides in memory.

pub mod frame;
pub mod identity;
pub mod metrics;
pub mod network;
pub mod queue;
pub mod rate;
pub mod transport;

pub use identity::PeerId;
pub use metrics::NetMetrics;
pub use network::{InstanceSender, Network, NetworkConfig};
pub use transport::{Inbound, LocalHub, LocalTransport, Transport};

/// Why the network could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The peer key or certificate could not be set up.
    #[error("peer identity: {0}")]
    Identity(String),
    /// The endpoint could not bind.
    #[error("cannot listen on {address}: {reason}")]
    Bind {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        reason: String,
    },
    /// An I/O error.
    #[error("network I/O: {0}")]
    Io(String),
    /// An instance names a peer missing from the address book.
    #[error("peer {0} is in the instance but not in the address book")]
    UnknownPeer(PeerId),
    /// This node is not the oracle the instance says it is.
    #[error("this node's peer id is not the instance's oracle it was opened as")]
    NotInInstance,
    /// A lock was poisoned by a panic elsewhere.
    #[error("internal lock poisoned")]
    Poisoned,
}
