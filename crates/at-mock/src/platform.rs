//! [`MockPlatform`]: the simulated station, a settings store, and recording system and UART
//! doubles, bundled as an [`at_hal::Platform`].

use at_hal::Platform;
use at_hal::kv::{Kv, MemKv};
use at_hal::storage::MfgStore;
use at_hal::system::{HeapStats, System};
use at_hal::uart::{UartConfig, UartConfigError, UartControl};

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
    /// The settings store.
    pub settings: K,
    /// The manufacturing store (`mfg_nvs`).
    pub mfg: M,
    /// System double.
    pub system: MockSystem,
    /// UART control double.
    pub uart: MockUartControl,
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
        }
    }
}

impl<K: Kv + 'static, M: MfgStore + 'static> Platform for MockPlatform<K, M> {
    type Wifi = SimWifi;
    type Settings = K;
    type Mfg = M;

    fn mfg(&mut self) -> &mut M {
        &mut self.mfg
    }

    fn wifi(&mut self) -> &mut SimWifi {
        &mut self.wifi
    }

    fn settings(&mut self) -> &mut K {
        &mut self.settings
    }

    fn system(&mut self) -> &mut dyn System {
        &mut self.system
    }

    fn uart(&mut self) -> &mut dyn UartControl {
        &mut self.uart
    }
}
