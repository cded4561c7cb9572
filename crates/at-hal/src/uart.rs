//! UART line settings (`AT+UART_CUR` / `AT+UART_DEF`).
//!
//! The byte stream itself is [`embedded_io`]; this trait only changes how the line is clocked.

/// Parity setting, as ESP-AT numbers it (`0` none, `1` odd, `2` even).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    /// No parity bit.
    None = 0,
    /// Odd parity.
    Odd = 1,
    /// Even parity.
    Even = 2,
}

/// Stop bits, as ESP-AT numbers them (`1` = 1, `2` = 1.5, `3` = 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopBits {
    /// One stop bit.
    One = 1,
    /// One and a half stop bits.
    OneAndHalf = 2,
    /// Two stop bits.
    Two = 3,
}

/// Hardware flow control (`0` none, `1` RTS, `2` CTS, `3` both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowControl {
    /// No flow control.
    None = 0,
    /// RTS only.
    Rts = 1,
    /// CTS only.
    Cts = 2,
    /// RTS and CTS.
    RtsCts = 3,
}

/// A complete UART line configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UartConfig {
    /// Baud rate in bits per second (ESP32-C3: 80..=5_000_000).
    pub baudrate: u32,
    /// Data bits, 5..=8.
    pub data_bits: u8,
    /// Stop bits.
    pub stop_bits: StopBits,
    /// Parity.
    pub parity: Parity,
    /// Flow control.
    pub flow_control: FlowControl,
}

impl Default for UartConfig {
    /// ESP-AT's default: 115200 8N1, no flow control.
    fn default() -> Self {
        UartConfig {
            baudrate: 115_200,
            data_bits: 8,
            stop_bits: StopBits::One,
            parity: Parity::None,
            flow_control: FlowControl::None,
        }
    }
}

/// Why a UART configuration could not be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UartConfigError {
    /// The hardware cannot run at this setting.
    #[error("UART setting not supported by the port")]
    Unsupported,
}

/// Reconfigures the AT port's line settings.
///
/// The core calls it only *after* the `OK` of `AT+UART_CUR`/`AT+UART_DEF` has been written out,
/// as ESP-AT does, so the host sees the reply at the old rate.
pub trait UartControl {
    /// Apply `config` from now on.
    fn apply(&mut self, config: &UartConfig) -> Result<(), UartConfigError>;
}
