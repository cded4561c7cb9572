//! [`Core`]: the state every built-in command works on, and the Wi-Fi event handling that
//! turns station events into ESP-AT's unsolicited messages.

use alloc::string::String;

use at_hal::time::{Instant, UnixTime};
use at_hal::uart::UartConfig;
use at_hal::wifi::{IpConfig, JoinError, JoinParams, WifiEvent, WifiStation};
use at_parser::{AtError, Output};
use core::time::Duration;

use crate::settings::{Key, Settings};
use at_hal::Platform;

/// Version strings printed by AT+GMR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareInfo {
    /// After `AT version:` (ESP-AT: `%d.%d.%d.%d%s(%s%s - %s - %s %s)`).
    pub at_version: String,
    /// After `SDK version:`.
    pub sdk_version: String,
    /// The build identifier in `compile time(<id>):<time>`.
    pub build_id: String,
    /// The build time in `compile time(<id>):<time>`.
    pub compile_time: String,
    /// `Bin version:<bin_version>(<module_name>)`; at most 32 bytes.
    pub bin_version: String,
    /// Module name (ESP-AT reads it from `factory_param` in `mfg_nvs`).
    pub module_name: String,
}

impl Default for FirmwareInfo {
    fn default() -> Self {
        FirmwareInfo {
            at_version: String::from(concat!(
                env!("CARGO_PKG_VERSION"),
                ".0(esp-at-rs - ESP32C3 - unknown build date)"
            )),
            sdk_version: String::from("esp-at-rs"),
            build_id: String::from("0000000"),
            compile_time: String::from("unknown"),
            bin_version: String::from(concat!("v", env!("CARGO_PKG_VERSION"))),
            module_name: String::from("MINI-1"),
        }
    }
}

/// Start-up options of the firmware.
#[derive(Debug, Clone)]
pub struct Options {
    /// AT+GMR strings.
    pub info: FirmwareInfo,
    /// Command line terminator (ESP-AT: CR LF).
    pub terminator: at_parser::Terminator,
    /// AT+SYSSTORE at boot (ESP-AT: 1; `factory_param/sys_store` in `mfg_nvs` overrides it).
    pub sysstore_default: bool,
    /// Let AT+SYSMFG read private keys (`*_key` namespaces) back. Off by default: a key
    /// provisioned into a device should not be extractable over its UART.
    pub allow_key_readback: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            info: FirmwareInfo::default(),
            terminator: at_parser::Terminator::CrLf,
            sysstore_default: true,
            allow_key_readback: false,
        }
    }
}

/// Station connection state, numbered as AT+CWSTATE reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaStatus {
    /// 0: no connection started yet.
    NotStarted = 0,
    /// 1: associated, no IPv4 address yet.
    Connected = 1,
    /// 2: associated with an IPv4 address.
    GotIp = 2,
    /// 3: connecting or reconnecting.
    Connecting = 3,
    /// 4: disconnected.
    Disconnected = 4,
}

/// Work to do once the transmit queue has drained (ESP-AT answers OK *before* acting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deferred {
    ApplyUart(UartConfig),
    Restart,
}

#[derive(Debug)]
pub(crate) struct Station {
    pub status: StaStatus,
    /// A join is running and fails with a timeout at this instant.
    pub join_deadline: Option<Instant>,
    /// Outcome of the last join, for a waiting AT+CWJAP.
    pub join_result: Option<Result<(), JoinError>>,
    /// The last disconnect was asked for (AT+CWQAP): do not reconnect.
    pub user_disconnect: bool,
    pub reconnect_at: Option<Instant>,
    pub reconnect_attempts: u16,
    pub ip: Option<IpConfig>,
    pub scan_done: bool,
    /// A scan (AT+CWLAP) is running since this instant.
    pub scan_started: Option<Instant>,
}

impl Station {
    fn new() -> Self {
        Station {
            status: StaStatus::NotStarted,
            join_deadline: None,
            join_result: None,
            user_disconnect: false,
            reconnect_at: None,
            reconnect_attempts: 0,
            ip: None,
            scan_done: false,
            scan_started: None,
        }
    }
}

/// SNTP state: the wall clock at an instant, plus the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Sntp {
    pub enabled: bool,
    /// Minutes east of UTC.
    pub tz_minutes: i32,
    /// The timezone as AT+CIPSNTPCFG? prints it.
    pub tz_display: i32,
    pub servers: [String; 3],
    pub interval_s: u32,
    /// Unix time at `synced_at`; the boot instant counts as the epoch until a sync.
    pub base: UnixTime,
    pub synced_at: Instant,
}

/// AT+CWLAPOPT.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LapOpt {
    pub sort: bool,
    pub mask: u16,
    pub rssi_min: i8,
    pub auth_mask: u16,
}

/// The state of the firmware core, the context of every built-in command.
pub struct Core<P: Platform> {
    pub(crate) platform: P,
    pub(crate) info: FirmwareInfo,
    pub(crate) settings: Settings,
    pub(crate) echo: bool,
    pub(crate) syslog: bool,
    pub(crate) sysstore: bool,
    pub(crate) uart_cur: UartConfig,
    pub(crate) sta: Station,
    pub(crate) sntp: Sntp,
    pub(crate) lapopt: LapOpt,
    pub(crate) hostname: String,
    pub(crate) deferred: Option<Deferred>,
    pub(crate) last_error: Option<AtError>,
    /// The custom commands, for AT+CMD?.
    pub(crate) custom_cmds: alloc::vec::Vec<crate::cmd::CmdInfo>,
    pub(crate) allow_key_readback: bool,
    /// AT+SYSMFG=2 string/binary write in progress.
    pub(crate) mfg_write: Option<crate::cmd::mfg::PendingWrite>,
    /// AT+SYSFLASH=1 write in progress.
    pub(crate) flash_write: Option<crate::cmd::mfg::FlashWrite>,
    /// Why `mfg_nvs` was unreadable at boot, if it was.
    pub(crate) mfg_unreadable: Option<at_hal::kv::Unreadable>,
}

impl<P: Platform> Core<P> {
    pub(crate) fn boot(mut platform: P, options: &Options, now: Instant) -> Self {
        let factory = crate::cmd::mfg::factory_params(platform.mfg());
        let (info, defaults, sysstore) = boot_defaults(options, &factory);
        let settings = Settings::load_over(platform.settings(), defaults);
        let uart_cur = settings.uart_def;
        let mut core = Core {
            platform,
            info,
            settings,
            echo: true,
            syslog: false,
            sysstore,
            uart_cur,
            sta: Station::new(),
            sntp: Sntp {
                enabled: false,
                tz_minutes: 0,
                tz_display: 0,
                servers: [
                    String::from("cn.ntp.org.cn"),
                    String::from("ntp.sjtu.edu.cn"),
                    String::from("us.pool.ntp.org"),
                ],
                interval_s: 3600,
                base: UnixTime(0),
                synced_at: now,
            },
            lapopt: LapOpt { sort: false, mask: 0x7ff, rssi_min: -100, auth_mask: 0xffff },
            hostname: String::from("espressif"),
            deferred: None,
            last_error: None,
            custom_cmds: alloc::vec::Vec::new(),
            allow_key_readback: options.allow_key_readback,
            mfg_write: None,
            flash_write: None,
            mfg_unreadable: factory.unreadable,
        };
        core.apply_boot_settings(now);
        core
    }

    /// Return to the state of a fresh boot (after AT+RST / AT+RESTORE), keeping the platform.
    pub(crate) fn reset(&mut self, options: &Options, now: Instant) {
        let factory = crate::cmd::mfg::factory_params(self.platform.mfg());
        let (info, defaults, sysstore) = boot_defaults(options, &factory);
        self.settings = Settings::load_over(self.platform.settings(), defaults);
        self.info = info;
        self.echo = true;
        self.syslog = false;
        self.sysstore = sysstore;
        self.mfg_write = None;
        self.flash_write = None;
        self.mfg_unreadable = factory.unreadable;
        self.uart_cur = self.settings.uart_def;
        self.sta = Station::new();
        let servers = core::mem::take(&mut self.sntp.servers);
        self.sntp.enabled = false;
        self.sntp.tz_minutes = 0;
        self.sntp.tz_display = 0;
        self.sntp.servers = servers;
        self.sntp.interval_s = 3600;
        // The RTC keeps the wall clock across a software reset (ESP32-C3), so `base` stays.
        self.lapopt = LapOpt { sort: false, mask: 0x7ff, rssi_min: -100, auth_mask: 0xffff };
        self.hostname = String::from("espressif");
        self.deferred = None;
        self.last_error = None;
        self.apply_boot_settings(now);
    }

    fn apply_boot_settings(&mut self, now: Instant) {
        let s = self.settings.clone();
        if let Err(e) = self.platform.uart().apply(&s.uart_def) {
            log::warn!("stored UART setting not applied: {e}");
        }
        let wifi = self.platform.wifi();
        if let Err(e) = wifi.set_mode(s.wifi_mode) {
            log::warn!("stored Wi-Fi mode not applied: {e}");
        }
        if let Some(mac) = s.sta_mac
            && let Err(e) = wifi.set_mac(mac)
        {
            log::warn!("stored station MAC not applied: {e}");
        }
        match s.static_ip {
            Some(ip) if s.dhcp & 1 == 0 => {
                if let Err(e) = wifi.set_static_ip(ip) {
                    log::warn!("stored static IP not applied: {e}");
                }
            }
            _ => wifi.set_dhcp(true),
        }
        if s.autoconn && s.wifi_mode.has_station() && s.station.is_some() {
            log::info!("auto-connecting to the stored AP");
            self.start_join(now);
        }
    }

    /// Persist one setting if AT+SYSSTORE=1 (or `always`).
    pub(crate) fn persist(&mut self, key: Key, always: bool) -> Result<(), AtError> {
        if !(self.sysstore || always) {
            return Ok(());
        }
        self.settings.save(self.platform.settings(), key).map_err(|e| {
            log::error!("saving setting {key:?} failed: {e}");
            AtError::exec(0x10, "saving the setting to flash failed")
        })
    }

    /// Start a join with the stored station configuration.
    pub(crate) fn start_join(&mut self, now: Instant) -> bool {
        let Some(st) = self.settings.station.clone() else { return false };
        let params = JoinParams {
            ssid: st.ssid.as_bytes(),
            password: st.password.as_bytes(),
            bssid: st.bssid,
            min_auth: auth_mode(st.min_auth),
            listen_interval: st.listen_interval,
            scan_mode: st.scan_mode,
            pmf: st.pmf,
        };
        match self.platform.wifi().start_join(&params, now) {
            Ok(()) => {
                self.sta.status = StaStatus::Connecting;
                self.sta.join_deadline = Some(now + Duration::from_secs(u64::from(st.jap_timeout_s.max(3))));
                self.sta.join_result = None;
                self.sta.user_disconnect = false;
                self.sta.reconnect_at = None;
                true
            }
            Err(e) => {
                log::warn!("join not started: {e}");
                self.sta.join_result = Some(Err(JoinError::Failed));
                false
            }
        }
    }

    /// Process station events (bounded) and timers; write unsolicited messages to `out`.
    pub(crate) fn poll_wifi(&mut self, now: Instant, out: &mut dyn Output) {
        for _ in 0..16 {
            let Some(ev) = self.platform.wifi().poll(now) else { break };
            self.on_wifi_event(ev, now, out);
        }
        if let Some(d) = self.sta.join_deadline
            && now >= d
        {
            log::warn!("join timed out");
            let _ = self.platform.wifi().disconnect();
            self.join_failed(JoinError::Timeout, now);
        }
        if let Some(t) = self.sta.reconnect_at
            && now >= t
        {
            self.sta.reconnect_at = None;
            self.sta.reconnect_attempts = self.sta.reconnect_attempts.saturating_add(1);
            log::info!("reconnecting (attempt {})", self.sta.reconnect_attempts);
            self.start_join(now);
        }
    }

    fn on_wifi_event(&mut self, ev: WifiEvent, now: Instant, out: &mut dyn Output) {
        log::debug!("wifi event {ev:?}");
        match ev {
            WifiEvent::Connected => {
                self.sta.status = StaStatus::Connected;
                out.write(b"WIFI CONNECTED\r\n");
            }
            WifiEvent::GotIp(ip) => {
                self.sta.status = StaStatus::GotIp;
                self.sta.ip = Some(ip);
                self.sta.join_deadline = None;
                self.sta.join_result = Some(Ok(()));
                self.sta.reconnect_attempts = 0;
                out.write(b"WIFI GOT IP\r\n");
            }
            WifiEvent::JoinFailed(e) => self.join_failed(e, now),
            WifiEvent::Disconnected => {
                let was_up = matches!(self.sta.status, StaStatus::Connected | StaStatus::GotIp);
                self.sta.ip = None;
                if was_up {
                    out.write(b"WIFI DISCONNECT\r\n");
                    self.sta.status = StaStatus::Disconnected;
                    if !self.sta.user_disconnect {
                        self.schedule_reconnect(now);
                    }
                }
            }
            WifiEvent::ScanDone => self.sta.scan_done = true,
            WifiEvent::TimeUpdated(t) => {
                self.sntp.base = t;
                self.sntp.synced_at = now;
                out.write(b"+TIME_UPDATED\r\n");
            }
        }
    }

    fn join_failed(&mut self, e: JoinError, now: Instant) {
        self.sta.join_deadline = None;
        self.sta.status = StaStatus::Disconnected;
        self.sta.join_result = Some(Err(e));
        if !self.sta.user_disconnect {
            self.schedule_reconnect(now);
        }
    }

    fn schedule_reconnect(&mut self, now: Instant) {
        let s = &self.settings;
        let exhausted = s.reconn_count != 0 && self.sta.reconnect_attempts >= s.reconn_count;
        if s.reconn_interval_s == 0 || exhausted || s.station.is_none() || !s.wifi_mode.has_station() {
            return;
        }
        self.sta.reconnect_at = Some(now + Duration::from_secs(u64::from(s.reconn_interval_s)));
    }

    /// The earliest timer of the core.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        let wifi = self.platform.wifi().next_deadline();
        [wifi, self.sta.join_deadline, self.sta.reconnect_at].into_iter().flatten().min()
    }

    /// The wall clock now (the epoch plus uptime until SNTP synced), in UTC.
    pub(crate) fn unix_now(&self, now: Instant) -> u64 {
        self.sntp.base.0.saturating_add(now.saturating_since(self.sntp.synced_at).as_secs())
    }
}

/// Version strings, setting defaults and AT+SYSSTORE as `factory_param` adjusts them.
fn boot_defaults(options: &Options, f: &crate::cmd::mfg::FactoryParams) -> (FirmwareInfo, Settings, bool) {
    let mut info = options.info.clone();
    if let Some(name) = &f.module_name {
        info.module_name = name.clone();
    }
    let mut defaults = Settings::default();
    if let Some(b) = f.uart_baudrate.filter(|b| (80..=5_000_000).contains(b)) {
        defaults.uart_def.baudrate = b;
    }
    (info, defaults, f.sys_store.unwrap_or(options.sysstore_default))
}

/// ESP-AT's authmode number → the HAL's enum (values past WPA3/WAPI clamp to the strongest
/// the HAL knows, which only makes the threshold stricter).
pub(crate) fn auth_mode(v: u8) -> at_hal::wifi::AuthMode {
    use at_hal::wifi::AuthMode::*;
    match v {
        0 => Open,
        1 => Wep,
        2 => WpaPsk,
        3 => Wpa2Psk,
        4 => WpaWpa2Psk,
        5 => Wpa2Enterprise,
        6 => Wpa3Psk,
        7 => Wpa2Wpa3Psk,
        8 => WapiPsk,
        _ => Owe,
    }
}
