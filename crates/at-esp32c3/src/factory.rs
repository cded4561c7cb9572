//! `factory_param`'s AT UART settings (ESP-AT's `mfg_nvs`, namespace `factory_param`):
//! `uart_port`, `uart_baudrate`, `uart_tx_pin`, `uart_rx_pin`, `uart_cts_pin`, `uart_rts_pin`
//! (the generator mixes `i8` and `i32`; `-1` means "not connected" for CTS/RTS). ESP-AT's
//! ESP32-C3-MINI-1 row: port 1, 115200, TX 7, RX 6, CTS 5, RTS 4.
//!
//! [`FactoryUart::read`] reads what is there; [`FactoryUart::check`] judges it against the
//! ESP32-C3 (UART0/UART1, GPIO0..=21, distinct pins).

use at_hal::kv::{Kv, KvError};

/// Namespace of ESP-AT's boot parameters in `mfg_nvs`.
pub const NAMESPACE: &str = "factory_param";

/// Highest GPIO number of the ESP32-C3.
pub const MAX_GPIO: u8 = 21;

/// The C3-MINI-1 values ESP-AT ships (and this firmware's built-in pins).
pub const C3_MINI_1: AtUartPins = AtUartPins { port: 1, tx: 7, rx: 6, cts: Some(5), rts: Some(4) };

/// The raw values found (`None`: the key is absent or not an integer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FactoryUart {
    /// `uart_port`.
    pub port: Option<i64>,
    /// `uart_baudrate`.
    pub baudrate: Option<i64>,
    /// `uart_tx_pin`.
    pub tx: Option<i64>,
    /// `uart_rx_pin`.
    pub rx: Option<i64>,
    /// `uart_cts_pin` (`-1`: not connected).
    pub cts: Option<i64>,
    /// `uart_rts_pin` (`-1`: not connected).
    pub rts: Option<i64>,
}

/// The AT port's wiring, checked for the ESP32-C3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtUartPins {
    /// UART number (0 or 1).
    pub port: u8,
    /// TX GPIO.
    pub tx: u8,
    /// RX GPIO.
    pub rx: u8,
    /// CTS GPIO, if connected.
    pub cts: Option<u8>,
    /// RTS GPIO, if connected.
    pub rts: Option<u8>,
}

/// What is wrong with `factory_param`'s UART settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactoryUartError {
    /// A required key (port, TX or RX pin) is missing.
    Missing(&'static str),
    /// The port is not 0 or 1 (the C3 has two UARTs).
    BadPort(i64),
    /// A pin is not a C3 GPIO (0..=21; `-1` allowed for CTS/RTS).
    BadPin(&'static str, i64),
    /// Two signals share a pin.
    SharedPin(u8),
    /// The port is UART0, this firmware's log console (the AT port must be UART1).
    ConsolePort,
    /// A valid GPIO this firmware cannot give the AT port (see [`usable_for_at_port`]).
    ReservedPin(&'static str, u8),
}

/// GPIOs the AT port may take on the ESP32-C3: 0–10, and 18/19 (USB D-/D+, free when the
/// USB-Serial-JTAG is not used). 11–17 belong to the SPI flash (and VDD_SPI); 20/21 are UART0,
/// the log console.
pub fn usable_for_at_port(gpio: u8) -> bool {
    matches!(gpio, 0..=10 | 18 | 19)
}

impl core::fmt::Display for FactoryUartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            FactoryUartError::Missing(k) => write!(f, "factory_param/{k} missing"),
            FactoryUartError::BadPort(p) => {
                write!(f, "factory_param/uart_port {p}: the ESP32-C3 has UART0 and UART1")
            }
            FactoryUartError::BadPin(k, p) => {
                write!(f, "factory_param/{k} {p}: not an ESP32-C3 GPIO (0..=21)")
            }
            FactoryUartError::SharedPin(p) => {
                write!(f, "factory_param: GPIO{p} assigned to two UART signals")
            }
            FactoryUartError::ConsolePort => {
                write!(f, "factory_param/uart_port 0: UART0 is this firmware's log console")
            }
            FactoryUartError::ReservedPin(k, p) => write!(
                f,
                "factory_param/{k} {p}: GPIO{p} is not free for the AT port (flash, VDD_SPI or the console; usable: 0-10, 18, 19)"
            ),
        }
    }
}

impl FactoryUart {
    /// Read the UART keys of `factory_param` from `kv` (missing keys and read errors are
    /// `None`; nothing is written).
    pub fn read(kv: &mut dyn Kv) -> Result<FactoryUart, KvError> {
        let mut int = |key: &str| match kv.get(NAMESPACE, key, &mut []) {
            Ok(v) => Ok(v.as_integer().and_then(|v| i64::try_from(v).ok())),
            Err(KvError::NotFound) => Ok(None),
            Err(e) => Err(e),
        };
        Ok(FactoryUart {
            port: int("uart_port")?,
            baudrate: int("uart_baudrate")?,
            tx: int("uart_tx_pin")?,
            rx: int("uart_rx_pin")?,
            cts: int("uart_cts_pin")?,
            rts: int("uart_rts_pin")?,
        })
    }

    /// The wiring, if it is valid on an ESP32-C3.
    pub fn check(&self) -> Result<AtUartPins, FactoryUartError> {
        let port = self.port.ok_or(FactoryUartError::Missing("uart_port"))?;
        let port = u8::try_from(port).ok().filter(|&p| p <= 1).ok_or(FactoryUartError::BadPort(port))?;
        let gpio = |k: &'static str, v: i64| {
            u8::try_from(v).ok().filter(|&g| g <= MAX_GPIO).ok_or(FactoryUartError::BadPin(k, v))
        };
        let opt = |k: &'static str, v: Option<i64>| match v {
            None | Some(-1) => Ok(None),
            Some(v) => gpio(k, v).map(Some),
        };
        let tx = gpio("uart_tx_pin", self.tx.ok_or(FactoryUartError::Missing("uart_tx_pin"))?)?;
        let rx = gpio("uart_rx_pin", self.rx.ok_or(FactoryUartError::Missing("uart_rx_pin"))?)?;
        let cts = opt("uart_cts_pin", self.cts)?;
        let rts = opt("uart_rts_pin", self.rts)?;
        let pins = [Some(tx), Some(rx), cts, rts];
        for (i, a) in pins.iter().enumerate() {
            if let Some(a) = a
                && pins[i + 1..].contains(&Some(*a))
            {
                return Err(FactoryUartError::SharedPin(*a));
            }
        }
        Ok(AtUartPins { port, tx, rx, cts, rts })
    }
}

impl AtUartPins {
    /// These pins as this firmware can use them for the AT port: UART1, and every pin
    /// [`usable_for_at_port`].
    pub fn for_at_port(self) -> Result<AtUartPins, FactoryUartError> {
        if self.port != 1 {
            return Err(FactoryUartError::ConsolePort);
        }
        let named = [
            ("uart_tx_pin", Some(self.tx)),
            ("uart_rx_pin", Some(self.rx)),
            ("uart_cts_pin", self.cts),
            ("uart_rts_pin", self.rts),
        ];
        for (k, pin) in named {
            if let Some(p) = pin
                && !usable_for_at_port(p)
            {
                return Err(FactoryUartError::ReservedPin(k, p));
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use at_hal::kv::{MemKv, Value};

    fn kv(entries: &[(&str, Value<'_>)]) -> MemKv {
        let mut m = MemKv::new();
        for (k, v) in entries {
            m.set(NAMESPACE, k, *v).unwrap();
        }
        m
    }

    #[test]
    fn esp_at_c3_mini_1_row() {
        let mut m = kv(&[
            ("uart_port", Value::I8(1)),
            ("uart_baudrate", Value::I32(115_200)),
            ("uart_tx_pin", Value::I32(7)),
            ("uart_rx_pin", Value::I32(6)),
            ("uart_cts_pin", Value::I32(5)),
            ("uart_rts_pin", Value::I32(4)),
        ]);
        let f = FactoryUart::read(&mut m).unwrap();
        assert_eq!(f.baudrate, Some(115_200));
        assert_eq!(f.check(), Ok(C3_MINI_1));
    }

    #[test]
    fn flow_control_pins_optional() {
        let mut m = kv(&[
            ("uart_port", Value::U8(0)),
            ("uart_tx_pin", Value::I32(21)),
            ("uart_rx_pin", Value::I32(20)),
            ("uart_cts_pin", Value::I32(-1)),
        ]);
        let p = FactoryUart::read(&mut m).unwrap().check().unwrap();
        assert_eq!(p, AtUartPins { port: 0, tx: 21, rx: 20, cts: None, rts: None });
    }

    #[test]
    fn invalid_values() {
        let base =
            FactoryUart { port: Some(1), baudrate: None, tx: Some(7), rx: Some(6), cts: None, rts: None };
        assert_eq!(FactoryUart { port: None, ..base }.check(), Err(FactoryUartError::Missing("uart_port")));
        assert_eq!(FactoryUart { port: Some(2), ..base }.check(), Err(FactoryUartError::BadPort(2)));
        assert_eq!(FactoryUart { port: Some(-1), ..base }.check(), Err(FactoryUartError::BadPort(-1)));
        assert_eq!(
            FactoryUart { tx: Some(22), ..base }.check(),
            Err(FactoryUartError::BadPin("uart_tx_pin", 22))
        );
        assert_eq!(
            FactoryUart { rx: Some(-1), ..base }.check(),
            Err(FactoryUartError::BadPin("uart_rx_pin", -1))
        );
        assert_eq!(FactoryUart { rx: None, ..base }.check(), Err(FactoryUartError::Missing("uart_rx_pin")));
        assert_eq!(FactoryUart { rts: Some(7), ..base }.check(), Err(FactoryUartError::SharedPin(7)));
        assert_eq!(
            FactoryUart { cts: Some(i64::MAX), ..base }.check(),
            Err(FactoryUartError::BadPin("uart_cts_pin", i64::MAX))
        );
        assert_eq!(FactoryUart::read(&mut MemKv::new()).unwrap(), FactoryUart::default());
    }

    #[test]
    fn at_port_rules() {
        assert_eq!(C3_MINI_1.for_at_port(), Ok(C3_MINI_1));
        let console = AtUartPins { port: 0, tx: 21, rx: 20, cts: None, rts: None };
        assert_eq!(console.for_at_port(), Err(FactoryUartError::ConsolePort));
        let flash_pin = AtUartPins { tx: 12, ..C3_MINI_1 };
        assert_eq!(flash_pin.for_at_port(), Err(FactoryUartError::ReservedPin("uart_tx_pin", 12)));
        let usb = AtUartPins { port: 1, tx: 18, rx: 19, cts: None, rts: Some(0) };
        assert_eq!(usb.for_at_port(), Ok(usb));
        let log_pin = AtUartPins { rts: Some(21), ..C3_MINI_1 };
        assert_eq!(log_pin.for_at_port(), Err(FactoryUartError::ReservedPin("uart_rts_pin", 21)));
        assert!((0..=10).chain([18, 19]).all(usable_for_at_port));
        assert!(![11, 12, 13, 14, 15, 16, 17, 20, 21, 22].into_iter().any(usable_for_at_port));
    }
}
