//! `AT+UART_CUR` / `AT+UART_DEF` line settings as the ESP32-C3's UART takes them.
//!
//! [`uart_settings`] validates an [`at_hal::uart::UartConfig`] the way ESP-AT does (baud rate
//! 80..=5 000 000, data bits 5..=8; parity, stop bits and flow control are closed enums already)
//! and returns a plain [`UartSettings`]: the values the firmware hands esp-hal one-to-one
//! (`DataBits::_5`.., `Parity`, `StopBits::_1p5`, `RtsConfig::Enabled(threshold)`,
//! `CtsConfig`), plus the baud-rate divider ([`BaudDivider`]) esp-hal 1.2.2 programs for it,
//! computed the same way, so the actual rate and its error are known before the hardware is
//! touched.
//!
//! The C3 UART clock: esp-hal's default function clock is APB, 80 MHz ([`APB_CLOCK_HZ`]). The
//! baud-rate generator divides it by `sclk_div` (1..=256, `UART_SCLK_DIV_NUM + 1`) and then by
//! a 12.4 fixed-point divider (`UART_CLKDIV` 1..=4095 and `UART_CLKDIV_FRAG` 0..=15):
//! `baud = clk * 16 / (sclk_div * (16 * int + frag))`.

use at_hal::uart::{FlowControl, Parity, StopBits, UartConfig, UartConfigError};

/// The UART function clock esp-hal selects by default on the ESP32-C3 (APB).
pub const APB_CLOCK_HZ: u32 = 80_000_000;

/// Lowest baud rate ESP-AT accepts for `AT+UART_CUR`/`AT+UART_DEF`.
pub const MIN_BAUD: u32 = 80;
/// Highest baud rate ESP-AT accepts (and what the C3's divider reaches from 80 MHz: 80 MHz / 16).
pub const MAX_BAUD: u32 = 5_000_000;

/// RX FIFO level (of the C3's 128 bytes) at which RTS is deasserted when RTS flow control is
/// on. ESP-IDF wants a threshold below the FIFO size; 100 leaves the host 28 byte-times to stop.
pub const RTS_THRESHOLD: u8 = 100;

/// Largest integral part of the C3's baud-rate divider (`UART_CLKDIV`, 12 bits).
const MAX_DIV_INT: u32 = 0xFFF;
/// Largest pre-divider of the function clock (`UART_SCLK_DIV_NUM` + 1, 8 bits).
const MAX_SCLK_DIV: u32 = 256;

/// Data bits per character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataBits {
    /// 5 bits.
    Five,
    /// 6 bits.
    Six,
    /// 7 bits.
    Seven,
    /// 8 bits.
    Eight,
}

/// Parity (the UART's `PARITY_EN` / `PARITY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UartParity {
    /// No parity bit.
    None,
    /// Odd parity.
    Odd,
    /// Even parity.
    Even,
}

/// Stop bits (`UART_STOP_BIT_NUM`: 1 = 1, 2 = 1.5, 3 = 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UartStopBits {
    /// One.
    One,
    /// One and a half.
    OneAndHalf,
    /// Two.
    Two,
}

/// The baud-rate generator's settings for one rate, as esp-hal 1.2.2 computes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaudDivider {
    /// Function-clock pre-divider, 1..=256 (`UART_SCLK_DIV_NUM` = this − 1).
    pub sclk_div: u16,
    /// Integral part of the divider, 1..=4095 (`UART_CLKDIV`).
    pub integral: u16,
    /// Fractional part in sixteenths, 0..=15 (`UART_CLKDIV_FRAG`).
    pub fractional: u8,
}

impl BaudDivider {
    /// The divider for `baud` from a `clock_hz` function clock, computed as esp-hal does
    /// (`sclk_div = ⌈⌈clk / 4095⌉ / baud⌉`, then the 12.4 divider rounded down). `None` if the
    /// rate is 0 or out of the divider's reach.
    pub fn for_baud(clock_hz: u32, baud: u32) -> Option<BaudDivider> {
        if baud == 0 {
            return None;
        }
        let sclk_div = clock_hz.div_ceil(MAX_DIV_INT).div_ceil(baud);
        if !(1..=MAX_SCLK_DIV).contains(&sclk_div) {
            return None;
        }
        let divider = (u64::from(clock_hz) << 4) / (u64::from(baud) * u64::from(sclk_div));
        let integral = divider >> 4;
        if !(1..=u64::from(MAX_DIV_INT)).contains(&integral) {
            return None;
        }
        Some(BaudDivider {
            sclk_div: u16::try_from(sclk_div).ok()?,
            integral: u16::try_from(integral).ok()?,
            fractional: (divider & 0xF) as u8,
        })
    }

    /// The rate this divider produces from a `clock_hz` function clock.
    pub fn actual_baud(&self, clock_hz: u32) -> u32 {
        let den = u64::from(self.sclk_div) * (16 * u64::from(self.integral) + u64::from(self.fractional));
        if den == 0 {
            return 0;
        }
        u32::try_from((u64::from(clock_hz) * 16) / den).unwrap_or(u32::MAX)
    }
}

/// A validated AT line setting in the C3 UART's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UartSettings {
    /// Nominal baud rate (what esp-hal's `Config::with_baudrate` gets).
    pub baudrate: u32,
    /// The divider esp-hal will program for it from [`APB_CLOCK_HZ`].
    pub divider: BaudDivider,
    /// Data bits.
    pub data_bits: DataBits,
    /// Parity.
    pub parity: UartParity,
    /// Stop bits.
    pub stop_bits: UartStopBits,
    /// RTS flow control: `Some(threshold)` = deassert RTS when the RX FIFO holds this many
    /// bytes (ESP-AT flow control 1 or 3: we hold the host back).
    pub rts_threshold: Option<u8>,
    /// CTS flow control (ESP-AT flow control 2 or 3: the host holds us back).
    pub cts: bool,
}

impl UartSettings {
    /// The rate the hardware actually produces.
    pub fn actual_baud(&self) -> u32 {
        self.divider.actual_baud(APB_CLOCK_HZ)
    }
}

/// Validate an AT line setting and translate it to the C3 UART's values.
///
/// [`UartConfigError::Unsupported`] for baud rates outside [`MIN_BAUD`]..=[`MAX_BAUD`] (ESP-AT's
/// range) and data bits outside 5..=8 — what ESP-AT answers `ERROR` to.
pub fn uart_settings(c: &UartConfig) -> Result<UartSettings, UartConfigError> {
    if !(MIN_BAUD..=MAX_BAUD).contains(&c.baudrate) {
        return Err(UartConfigError::Unsupported);
    }
    let divider = BaudDivider::for_baud(APB_CLOCK_HZ, c.baudrate).ok_or(UartConfigError::Unsupported)?;
    let data_bits = match c.data_bits {
        5 => DataBits::Five,
        6 => DataBits::Six,
        7 => DataBits::Seven,
        8 => DataBits::Eight,
        _ => return Err(UartConfigError::Unsupported),
    };
    let parity = match c.parity {
        Parity::None => UartParity::None,
        Parity::Odd => UartParity::Odd,
        Parity::Even => UartParity::Even,
    };
    let stop_bits = match c.stop_bits {
        StopBits::One => UartStopBits::One,
        StopBits::OneAndHalf => UartStopBits::OneAndHalf,
        StopBits::Two => UartStopBits::Two,
    };
    // ESP-AT numbering: 1 = RTS, 2 = CTS, 3 = both.
    let (rts, cts) = match c.flow_control {
        FlowControl::None => (false, false),
        FlowControl::Rts => (true, false),
        FlowControl::Cts => (false, true),
        FlowControl::RtsCts => (true, true),
    };
    Ok(UartSettings {
        baudrate: c.baudrate,
        divider,
        data_bits,
        parity,
        stop_bits,
        rts_threshold: rts.then_some(RTS_THRESHOLD),
        cts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(baudrate: u32, data_bits: u8) -> UartConfig {
        UartConfig { baudrate, data_bits, ..UartConfig::default() }
    }

    #[test]
    fn default_is_115200_8n1_without_flow_control() {
        let s = uart_settings(&UartConfig::default()).unwrap();
        assert_eq!(s.baudrate, 115_200);
        assert_eq!(
            (s.data_bits, s.parity, s.stop_bits),
            (DataBits::Eight, UartParity::None, UartStopBits::One)
        );
        assert_eq!((s.rts_threshold, s.cts), (None, false));
        // 80 MHz * 16 / 115200 = 11111.1 → 694 + 7/16: 115 201 baud, 0.001 % off.
        assert_eq!(s.divider, BaudDivider { sclk_div: 1, integral: 694, fractional: 7 });
        assert_eq!(s.actual_baud(), 115_201);
    }

    #[test]
    fn esp_at_range_and_data_bits() {
        assert!(uart_settings(&cfg(79, 8)).is_err());
        assert!(uart_settings(&cfg(5_000_001, 8)).is_err());
        assert!(uart_settings(&cfg(0, 8)).is_err());
        assert!(uart_settings(&cfg(u32::MAX, 8)).is_err());
        for bits in [0, 4, 9, 255] {
            assert_eq!(uart_settings(&cfg(115_200, bits)), Err(UartConfigError::Unsupported));
        }
        for (bits, want) in
            [(5, DataBits::Five), (6, DataBits::Six), (7, DataBits::Seven), (8, DataBits::Eight)]
        {
            assert_eq!(uart_settings(&cfg(9600, bits)).unwrap().data_bits, want);
        }
    }

    #[test]
    fn range_ends_are_reachable() {
        let lo = uart_settings(&cfg(MIN_BAUD, 8)).unwrap();
        assert_eq!(lo.divider.sclk_div, 245);
        assert!(lo.divider.integral <= 4095);
        let hi = uart_settings(&cfg(MAX_BAUD, 8)).unwrap();
        assert_eq!(hi.divider, BaudDivider { sclk_div: 1, integral: 16, fractional: 0 });
        assert_eq!(hi.actual_baud(), MAX_BAUD);
    }

    /// Every rate ESP-AT accepts gets a divider within the register limits and within 1 % of
    /// the request (a UART tolerates about 2-3 %).
    #[test]
    fn every_accepted_rate_is_close() {
        let mut b = MIN_BAUD;
        while b <= MAX_BAUD {
            let s = uart_settings(&cfg(b, 8)).unwrap();
            let d = s.divider;
            assert!((1..=256).contains(&d.sclk_div) && (1..=4095).contains(&d.integral) && d.fractional < 16);
            let err = s.actual_baud().abs_diff(b) as u64 * 1000 / b as u64;
            assert!(err < 10, "{b}: {} ({err}‰)", s.actual_baud());
            b = b + b / 97 + 1;
        }
    }

    #[test]
    fn parity_stop_bits_and_flow_control() {
        let c = UartConfig {
            baudrate: 921_600,
            data_bits: 7,
            stop_bits: StopBits::OneAndHalf,
            parity: Parity::Even,
            flow_control: FlowControl::RtsCts,
        };
        let s = uart_settings(&c).unwrap();
        assert_eq!((s.parity, s.stop_bits), (UartParity::Even, UartStopBits::OneAndHalf));
        assert_eq!((s.rts_threshold, s.cts), (Some(RTS_THRESHOLD), true));
        let only = |flow_control| uart_settings(&UartConfig { flow_control, ..c }).unwrap();
        assert_eq!((only(FlowControl::Rts).rts_threshold, only(FlowControl::Rts).cts), (Some(100), false));
        assert_eq!((only(FlowControl::Cts).rts_threshold, only(FlowControl::Cts).cts), (None, true));
        assert_eq!(uart_settings(&UartConfig { parity: Parity::Odd, ..c }).unwrap().parity, UartParity::Odd);
        assert_eq!(
            uart_settings(&UartConfig { stop_bits: StopBits::Two, ..c }).unwrap().stop_bits,
            UartStopBits::Two
        );
    }

    #[test]
    fn divider_edge_cases() {
        assert_eq!(BaudDivider::for_baud(APB_CLOCK_HZ, 0), None);
        // Faster than the clock itself cannot be divided.
        assert_eq!(BaudDivider::for_baud(APB_CLOCK_HZ, 90_000_000), None);
        // Slower than clk / (256 * 4095) cannot either.
        assert_eq!(BaudDivider::for_baud(APB_CLOCK_HZ, 76), None);
        assert_eq!(BaudDivider { sclk_div: 0, integral: 0, fractional: 0 }.actual_baud(APB_CLOCK_HZ), 0);
    }
}
