//! The transmit queue between handlers and the AT port.

use alloc::collections::VecDeque;

use at_parser::Output;

/// Above this many queued bytes, [`crate::Firmware::receive`] stops taking input: a host
/// that does not read its responses is throttled instead of growing memory.
pub const TX_HIGH_WATER: usize = 8 * 1024;

/// Hard cap of the queue. Output past it is dropped and counted (it cannot happen with the
/// built-in commands: each writes far less than `TX_CAP - TX_HIGH_WATER`).
pub const TX_CAP: usize = 64 * 1024;

/// Bytes waiting for the AT port.
#[derive(Debug, Default)]
pub struct Tx {
    q: VecDeque<u8>,
    dropped: usize,
}

impl Tx {
    /// Queued bytes.
    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Bytes dropped because the queue was full.
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// The oldest contiguous run of queued bytes.
    pub fn front(&self) -> &[u8] {
        self.q.as_slices().0
    }

    /// Forget the first `n` queued bytes (they were written out).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.q.len());
        self.q.drain(..n);
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

    /// Drop everything queued.
    pub fn clear(&mut self) {
        self.q.clear();
    }
}

impl Output for Tx {
    fn write(&mut self, bytes: &[u8]) {
        let room = TX_CAP.saturating_sub(self.q.len());
        let k = room.min(bytes.len());
        self.q.extend(&bytes[..k]);
        if k < bytes.len() {
            self.dropped += bytes.len() - k;
            log::error!("AT port transmit queue full: {} bytes dropped", bytes.len() - k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_spans_wraparound_and_cap_holds() {
        let mut t = Tx::default();
        t.write(b"hello");
        t.consume(3);
        t.write(b" world");
        let mut buf = [0u8; 4];
        assert_eq!(t.take(&mut buf), 4);
        assert_eq!(&buf, b"lo w");
        let mut rest = [0u8; 32];
        let n = t.take(&mut rest);
        assert_eq!(&rest[..n], b"orld");
        let big = alloc::vec![0u8; TX_CAP + 10];
        t.write(&big);
        assert_eq!(t.len(), TX_CAP);
        assert_eq!(t.dropped(), 10);
    }
}
