//! What the core needs from a backend, bundled: the [`Platform`] trait.

use crate::kv::Kv;
use crate::storage::MfgStore;
use crate::system::System;
use crate::uart::UartControl;
use crate::wifi::WifiStation;

/// The hardware (or simulation) the firmware runs on.
///
/// The AT port's byte stream is *not* here: the firmware core is sans-IO on that side
/// (`Firmware::receive` / `Firmware::transmit` in `at-core`), and `at_core::runner::pump`
/// connects it to an `embedded-io` UART.
pub trait Platform: 'static {
    /// The Wi-Fi station.
    type Wifi: WifiStation;
    /// Where AT settings persist (ESP-AT: the `nvs` partition).
    type Settings: Kv;
    /// Manufacturing data: `mfg_nvs` (certificates, keys, `factory_param`).
    type Mfg: MfgStore;

    /// The Wi-Fi station.
    fn wifi(&mut self) -> &mut Self::Wifi;
    /// The settings store.
    fn settings(&mut self) -> &mut Self::Settings;
    /// The manufacturing store.
    fn mfg(&mut self) -> &mut Self::Mfg;
    /// Restart and heap figures.
    fn system(&mut self) -> &mut dyn System;
    /// The AT port's line settings.
    fn uart(&mut self) -> &mut dyn UartControl;
}
