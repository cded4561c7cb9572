//! [`MockPlatform`]: the simulated station, a settings store, and recording system and UART
//! doubles, bundled as an [`at_hal::Platform`].

use at_hal::kv::{Kv, MemKv};
use at_hal::storage::MfgStore;
use at_hal::system::{HeapStats, System};
use at_hal::uart::{UartConfig, UartConfigError, UartControl};
use at_hal::{Parts, Platform};

use crate::net::SimNet;
use crate::rng::SeededEntropy;
use crate::wifi::{SimAp, SimWifi};

/// Records restarts and reports fixed heap figures.
#[derive(Debug, Clone, Default)]
pub struct MockSystem {
    /// How many times `restart` was called.
    pub restarts: usize,
    /// What `heap` returns.
    pub heap: HeapStats,
}

impl System for MockSystem {
    fn restart(&mut self) {
        self.restarts += 1;
    }

    fn heap(&self) -> HeapStats {
        self.heap
    }
}

/// Records every applied UART configuration.
#[derive(Debug, Clone, Default)]
pub struct MockUartControl {
    /// Configurations applied, in order.
    pub applied: Vec<UartConfig>,
}

impl UartControl for MockUartControl {
    fn apply(&mut self, config: &UartConfig) -> Result<(), UartConfigError> {
        self.applied.push(*config);
        Ok(())
    }
}

/// A complete simulated platform.
#[derive(Debug)]
pub struct MockPlatform<K: Kv + 'static = MemKv, M: MfgStore + 'static = MemKv> {
    /// The station.
    pub wifi: SimWifi,
    /// The IP stack.
    pub net: SimNet,
    /// The settings store.
    pub settings: K,
    /// The manufacturing store (`mfg_nvs`).
    pub mfg: M,
    /// System double.
    pub system: MockSystem,
    /// UART control double.
    pub uart: MockUartControl,
    /// Seeded random bytes.
    pub entropy: SeededEntropy,
    /// TLS: none by default; tests install one (e.g. `at-tls-rustls`).
    pub tls: Box<dyn at_hal::tls::Tls + Send>,
}

impl MockPlatform<MemKv> {
    /// A platform that sees `aps`, with empty in-memory settings and an ESP32-C3-like heap.
    pub fn new(aps: Vec<SimAp>) -> Self {
        MockPlatform::with_settings(aps, MemKv::new())
    }
}

impl<K: Kv + 'static> MockPlatform<K> {
    /// A platform whose settings live in `settings` (and an empty in-memory `mfg_nvs`).
    pub fn with_settings(aps: Vec<SimAp>, settings: K) -> Self {
        MockPlatform::with_stores(aps, settings, MemKv::new())
    }
}

impl<K: Kv + 'static, M: MfgStore + 'static> MockPlatform<K, M> {
    /// A platform with the given settings and manufacturing stores.
    pub fn with_stores(aps: Vec<SimAp>, settings: K, mfg: M) -> Self {
        MockPlatform {
            wifi: SimWifi::new(aps),
            net: SimNet::new(0),
            settings,
            mfg,
            system: MockSystem {
                restarts: 0,
                heap: HeapStats {
                    free: 166_912,
                    min_free: 152_300,
                    largest_free_block: 118_784,
                    total: 262_144,
                },
            },
            uart: MockUartControl::default(),
            entropy: SeededEntropy::new(0),
            tls: Box::new(at_hal::tls::NoTls),
        }
    }
}

impl<K: Kv + 'static, M: MfgStore + 'static> Platform for MockPlatform<K, M> {
    type Wifi = SimWifi;
    type Net = SimNet;
    type Settings = K;
    type Mfg = M;

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
