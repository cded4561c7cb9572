//! [`HostPlatform`]: the simulated station, a settings store, and host system/UART services.

use at_hal::Platform;
use at_hal::kv::Kv;

use crate::mfg::HostMfg;
use at_hal::system::{HeapStats, System};
use at_hal::time::UnixTime;
use at_hal::uart::{UartConfig, UartConfigError, UartControl};
use at_mock::{SimAp, SimWifi, Timing};

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

/// The PC platform.
pub struct HostPlatform {
    /// Simulated station with real wall-clock SNTP.
    pub wifi: SimWifi,
    /// Settings (NVS image file with `--state`, or memory).
    pub settings: Box<dyn Kv + Send>,
    /// Manufacturing data (`mfg_nvs`).
    pub mfg: HostMfg,
    /// Restart / heap.
    pub system: HostSystem,
    /// UART settings.
    pub uart: HostUart,
}

impl HostPlatform {
    /// A platform seeing `aps` with a join latency of `join`, settings in `settings`.
    pub fn new(
        aps: Vec<SimAp>,
        join: std::time::Duration,
        settings: Box<dyn Kv + Send>,
        mfg: HostMfg,
    ) -> Self {
        let wifi =
            SimWifi::new(aps).with_timing(Timing { join, ..Timing::default() }).with_wall_clock(|_| {
                UnixTime(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs()),
                )
            });
        HostPlatform { wifi, settings, mfg, system: HostSystem::default(), uart: HostUart::default() }
    }
}

impl Platform for HostPlatform {
    type Wifi = SimWifi;
    type Settings = Box<dyn Kv + Send>;
    type Mfg = HostMfg;

    fn mfg(&mut self) -> &mut HostMfg {
        &mut self.mfg
    }

    fn wifi(&mut self) -> &mut SimWifi {
        &mut self.wifi
    }

    fn settings(&mut self) -> &mut Box<dyn Kv + Send> {
        &mut self.settings
    }

    fn system(&mut self) -> &mut dyn System {
        &mut self.system
    }

    fn uart(&mut self) -> &mut dyn UartControl {
        &mut self.uart
    }
}
