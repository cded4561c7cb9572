//! The transmit queue between handlers and the AT port.
//!
//! It has a nominal capacity ([`crate::Capacities::tx`]) and never drops a byte:
//!
//! * input is taken only while the queue is below half its capacity
//!   ([`Tx::accepting_input`]), so a host that does not read its responses is throttled
//!   instead of growing memory, and every command starts with at least half the capacity
//!   free — more than any non-streamed response needs;
//! * long output (streamed reads, received link data, unsolicited messages) is written only
//!   while [`Output::room`] allows, and resumes on a later poll.
//!
//! A write past the capacity is still queued (and recorded in [`Tx::peak`]): losing response
//! bytes would desynchronise the host, which is worse than a transient overshoot.

use alloc::collections::VecDeque;

use at_parser::Output;

/// Default capacity: 8 KiB (ESP-AT's UART driver buffers are 8 KiB on the C3 as well).
pub const TX_CAPACITY: usize = 8 * 1024;

/// The smallest transmit queue: a 2920-byte `+IPD` with its header and trailer, plus room for
/// a message, plus margin.
pub const TX_MIN: usize = 4 * 1024;

/// Bytes waiting for the AT port.
#[derive(Debug)]
pub struct Tx {
    q: VecDeque<u8>,
    capacity: usize,
    peak: usize,
}

impl Default for Tx {
    fn default() -> Self {
        Tx::with_capacity(TX_CAPACITY)
    }
}

impl Tx {
    /// A queue of nominal capacity `capacity` (at least [`TX_MIN`], so a whole `+IPD` frame
    /// and a message always fit).
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(TX_MIN);
        Tx { q: VecDeque::with_capacity(capacity), capacity, peak: 0 }
    }

    /// Queued bytes.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// The nominal capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The most bytes ever queued at once.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// Whether the firmware should take more input (the queue is below half its capacity).
    pub fn accepting_input(&self) -> bool {
        self.q.len() < self.capacity / 2
    }

    /// The oldest contiguous run of queued bytes.
    pub fn front(&self) -> &[u8] {
        self.q.as_slices().0
    }

    /// Forget the first `n` queued bytes (they were written out).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.q.len());
        self.q.drain(..n);
        // A response over the capacity (written whole, never dropped) grew the queue: give the
        // memory back once it has left.
        if self.q.is_empty() && self.q.capacity() > 2 * self.capacity {
            self.q.shrink_to(self.capacity);
        }
    }

    /// Move up to `buf.len()` bytes out.
    pub fn take(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() {
            let front = self.front();
            if front.is_empty() {
                break;
            }
            let k = front.len().min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&front[..k]);
            self.consume(k);
            n += k;
        }
        n
    }

    /// Drop everything queued (a restart).
    pub fn clear(&mut self) {
        self.q.clear();
    }
}

impl Output for Tx {
    fn write(&mut self, bytes: &[u8]) {
        self.q.extend(bytes);
        if self.q.len() > self.peak {
            self.peak = self.q.len();
            if self.peak > self.capacity {
                log::warn!(
                    "AT port transmit queue at {} bytes, over its {} capacity",
                    self.peak,
                    self.capacity
                );
            }
        }
    }

    fn room(&self) -> usize {
        self.capacity.saturating_sub(self.q.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_returns_to_capacity_after_an_oversized_response_leaves() {
        let mut t = Tx::with_capacity(1024);
        t.write(&[7u8; 64 * 1024]);
        assert_eq!(t.len(), 64 * 1024, "nothing dropped");
        assert!(t.q.capacity() >= 64 * 1024);
        let mut buf = [0u8; 4096];
        while t.take(&mut buf) > 0 {}
        assert!(t.q.capacity() <= 2 * TX_MIN, "capacity {} kept after draining", t.q.capacity());
        assert_eq!(t.peak(), 64 * 1024);
    }

    #[test]
    fn take_spans_wraparound_and_nothing_is_dropped() {
        let mut t = Tx::with_capacity(1024);
        t.write(b"hello");
        t.consume(3);
        t.write(b" world");
        let mut buf = [0u8; 4];
        assert_eq!(t.take(&mut buf), 4);
        assert_eq!(&buf, b"lo w");
        let mut rest = [0u8; 32];
        let n = t.take(&mut rest);
        assert_eq!(&rest[..n], b"orld");
        assert_eq!(t.room(), TX_MIN, "the capacity is at least TX_MIN");
        let big = alloc::vec![7u8; TX_MIN + 10];
        t.write(&big);
        assert_eq!(t.len(), TX_MIN + 10);
        assert_eq!(t.room(), 0);
        assert_eq!(t.peak(), TX_MIN + 10);
        assert!(!t.accepting_input());
    }
}
