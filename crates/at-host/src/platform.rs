//! [`HostPlatform`]: the simulated station, a settings store, and host system/UART services.

use at_hal::kv::Kv;
use at_hal::system::Entropy;
use at_hal::{Parts, Platform};

use crate::mfg::HostMfg;
use at_hal::system::{HeapStats, System};
use at_hal::uart::{UartConfig, UartConfigError, UartControl};
use at_mock::{SimAp, SimWifi, Timing};

use crate::net::{StdNet, StdNetConfig};

/// Restart requests and (simulated) heap figures.
#[derive(Debug, Default)]
pub struct HostSystem {
    /// Restarts requested so far.
    pub restarts: usize,
}

impl System for HostSystem {
    fn restart(&mut self) {
        self.restarts += 1;
        log::info!("restart #{} (the simulator resets the core in place)", self.restarts);
    }

    fn heap(&self) -> HeapStats {
        // Figures of a freshly booted ESP32-C3 ESP-AT build; the PC has no such limit.
        HeapStats { free: 166_912, min_free: 152_300, largest_free_block: 118_784, total: 262_144 }
    }
}

/// The AT port's line settings: recorded and logged (a TCP or PTY port has no baud rate).
#[derive(Debug, Default)]
pub struct HostUart {
    /// The setting in effect.
    pub current: UartConfig,
}

impl UartControl for HostUart {
    fn apply(&mut self, config: &UartConfig) -> Result<(), UartConfigError> {
        log::info!("UART now {config:?}");
        self.current = *config;
        Ok(())
    }
}

/// Random bytes from the operating system.
#[derive(Debug, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill_bytes(&mut self, buf: &mut [u8]) {
        if let Err(e) = getrandom::fill(buf) {
            // The OS RNG failing is not recoverable for TLS; make it loud, never silent.
            panic!("the operating system's random number generator failed: {e}");
        }
    }
}

/// The PC platform.
pub struct HostPlatform {
    /// Simulated station.
    pub wifi: SimWifi,
    /// The IP stack: real sockets (SNTP reports the PC's clock).
    pub net: StdNet,
    /// Settings (NVS image file with `--state`, or memory).
    pub settings: Box<dyn Kv + Send>,
    /// Manufacturing data (`mfg_nvs`).
    pub mfg: HostMfg,
    /// Restart / heap.
    pub system: HostSystem,
    /// UART settings.
    pub uart: HostUart,
    /// OS randomness.
    pub entropy: OsEntropy,
    /// TLS: rustls (ring) unless at-sim runs with `--tls mbedtls` ([`crate::sim::TlsBackend`]).
    pub tls: Box<dyn at_hal::tls::Tls + Send>,
}

impl HostPlatform {
    /// A platform seeing `aps` with a join latency of `join`, settings in `settings`, sockets
    /// per `net`.
    pub fn new(
        aps: Vec<SimAp>,
        join: std::time::Duration,
        settings: Box<dyn Kv + Send>,
        mfg: HostMfg,
        net: StdNetConfig,
    ) -> std::io::Result<Self> {
        let wifi = SimWifi::new(aps).with_timing(Timing { join, ..Timing::default() });
        Ok(HostPlatform {
            wifi,
            net: StdNet::new(net)?,
            settings,
            mfg,
            system: HostSystem::default(),
            uart: HostUart::default(),
            entropy: OsEntropy,
            tls: Box::new(at_tls_rustls::RustlsTls::default()),
        })
    }
}

impl Platform for HostPlatform {
    type Wifi = SimWifi;
    type Net = StdNet;
    type Settings = Box<dyn Kv + Send>;
    type Mfg = HostMfg;

    fn parts(&mut self) -> Parts<'_, Self> {
        Parts {
            wifi: &mut self.wifi,
            net: &mut self.net,
            settings: &mut self.settings,
            mfg: &mut self.mfg,
            system: &mut self.system,
            uart: &mut self.uart,
            entropy: &mut self.entropy,
            tls: &mut *self.tls,
        }
    }
}
