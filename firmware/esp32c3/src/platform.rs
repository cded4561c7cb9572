//! [`Esp32c3`]: the `at_hal::Platform` this firmware hands the core.

use alloc::boxed::Box;

use at_hal::kv::Kv;
use at_hal::{Parts, Platform};
use at_tls_mbedtls::MbedTls;

use crate::radio::{Net, Radio};
use crate::storage::Mfg;
use crate::system::{ChipSystem, HwEntropy};
use crate::uart::AtUartControl;

/// The ESP32-C3 platform of milestone 3.
///
/// Real: the AT port's line settings, restart, heap figures, entropy, the settings store and
/// `mfg_nvs` on flash, the Wi-Fi station ([`Radio`], esp-radio), the IP stack ([`Net`],
/// at-smoltcp over esp-radio's station interface) and TLS ([`MbedTls`]: MbedTLS 3.6.5 through
/// mbedtls-rs, with the chip's SHA, AES and RSA units).
pub struct Esp32c3 {
    /// Wi-Fi station (esp-radio).
    pub wifi: Radio,
    /// IP stack (smoltcp over the station interface).
    pub net: Net,
    /// AT settings (`nvs` partition).
    pub settings: Box<dyn Kv>,
    /// `mfg_nvs` and AT+SYSFLASH.
    pub mfg: Mfg,
    /// Restart and heap figures.
    pub system: ChipSystem,
    /// AT port line settings.
    pub uart: AtUartControl,
    /// Hardware RNG (ADC entropy source on).
    pub entropy: HwEntropy,
    /// TLS for SSL links (at-tls-mbedtls).
    pub tls: MbedTls,
}

impl Platform for Esp32c3 {
    type Wifi = Radio;
    type Net = Net;
    type Settings = Box<dyn Kv>;
    type Mfg = Mfg;

    fn parts(&mut self) -> Parts<'_, Self> {
        Parts {
            wifi: &mut self.wifi,
            net: &mut self.net,
            settings: &mut self.settings,
            mfg: &mut self.mfg,
            system: &mut self.system,
            uart: &mut self.uart,
            entropy: &mut self.entropy,
            tls: &mut self.tls,
        }
    }
}
