//! A fixed-capacity byte ring: the AT port's receive buffer between the UART interrupt (which
//! fills it from the hardware FIFO) and the main loop (which drains it into the core).

/// Bytes the AT port buffers beyond the UART's 128-byte hardware FIFO. 4 KiB hold 355 ms of
/// 115 200 baud and 44 ms of 921 600 baud: longer than the slowest poll step (a 4 KiB flash
/// erase, tens of milliseconds). When it is full the interrupt stops draining the FIFO, so with
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
