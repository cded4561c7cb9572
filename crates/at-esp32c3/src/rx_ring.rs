//! A fixed-capacity byte ring: the AT port's receive buffer between the UART interrupt (which
//! fills it from the hardware FIFO) and the main loop (which drains it into the core).

/// Bytes the AT port buffers beyond the UART's 128-byte hardware FIFO. 4 KiB hold 355 ms of
/// 115 200 baud and 44 ms of 921 600 baud: longer than a slow poll step (a TLS handshake's
/// public-key operation). When it is full the interrupt stops draining the FIFO, so with
/// RTS flow control on the host is held back by the hardware instead of bytes being lost.
pub const RX_RING_CAPACITY: usize = 4096;

/// A byte FIFO of `N` bytes.
#[derive(Debug)]
pub struct RxRing<const N: usize = RX_RING_CAPACITY> {
    buf: [u8; N],
    /// Index of the oldest byte.
    head: usize,
    /// Bytes held.
    len: usize,
}

impl<const N: usize> RxRing<N> {
    /// An empty ring (`const`, so it can live in a `static`).
    pub const fn new() -> Self {
        RxRing { buf: [0; N], head: 0, len: 0 }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether no byte fits.
    pub fn is_full(&self) -> bool {
        self.len == N
    }

    /// The contiguous free space after the newest byte (empty when full); commit what was
    /// written there with [`RxRing::commit`].
    pub fn free_slice(&mut self) -> &mut [u8] {
        if self.is_full() {
            return &mut [];
        }
        let tail = (self.head + self.len) % N;
        // Not wrapped yet (or empty): free up to the end; wrapped: free up to the oldest byte.
        let end = if tail >= self.head { N } else { self.head };
        &mut self.buf[tail..end]
    }

    /// Mark `n` bytes written into [`RxRing::free_slice`] as held (clamped to the free space).
    pub fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(N);
    }

    /// Move up to `out.len()` of the oldest bytes into `out`; returns how many.
    pub fn pop_into(&mut self, out: &mut [u8]) -> usize {
        let mut done = 0;
        while done < out.len() && self.len > 0 {
            let run = (N - self.head).min(self.len).min(out.len() - done);
            out[done..done + run].copy_from_slice(&self.buf[self.head..self.head + run]);
            self.head = (self.head + run) % N;
            self.len -= run;
            done += run;
        }
        if self.len == 0 {
            self.head = 0;
        }
        done
    }
}

impl<const N: usize> Default for RxRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use std::vec;
    use std::vec::Vec;

    /// Fill like the interrupt does (free slices until full or the FIFO is empty), drain like
    /// the main loop; the ring must behave as a bounded FIFO.
    fn check<const N: usize>(ops: &[(bool, usize)]) {
        let mut ring: RxRing<N> = RxRing::new();
        let mut model: VecDeque<u8> = VecDeque::new();
        let mut next = 0u8;
        for &(fill, n) in ops {
            if fill {
                let mut fifo = n;
                while !ring.is_full() && fifo > 0 {
                    let space = ring.free_slice();
                    assert!(!space.is_empty(), "no free slice while not full");
                    let k = space.len().min(fifo);
                    for b in &mut space[..k] {
                        *b = next;
                        model.push_back(next);
                        next = next.wrapping_add(1);
                    }
                    ring.commit(k);
                    fifo -= k;
                }
            } else {
                let mut out = vec![0u8; n];
                let got = ring.pop_into(&mut out);
                let want: Vec<u8> = (0..got).map(|_| model.pop_front().unwrap()).collect();
                assert_eq!(&out[..got], &want[..]);
                assert_eq!(got, n.min(got + model.len()), "popped less than available");
            }
            assert_eq!(ring.len(), model.len());
            assert!(ring.len() <= N);
            assert_eq!(ring.is_full(), model.len() == N);
            assert_eq!(ring.is_empty(), model.is_empty());
        }
    }

    proptest! {
        #[test]
        fn behaves_as_a_bounded_fifo(ops in proptest::collection::vec((any::<bool>(), 0usize..300), 0..400)) {
            check::<4096>(&ops);
            check::<128>(&ops);
            check::<7>(&ops);
            check::<1>(&ops);
        }
    }

    #[test]
    fn free_space_wraps() {
        let mut r: RxRing<10> = RxRing::new();
        r.commit(7);
        let mut o = [0u8; 5];
        assert_eq!(r.pop_into(&mut o), 5);
        let a = r.free_slice().len();
        r.commit(a);
        let b = r.free_slice().len();
        r.commit(b);
        assert_eq!(a + b, 8);
        assert!(r.is_full());
        assert!(r.free_slice().is_empty());
        r.commit(3); // clamped: nothing more than capacity
        assert_eq!(r.len(), 10);
    }
}
