//! The AT port: UART1 as an `embedded-io` byte stream ([`AtPort`]) and its line settings
//! ([`AtUartControl`], `AT+UART_CUR` / `AT+UART_DEF`).
//!
//! Both halves share one esp-hal [`Uart`] (`Rc<RefCell<..>>`: one core, one thread, and each
//! method borrows it only for its own duration, so the borrows never overlap): the runner owns
//! the stream, the firmware core's platform owns the control.
//!
//! Non-blocking by construction: reads use [`Uart::read_buffered`] (never waits), writes are only
//! issued by the runner after [`WriteReady::write_ready`] said the TX FIFO has room, and
//! [`Uart::write`] then copies what fits.
//!
//! Known limit of this milestone: received bytes wait in the 128-byte hardware RX FIFO until
//! the main loop reads them (no interrupt-driven ring buffer yet). A poll that blocks longer
//! than the FIFO lasts — a 4 KiB flash erase takes tens of milliseconds, and the FIFO holds
//! 11 ms of 115200 baud — loses bytes unless the host honours RTS (`AT+UART_CUR=...,1` or `3`).
//! The loss is reported ([`RxError::FifoOverflowed`]) and logged, never silent.

use alloc::rc::Rc;
use core::cell::RefCell;

use at_esp32c3::uart::{DataBits as C3DataBits, UartParity, UartStopBits, uart_settings};
use at_hal::uart::{UartConfig, UartConfigError, UartControl};
use embedded_io::{ErrorKind, ErrorType, Read, ReadReady, Write, WriteReady};
use esp_hal::Blocking;
use esp_hal::uart::{self, CtsConfig, DataBits, HwFlowControl, RtsConfig, RxError, TxError, Uart};

type Shared = Rc<RefCell<Uart<'static, Blocking>>>;

/// Split an initialised UART into the byte stream and the line-settings control.
pub fn split(uart: Uart<'static, Blocking>, current: UartConfig) -> (AtPort, AtUartControl) {
    let shared = Rc::new(RefCell::new(uart));
    (AtPort { uart: shared.clone(), rx_errors: 0 }, AtUartControl { uart: shared, current })
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
        .with_baudrate(s.baudrate)
        .with_data_bits(data_bits)
        .with_parity(parity)
        .with_stop_bits(stop_bits)
        .with_hw_flow_ctrl(hw))
}

/// The AT port's byte stream, for `at_core::runner::pump`.
pub struct AtPort {
    uart: Shared,
    rx_errors: u32,
}

impl AtPort {
    /// Receive errors (overflow, framing, parity, glitch) seen since boot.
    pub fn rx_errors(&self) -> u32 {
        self.rx_errors
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
    /// Bytes already in the RX FIFO (never waits; 0 only when none are there).
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, AtPortError> {
        self.uart.borrow_mut().read_buffered(buf).map_err(|e| {
            self.rx_errors = self.rx_errors.saturating_add(1);
            AtPortError::Rx(e)
        })
    }
}

impl ReadReady for AtPort {
    fn read_ready(&mut self) -> Result<bool, AtPortError> {
        let mut u = self.uart.borrow_mut();
        // Report an error the hardware flagged (and clear it) rather than lose it silently.
        if let Err(e) = u.check_for_rx_errors() {
            self.rx_errors = self.rx_errors.saturating_add(1);
            return Err(AtPortError::Rx(e));
        }
        Ok(u.read_ready())
    }
}

impl Write for AtPort {
    /// Copies what fits in the TX FIFO. The runner calls it only after `write_ready`.
    fn write(&mut self, buf: &[u8]) -> Result<usize, AtPortError> {
        self.uart.borrow_mut().write(buf).map_err(AtPortError::Tx)
    }

    /// Waits until the TX FIFO and shift register are empty. The runner calls it only before
    /// a deferred restart or UART change, so the `OK` leaves at the old setting.
    fn flush(&mut self) -> Result<(), AtPortError> {
        self.uart.borrow_mut().flush().map_err(AtPortError::Tx)
    }
}

impl WriteReady for AtPort {
    fn write_ready(&mut self) -> Result<bool, AtPortError> {
        Ok(self.uart.borrow().write_ready())
    }
}

/// `AT+UART_CUR` / `AT+UART_DEF`: applies baud rate, data bits, parity, stop bits and hardware
/// flow control through esp-hal's [`Uart::apply_config`].
pub struct AtUartControl {
    uart: Shared,
    current: UartConfig,
}

impl UartControl for AtUartControl {
    fn apply(&mut self, config: &UartConfig) -> Result<(), UartConfigError> {
        let cfg = esp_config(config)?;
        self.uart.borrow_mut().apply_config(&cfg).map_err(|e| {
            log::warn!("UART setting {config:?} rejected by the driver: {e}");
            UartConfigError::Unsupported
        })?;
        log::info!("AT port: {:?} -> {config:?}", self.current);
        self.current = *config;
        Ok(())
    }
}
