//! Which GPIOs carry the AT port: `factory_param`'s `uart_port` / `uart_*_pin` when they are
//! usable on the ESP32-C3, else ESP-AT's ESP32-C3-MINI-1 defaults (TX 7, RX 6, CTS 5, RTS 4),
//! as ESP-AT's `at_uart` setup does with its factory data.

use at_core::FactoryParams;

/// The AT port's pins (GPIO numbers). CTS/RTS are `None` when `factory_param` says `-1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtPins {
    /// TX (our output).
    pub tx: u8,
    /// RX (our input).
    pub rx: u8,
    /// CTS: the host may hold us back.
    pub cts: Option<u8>,
    /// RTS: we hold the host back.
    pub rts: Option<u8>,
}

/// ESP-AT's ESP32-C3-MINI-1 pins (its `factory_param_data.csv`).
pub const MINI1: AtPins = AtPins { tx: 7, rx: 6, cts: Some(5), rts: Some(4) };

/// GPIOs the AT port may use on the ESP32-C3: 0–10, and 18/19 (USB D-/D+, free when the
/// USB-Serial-JTAG is not used). 11–17 are the SPI flash's (and VDD_SPI), 20/21 are UART0,
/// the log console.
pub fn usable(gpio: u8) -> bool {
    matches!(gpio, 0..=10 | 18 | 19)
}

/// Why `factory_param`'s UART settings were not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinError {
    /// `uart_port` is not 1 (UART0 is the log console; the C3 has UART0 and UART1).
    Port(i32),
    /// A pin outside [`usable`] (or a required one given as `-1`).
    Unusable(i32),
    /// The same GPIO twice.
    Duplicate(u8),
}

impl core::fmt::Display for PinError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PinError::Port(p) => {
                write!(f, "uart_port {p} (the AT port must be UART1; UART0 carries the logs)")
            }
            PinError::Unusable(g) => write!(f, "GPIO {g} cannot carry the AT port (usable: 0-10, 18, 19)"),
            PinError::Duplicate(g) => write!(f, "GPIO {g} given twice"),
        }
    }
}

/// The AT port's pins from `factory_param`; fields it lacks keep [`MINI1`]'s value.
pub fn choose(f: &FactoryParams) -> Result<AtPins, PinError> {
    if let Some(port) = f.uart_port
        && port != 1
    {
        return Err(PinError::Port(port));
    }
    let required = |v: Option<i32>, default: u8| match v {
        None => Ok(default),
        Some(g) => u8::try_from(g).ok().filter(|&g| usable(g)).ok_or(PinError::Unusable(g)),
    };
    let optional = |v: Option<i32>, default: Option<u8>| match v {
        None => Ok(default),
        Some(g) if g < 0 => Ok(None),
        Some(g) => u8::try_from(g).ok().filter(|&g| usable(g)).map(Some).ok_or(PinError::Unusable(g)),
    };
    let pins = AtPins {
        tx: required(f.uart_tx_pin, MINI1.tx)?,
        rx: required(f.uart_rx_pin, MINI1.rx)?,
        cts: optional(f.uart_cts_pin, MINI1.cts)?,
        rts: optional(f.uart_rts_pin, MINI1.rts)?,
    };
    let all = [Some(pins.tx), Some(pins.rx), pins.cts, pins.rts];
    for (i, a) in all.iter().enumerate() {
        if let Some(a) = a
            && all[i + 1..].contains(&Some(*a))
        {
            return Err(PinError::Duplicate(*a));
        }
    }
    Ok(pins)
}
