//! Connects [`Firmware`] to an `embedded-io` UART: one bounded step per call.

use at_hal::time::Instant;
use embedded_io::{Read, ReadReady, Write, WriteReady};

use crate::firmware::Firmware;
use at_hal::Platform;

/// Bytes read from the UART per step.
pub const READ_CHUNK: usize = 256;

/// One step: write what the port accepts without blocking, read what is waiting (at most
/// [`READ_CHUNK`] bytes), feed it, poll. Returns the firmware's next deadline.
///
/// Never blocks: reads and writes happen only when the port reports readiness. Bytes the
/// firmware could not take yet (its output is backed up) are kept in `pending` and offered
/// again on the next step.
pub fn pump<P, X, U>(
    fw: &mut Firmware<P, X>,
    uart: &mut U,
    pending: &mut Pending,
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
    let next = fw.poll(now);
    flush_ready(fw, uart)?;
    // Deferred work (a restart after its `OK`) waits for the queue to drain: come back as
    // soon as the port can take more, not at once (no busy spin on a host that stops reading).
    Ok(if pending.len > 0 && fw.wants_input() { Some(now) } else { next })
}

fn flush_ready<P: Platform, X, U: Write + WriteReady>(
    fw: &mut Firmware<P, X>,
    uart: &mut U,
) -> Result<(), U::Error> {
    // Bounded: at most the queue's current length is written.
    let mut budget = fw.tx_len();
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
    Ok(())
}

/// Received bytes the firmware has not taken yet.
#[derive(Debug)]
pub struct Pending {
    buf: [u8; READ_CHUNK],
    start: usize,
    len: usize,
}

impl Default for Pending {
    fn default() -> Self {
        Pending { buf: [0; READ_CHUNK], start: 0, len: 0 }
    }
}
