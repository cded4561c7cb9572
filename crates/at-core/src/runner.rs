//! Connects [`Firmware`] to an `embedded-io` UART: one bounded step per call.

use at_hal::time::Instant;
use embedded_io::{Read, ReadReady, Write, WriteReady};

use crate::firmware::Firmware;
use at_hal::Platform;

/// Bytes read from the UART per step by default (a device's UART FIFO is smaller; a PC
/// backend may use a larger [`Pending`]).
pub const READ_CHUNK: usize = 256;

/// One step: write what the port accepts without blocking, read what is waiting (at most
/// [`READ_CHUNK`] bytes), feed it, poll. Returns the firmware's next deadline.
///
/// Never blocks: reads and writes happen only when the port reports readiness. Bytes the
/// firmware could not take yet (its output is backed up) are kept in `pending` and offered
/// again on the next step.
pub fn pump<P, X, U, const N: usize>(
    fw: &mut Firmware<P, X>,
    uart: &mut U,
    pending: &mut Pending<N>,
    now: Instant,
) -> Result<Option<Instant>, U::Error>
where
    P: Platform,
    U: Read + Write + ReadReady + WriteReady,
{
    flush_ready(fw, uart)?;
    // Read the UART only when the firmware can take input: otherwise the bytes stay in the
    // UART (its FIFO and the host's flow control hold them), not in memory here.
    if pending.len == 0 && fw.wants_input() && uart.read_ready()? {
        pending.len = uart.read(&mut pending.buf)?;
        pending.start = 0;
    }
    if pending.start < pending.len {
        let n = fw.receive(&pending.buf[pending.start..pending.len], now);
        pending.start += n;
        if pending.start >= pending.len {
            pending.len = 0;
            pending.start = 0;
        }
    }
    if fw.has_deferred() && fw.tx_len() == 0 {
        // A restart or UART change waits for the UART itself to have sent the `OK`.
        uart.flush()?;
    }
    let next = fw.poll(now);
    let drained = flush_ready(fw, uart)?;
    // Bytes the firmware can take: come back at once. Deferred work (a restart after its
    // `OK`) waits for the queue to drain: once it has, come back at once; while it has not,
    // wait for the port (no busy spin on a host that stops reading). Output that left the
    // queue after the poll made room the poll did not see (it may have held back `+IPD` or
    // passthrough data for lack of it): come back at once too.
    let again =
        (pending.len > 0 && fw.wants_input()) || (fw.has_deferred() && fw.tx_len() == 0) || drained > 0;
    Ok(if again { Some(now) } else { next })
}

/// Write what the UART takes now; returns how many bytes left the queue.
fn flush_ready<P: Platform, X, U: Write + WriteReady>(
    fw: &mut Firmware<P, X>,
    uart: &mut U,
) -> Result<usize, U::Error> {
    // Bounded: at most the queue's current length is written.
    let start = fw.tx_len();
    let mut budget = start;
    while budget > 0 && uart.write_ready()? {
        let front = fw.tx_front();
        if front.is_empty() {
            break;
        }
        let n = uart.write(front)?;
        if n == 0 {
            break;
        }
        fw.tx_consume(n);
        budget = budget.saturating_sub(n);
    }
    Ok(start - budget)
}

/// Received bytes the firmware has not taken yet (at most `N`, read from the UART at once).
#[derive(Debug)]
pub struct Pending<const N: usize = READ_CHUNK> {
    buf: [u8; N],
    start: usize,
    len: usize,
}

impl<const N: usize> Default for Pending<N> {
    fn default() -> Self {
        Pending { buf: [0; N], start: 0, len: 0 }
    }
}

impl<const N: usize> Pending<N> {
    /// Whether bytes wait for the firmware.
    pub fn has_input(&self) -> bool {
        self.start < self.len
    }
}
