//! The transport interface the node's driver uses, and an in-memory
//! implementation of it. The driver sends through [`Transport`] and reads
//! from an [`Inbound`] queue; the QUIC network and the in-memory hub both
//! provide the two, so the driver is tested without sockets.

use std::sync::Arc;

use ocr_core::messages::Message;

use crate::queue::DropOldest;

/// Messages received for one instance, with the sending oracle's id (the
/// authenticated transport's word, never the message's).
pub type Inbound = DropOldest<(u8, Message)>;

/// Sending for one protocol instance. Never blocks: messages are queued and
/// dropped (and counted) under pressure.
pub trait Transport: Send + Sync + 'static {
    /// Sends `message` to oracle `to` (possibly this one).
    fn send(&self, to: u8, message: &Message);
    /// Sends `message` to every oracle, this one included.
    fn broadcast(&self, message: &Message);
}

/// An in-memory network of `n` oracles: each message is delivered to the
/// recipient's inbound queue at once.
#[derive(Clone)]
pub struct LocalHub {
    inbounds: Arc<Vec<Arc<Inbound>>>,
}

impl LocalHub {
    /// A hub for `n` oracles, each with an inbound queue of `capacity`.
    pub fn new(n: usize, capacity: usize) -> Self {
        Self { inbounds: Arc::new((0..n).map(|_| Arc::new(DropOldest::new(capacity))).collect()) }
    }

    /// Oracle `me`'s end: its transport and its inbound queue.
    pub fn endpoint(&self, me: u8) -> Option<(LocalTransport, Arc<Inbound>)> {
        let inbound = self.inbounds.get(usize::from(me))?.clone();
        Some((LocalTransport { hub: self.clone(), me }, inbound))
    }
}

/// One oracle's side of a [`LocalHub`].
#[derive(Clone)]
pub struct LocalTransport {
    hub: LocalHub,
    me: u8,
}

impl Transport for LocalTransport {
    fn send(&self, to: u8, message: &Message) {
        if let Some(inbound) = self.hub.inbounds.get(usize::from(to)) {
            inbound.push((self.me, message.clone()));
        }
    }

    fn broadcast(&self, message: &Message) {
        for inbound in self.hub.inbounds.iter() {
            inbound.push((self.me, message.clone()));
        }
    }
}
