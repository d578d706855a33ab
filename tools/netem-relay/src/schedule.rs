//! A bounded queue of datagrams waiting for their delivery time. Sans-IO: the
//! caller passes the current time in, so it is tested without a clock.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

struct Entry<T> {
    due: Instant,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

/// Items ordered by due time; items due at the same time leave in the order
/// they came. Holds at most `capacity` items.
pub struct Scheduler<T> {
    heap: BinaryHeap<Reverse<Entry<T>>>,
    capacity: usize,
    next_seq: u64,
}

impl<T> Scheduler<T> {
    /// An empty scheduler holding at most `capacity` items.
    pub fn new(capacity: usize) -> Self {
        Self { heap: BinaryHeap::new(), capacity, next_seq: 0 }
    }

    /// Queues `item` to leave `delay` after `now`. Gives the item back if the
    /// queue is full or the due time is not representable.
    pub fn push(&mut self, now: Instant, delay: Duration, item: T) -> Result<(), T> {
        if self.heap.len() >= self.capacity {
            return Err(item);
        }
        let Some(due) = now.checked_add(delay) else {
            return Err(item);
        };
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.heap.push(Reverse(Entry { due, seq, item }));
        Ok(())
    }

    /// When the earliest item is due, if any is queued.
    pub fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(entry)| entry.due)
    }

    /// Takes the earliest item if it is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.next_due()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(entry)| entry.item)
    }

    /// How many items are queued.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn items_leave_when_due_in_due_order() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(10);
        s.push(t0, ms(30), "c").unwrap();
        s.push(t0, ms(10), "a").unwrap();
        s.push(t0, ms(20), "b").unwrap();
        assert_eq!(s.next_due(), Some(t0 + ms(10)));
        assert_eq!(s.pop_due(t0 + ms(9)), None);
        assert_eq!(s.pop_due(t0 + ms(10)), Some("a"));
        assert_eq!(s.pop_due(t0 + ms(10)), None);
        assert_eq!(s.pop_due(t0 + ms(100)), Some("b"));
        assert_eq!(s.pop_due(t0 + ms(100)), Some("c"));
        assert_eq!(s.pop_due(t0 + ms(100)), None);
        assert!(s.is_empty());
        assert_eq!(s.next_due(), None);
    }

    #[test]
    fn equal_due_times_keep_arrival_order() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(100);
        for i in 0..50 {
            s.push(t0, ms(5), i).unwrap();
        }
        let out: Vec<i32> = std::iter::from_fn(|| s.pop_due(t0 + ms(5))).collect();
        assert_eq!(out, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn a_later_push_with_a_shorter_delay_overtakes() {
        // Jitter reorders, as netem's does.
        let t0 = Instant::now();
        let mut s = Scheduler::new(10);
        s.push(t0, ms(25), 1).unwrap();
        s.push(t0 + ms(1), ms(15), 2).unwrap();
        assert_eq!(s.pop_due(t0 + ms(30)), Some(2));
        assert_eq!(s.pop_due(t0 + ms(30)), Some(1));
    }

    #[test]
    fn a_full_queue_gives_the_item_back() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(2);
        s.push(t0, ms(1), 1).unwrap();
        s.push(t0, ms(1), 2).unwrap();
        assert_eq!(s.push(t0, ms(1), 3), Err(3));
        assert_eq!(s.len(), 2);
        assert_eq!(s.pop_due(t0 + ms(1)), Some(1));
        assert!(s.push(t0, ms(1), 3).is_ok());
    }

    #[test]
    fn zero_capacity_refuses_everything() {
        let mut s = Scheduler::new(0);
        assert_eq!(s.push(Instant::now(), ms(0), ()), Err(()));
    }

    #[test]
    fn an_unrepresentable_due_time_is_refused() {
        let mut s = Scheduler::new(1);
        assert_eq!(s.push(Instant::now(), Duration::MAX, 7), Err(7));
        assert!(s.is_empty());
    }
}
