//! What the core needs from a backend, bundled: the [`Platform`] trait.

use crate::kv::Kv;
use crate::net::Network;
use crate::storage::MfgStore;
use crate::system::{Entropy, System};
use crate::uart::UartControl;
use crate::wifi::WifiStation;

/// Every service of a [`Platform`], borrowed at once.
///
/// The link manager needs the network and the certificate store in the same call (an SSL
/// server loads its credentials while it accepts); [`Platform::parts`] hands out disjoint
/// borrows of everything so a caller can hold several.
pub struct Parts<'a, P: Platform + ?Sized> {
    /// The Wi-Fi station.
    pub wifi: &'a mut P::Wifi,
    /// The IP stack.
    pub net: &'a mut P::Net,
    /// The settings store.
    pub settings: &'a mut P::Settings,
    /// The manufacturing store.
    pub mfg: &'a mut P::Mfg,
    /// Restart and heap figures.
    pub system: &'a mut dyn System,
    /// The AT port's line settings.
    pub uart: &'a mut dyn UartControl,
    /// Random bytes.
    pub entropy: &'a mut dyn Entropy,
    /// TLS for SSL links ([`crate::tls::NoTls`] on a platform without it).
    #[cfg(feature = "alloc")]
    pub tls: &'a mut dyn crate::tls::Tls,
}

/// The hardware (or simulation) the firmware runs on.
///
/// The AT port's byte stream is *not* here: the firmware core is sans-IO on that side
/// (`Firmware::receive` / `Firmware::transmit` in `at-core`), and `at_core::runner::pump`
/// connects it to an `embedded-io` UART.
///
/// A backend implements [`Platform::parts`]; the single-service accessors are derived from it.
pub trait Platform: 'static {
    /// The Wi-Fi station.
    type Wifi: WifiStation;
    /// The IP stack (addressing, DNS, SNTP, sockets).
    type Net: Network;
    /// Where AT settings persist (ESP-AT: the `nvs` partition).
    type Settings: Kv;
    /// Manufacturing data: `mfg_nvs` (certificates, keys, `factory_param`).
    type Mfg: MfgStore;

    /// Every service, borrowed at once.
    fn parts(&mut self) -> Parts<'_, Self>;

    /// The Wi-Fi station.
    fn wifi(&mut self) -> &mut Self::Wifi {
        self.parts().wifi
    }
    /// The IP stack.
    fn net(&mut self) -> &mut Self::Net {
        self.parts().net
    }
    /// The settings store.
    fn settings(&mut self) -> &mut Self::Settings {
        self.parts().settings
    }
    /// The manufacturing store.
    fn mfg(&mut self) -> &mut Self::Mfg {
        self.parts().mfg
    }
    /// Restart and heap figures.
    fn system(&mut self) -> &mut dyn System {
        self.parts().system
    }
    /// The AT port's line settings.
    fn uart(&mut self) -> &mut dyn UartControl {
        self.parts().uart
    }
    /// Random bytes.
    fn entropy(&mut self) -> &mut dyn Entropy {
        self.parts().entropy
    }
    /// TLS.
    #[cfg(feature = "alloc")]
    fn tls(&mut self) -> &mut dyn crate::tls::Tls {
        self.parts().tls
    }
}
