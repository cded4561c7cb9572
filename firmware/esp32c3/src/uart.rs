//! The AT port: UART1 as an `embedded-io` byte stream ([`AtPort`]) and its line settings
//! ([`AtUartControl`], `AT+UART_CUR` / `AT+UART_DEF`).
//!
//! Receiving is interrupt-driven: the UART1 interrupt (RX FIFO above
//! [`RX_FIFO_THRESHOLD`] bytes, or the line idle for [`RX_IDLE_SYMBOLS`] symbol times) moves
//! the hardware FIFO into a [`RxRing`] of [`at_esp32c3::rx_ring::RX_RING_CAPACITY`] bytes, so bytes survive poll
//! steps longer than the 128-byte FIFO lasts (a flash erase). When the ring is full the
//! interrupt stops draining the FIFO until the main loop has made room: the FIFO then fills,
//! and with RTS flow control on (`AT+UART_CUR=...,1` or `3`) the hardware holds the host back;
//! without it, the FIFO overflows and the loss is reported ([`RxError::FifoOverflowed`]),
//! logged and counted, never silent.
//!
//! The UART and the ring live in `critical_section::Mutex` statics shared by the interrupt
//! handler, the stream and the control; every access is one short critical section (a FIFO's
//! worth of bytes at most). Writes are non-blocking: the runner writes only after
//! [`WriteReady::write_ready`] said the TX FIFO has room, and [`Uart::write`] copies what fits.

use core::cell::{Cell, RefCell};
use core::sync::atomic::{AtomicU32, Ordering};

use at_esp32c3::uart::{DataBits as C3DataBits, UartParity, UartStopBits, uart_settings};
use at_hal::uart::{UartConfig, UartConfigError, UartControl};
use critical_section::Mutex;
use embedded_io::{ErrorKind, ErrorType, Read, ReadReady, Write, WriteReady};
use enumset::EnumSet;
use esp_hal::Blocking;
use esp_hal::time::{Duration, Instant};
use esp_hal::uart::{
    self, CtsConfig, DataBits, HwFlowControl, RtsConfig, RxConfig, RxError, TxError, Uart, UartInterrupt,
};

use at_esp32c3::rx_ring::RxRing;

/// RX FIFO level (of 128 bytes) that raises the receive interrupt: the remaining 64 bytes are
/// 5.5 ms of 115 200 baud (0.7 ms of 921 600) for the interrupt to be served.
pub const RX_FIFO_THRESHOLD: u16 = 64;

/// Idle line time, in symbols (bytes), after which the bytes below the threshold are collected
/// (ESP-IDF's default receive timeout).
pub const RX_IDLE_SYMBOLS: u8 = 10;

/// The longest [`AtPort::flush`] waits (a full FIFO at 80 baud would take 19 s).
pub const FLUSH_LIMIT: Duration = Duration::from_millis(500);

/// The AT port's current baud rate, for [`AtPort::flush`]'s bound.
static BAUD: AtomicU32 = AtomicU32::new(115_200);

/// The AT UART, shared by the interrupt handler, [`AtPort`] and [`AtUartControl`] (`None`
/// before [`split`]).
static UART: Mutex<RefCell<Option<Uart<'static, Blocking>>>> = Mutex::new(RefCell::new(None));

/// What the interrupt moved out of the FIFO. All zeros, so it lives in `.bss`, not in flash.
static RX: Mutex<RefCell<RxState>> = Mutex::new(RefCell::new(RxState::new()));

/// A receive error not yet reported through [`AtPort`] (kept apart from [`RX`]: `None` is
/// not all zeros, and would move the whole ring into `.data`).
static RX_ERROR: Mutex<Cell<Option<RxError>>> = Mutex::new(Cell::new(None));

struct RxState {
    ring: RxRing,
    /// The interrupt stopped draining the FIFO because the ring was full.
    paused: bool,
    /// Receive errors since boot.
    errors: u32,
}

impl RxState {
    const fn new() -> Self {
        RxState { ring: RxRing::new(), paused: false, errors: 0 }
    }

    /// Move what the FIFO holds into the ring (as much as fits). Returns whether the ring is
    /// full now.
    fn fill(
        &mut self,
        uart: &mut Uart<'static, Blocking>,
        cs: critical_section::CriticalSection<'_>,
    ) -> bool {
        while !self.ring.is_full() {
            let space = self.ring.free_slice();
            match uart.read_buffered(space) {
                Ok(0) => break,
                Ok(n) => self.ring.commit(n),
                Err(e) => {
                    self.errors = self.errors.saturating_add(1);
                    note_error(cs, e);
                    break;
                }
            }
        }
        self.ring.is_full()
    }
}

/// Keep the first unreported receive error.
fn note_error(cs: critical_section::CriticalSection<'_>, e: RxError) {
    let slot = RX_ERROR.borrow(cs);
    if slot.get().is_none() {
        slot.set(Some(e));
    }
}

/// The receive interrupts: FIFO above the threshold, line idle with bytes below it.
fn rx_interrupts() -> EnumSet<UartInterrupt> {
    UartInterrupt::RxFifoFull | UartInterrupt::RxTimeout
}

/// UART1's interrupt: drain the RX FIFO into the ring; stop listening while the ring is full.
#[esp_hal::handler]
fn at_uart_interrupt() {
    critical_section::with(|cs| {
        let mut uart = UART.borrow_ref_mut(cs);
        let Some(uart) = uart.as_mut() else { return };
        let mut rx = RX.borrow_ref_mut(cs);
        if rx.fill(uart, cs) {
            uart.unlisten(rx_interrupts());
            rx.paused = true;
        }
        uart.clear_interrupts(rx_interrupts());
    });
}

/// How long the 128-byte TX FIFO takes to empty at the current baud rate (10-bit bytes): the
/// longest the main loop may sleep while output waits.
pub fn tx_fifo_time() -> core::time::Duration {
    let baud = u64::from(BAUD.load(Ordering::Relaxed).max(1));
    core::time::Duration::from_micros(128 * 10 * 1_000_000 / baud)
}

/// Take over an initialised UART: install the receive interrupt and split it into the byte
/// stream and the line-settings control.
pub fn split(mut uart: Uart<'static, Blocking>, current: UartConfig) -> (AtPort, AtUartControl) {
    uart.set_interrupt_handler(at_uart_interrupt);
    // Listen only once the handler can reach the UART (a level interrupt it cannot clear
    // would fire forever).
    critical_section::with(|cs| {
        uart.clear_interrupts(rx_interrupts());
        uart.listen(rx_interrupts());
        *UART.borrow_ref_mut(cs) = Some(uart);
    });
    BAUD.store(current.baudrate, Ordering::Relaxed);
    (AtPort { _private: () }, AtUartControl { current })
}

/// Run `f` on the AT UART inside a critical section (`None` before [`split`]).
fn with_uart<R>(f: impl FnOnce(&mut Uart<'static, Blocking>) -> R) -> Option<R> {
    critical_section::with(|cs| UART.borrow_ref_mut(cs).as_mut().map(f))
}

/// esp-hal's configuration for an AT line setting: at-esp32c3 validates it as ESP-AT does
/// (baud 80..=5 000 000, data bits 5..=8) and gives the C3 UART's values, mapped here one to
/// one onto esp-hal's types. [`UartConfigError::Unsupported`] for what ESP-AT refuses.
pub fn esp_config(c: &UartConfig) -> Result<uart::Config, UartConfigError> {
    let s = uart_settings(c)?;
    let data_bits = match s.data_bits {
        C3DataBits::Five => DataBits::_5,
        C3DataBits::Six => DataBits::_6,
        C3DataBits::Seven => DataBits::_7,
        C3DataBits::Eight => DataBits::_8,
    };
    let parity = match s.parity {
        UartParity::None => uart::Parity::None,
        UartParity::Odd => uart::Parity::Odd,
        UartParity::Even => uart::Parity::Even,
    };
    let stop_bits = match s.stop_bits {
        UartStopBits::One => uart::StopBits::_1,
        UartStopBits::OneAndHalf => uart::StopBits::_1p5,
        UartStopBits::Two => uart::StopBits::_2,
    };
    let hw = HwFlowControl {
        cts: if s.cts { CtsConfig::Enabled } else { CtsConfig::Disabled },
        rts: s.rts_threshold.map_or(RtsConfig::Disabled, RtsConfig::Enabled),
    };
    Ok(uart::Config::default()
        .with_rx(
            RxConfig::default().with_fifo_full_threshold(RX_FIFO_THRESHOLD).with_timeout(RX_IDLE_SYMBOLS),
        )
        .with_baudrate(s.baudrate)
        .with_data_bits(data_bits)
        .with_parity(parity)
        .with_stop_bits(stop_bits)
        .with_hw_flow_ctrl(hw))
}

/// The AT port's byte stream, for `at_core::runner::pump`.
pub struct AtPort {
    _private: (),
}

impl AtPort {
    /// Receive errors (overflow, framing, parity, glitch) seen since boot.
    pub fn rx_errors(&self) -> u32 {
        critical_section::with(|cs| RX.borrow_ref(cs).errors)
    }

    /// Whether received bytes wait in the ring (the main loop does not sleep then).
    pub fn has_input(&self) -> bool {
        critical_section::with(|cs| !RX.borrow_ref(cs).ring.is_empty())
    }
}

/// An error on the AT port. After a receive error the bytes concerned are gone (esp-hal resets
/// the FIFO on overflow and drops bytes with framing/parity errors); the port keeps working.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AtPortError {
    /// Receive side.
    Rx(RxError),
    /// Transmit side (esp-hal 1.2.2 defines no transmit error yet; the type is non-exhaustive).
    Tx(TxError),
}

impl core::fmt::Display for AtPortError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AtPortError::Rx(e) => write!(f, "AT port receive error: {e}"),
            AtPortError::Tx(e) => write!(f, "AT port transmit error: {e}"),
        }
    }
}

impl core::error::Error for AtPortError {}

impl embedded_io::Error for AtPortError {
    fn kind(&self) -> ErrorKind {
        match self {
            AtPortError::Rx(RxError::FifoOverflowed) => ErrorKind::OutOfMemory,
            AtPortError::Rx(_) => ErrorKind::InvalidData,
            AtPortError::Tx(_) => ErrorKind::Other,
        }
    }
}

impl ErrorType for AtPort {
    type Error = AtPortError;
}

impl Read for AtPort {
    /// Bytes already received (never waits; 0 only when none are there). Collects what the
    /// FIFO holds below the interrupt's threshold first, and resumes the interrupt once the
    /// ring has room again.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, AtPortError> {
        critical_section::with(|cs| {
            let mut uart = UART.borrow_ref_mut(cs);
            let mut rx = RX.borrow_ref_mut(cs);
            if let Some(uart) = uart.as_mut() {
                rx.fill(uart, cs);
            }
            if let Some(e) = RX_ERROR.borrow(cs).take() {
                return Err(AtPortError::Rx(e));
            }
            let n = rx.ring.pop_into(buf);
            if rx.paused
                && !rx.ring.is_full()
                && let Some(uart) = uart.as_mut()
            {
                rx.paused = false;
                uart.listen(rx_interrupts());
            }
            Ok(n)
        })
    }
}

impl ReadReady for AtPort {
    fn read_ready(&mut self) -> Result<bool, AtPortError> {
        critical_section::with(|cs| {
            let mut uart = UART.borrow_ref_mut(cs);
            let mut rx = RX.borrow_ref_mut(cs);
            if let Some(uart) = uart.as_mut() {
                // Report an error the hardware flagged (and clear it) rather than lose it.
                if let Err(e) = uart.check_for_rx_errors() {
                    rx.errors = rx.errors.saturating_add(1);
                    note_error(cs, e);
                }
                if rx.ring.is_empty() && Uart::read_ready(uart) {
                    rx.fill(uart, cs);
                }
            }
            if let Some(e) = RX_ERROR.borrow(cs).take() {
                return Err(AtPortError::Rx(e));
            }
            Ok(!rx.ring.is_empty())
        })
    }
}

impl Write for AtPort {
    /// Copies what fits in the TX FIFO. The runner calls it only after `write_ready`.
    /// `TX_DONE` is cleared first, so [`AtPort::flush`] sees the end of *these* bytes.
    fn write(&mut self, buf: &[u8]) -> Result<usize, AtPortError> {
        with_uart(|u| {
            u.clear_interrupts(UartInterrupt::TxDone.into());
            u.write(buf)
        })
        .unwrap_or(Ok(0))
        .map_err(AtPortError::Tx)
    }

    /// Waits until the transmitter has sent everything (UART `TX_DONE`), so that the `OK`
    /// before a deferred restart or UART change leaves at the old setting. Bounded: a full
    /// FIFO's time at the current baud rate plus 2 ms, at most [`FLUSH_LIMIT`] — a host holding
    /// CTS cannot keep the loop here (esp-hal's own `flush` would wait forever). The receive
    /// interrupt stays on meanwhile.
    fn flush(&mut self) -> Result<(), AtPortError> {
        let baud = u64::from(BAUD.load(Ordering::Relaxed).max(1));
        // 128 bytes of at most 12 bits (start, 8 data, parity, 2 stop).
        let full_fifo_us = 128 * 12 * 1_000_000 / baud;
        let limit = Duration::from_micros(full_fifo_us + 2_000).min(FLUSH_LIMIT);
        let start = Instant::now();
        loop {
            let done = with_uart(|u| u.interrupts().contains(UartInterrupt::TxDone)).unwrap_or(true);
            if done {
                return Ok(());
            }
            if start.elapsed() >= limit {
                log::warn!(
                    "AT port: output not sent within {} ms (CTS held by the host?)",
                    limit.as_millis()
                );
                return Ok(());
            }
        }
    }
}

impl WriteReady for AtPort {
    fn write_ready(&mut self) -> Result<bool, AtPortError> {
        Ok(with_uart(|u| Uart::write_ready(u)).unwrap_or(false))
    }
}

/// `AT+UART_CUR` / `AT+UART_DEF`: applies baud rate, data bits, parity, stop bits and hardware
/// flow control through esp-hal's [`Uart::apply_config`].
pub struct AtUartControl {
    current: UartConfig,
}

impl UartControl for AtUartControl {
    fn apply(&mut self, config: &UartConfig) -> Result<(), UartConfigError> {
        let cfg = esp_config(config)?;
        match with_uart(|u| u.apply_config(&cfg)) {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                log::warn!("UART setting {config:?} rejected by the driver: {e}");
                return Err(UartConfigError::Unsupported);
            }
            // Only before `split`.
            None => return Err(UartConfigError::Unsupported),
        }
        log::info!("AT port: {:?} -> {config:?}", self.current);
        self.current = *config;
        BAUD.store(config.baudrate, Ordering::Relaxed);
        Ok(())
    }
}
