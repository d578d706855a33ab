//! A bounded queue that drops its oldest entry when full. Protocol messages
//! are best-effort and superseded by newer ones (timers resend what still
//! matters), so under pressure the newest traffic is the most useful; a
//! producer never blocks and memory never grows past the bound.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

/// The queue. Shared between producers and one consumer through an `Arc`.
#[derive(Debug)]
pub struct DropOldest<T> {
    items: Mutex<VecDeque<T>>,
    capacity: usize,
    ready: Notify,
}

impl<T> DropOldest<T> {
    /// An empty queue holding at most `capacity` (at least 1) items.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self { items: Mutex::new(VecDeque::with_capacity(capacity.min(1024))), capacity, ready: Notify::new() }
    }

    /// Appends `item`; returns the item dropped to make room, if any.
    pub fn push(&self, item: T) -> Option<T> {
        let dropped = match self.items.lock() {
            Ok(mut items) => {
                let dropped = if items.len() >= self.capacity { items.pop_front() } else { None };
                items.push_back(item);
                dropped
            }
            Err(_) => Some(item),
        };
        self.ready.notify_one();
        dropped
    }

    /// The oldest item, if any, without waiting.
    pub fn try_pop(&self) -> Option<T> {
        self.items.lock().ok()?.pop_front()
    }

    /// The oldest item, waiting for one.
    pub async fn pop(&self) -> T {
        loop {
            let notified = self.ready.notified();
            if let Some(item) = self.try_pop() {
                return item;
            }
            notified.await;
        }
    }

    /// How many items wait.
    pub fn len(&self) -> usize {
        self.items.lock().map(|items| items.len()).unwrap_or(0)
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_item_is_dropped_when_full() {
        let queue = DropOldest::new(2);
        assert_eq!(queue.push(1), None);
        assert_eq!(queue.push(2), None);
        assert_eq!(queue.push(3), Some(1));
        assert_eq!(queue.try_pop(), Some(2));
        assert_eq!(queue.try_pop(), Some(3));
        assert_eq!(queue.try_pop(), None);
    }

    #[tokio::test]
    async fn pop_waits_for_a_push() {
        let queue = std::sync::Arc::new(DropOldest::new(4));
        let consumer = tokio::spawn({
            let queue = queue.clone();
            async move { queue.pop().await }
        });
        tokio::task::yield_now().await;
        queue.push(42);
        assert_eq!(consumer.await.ok(), Some(42));
    }
}
