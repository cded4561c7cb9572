//! [`Core`]: the platform and the state every built-in command works on, organised by command
//! family, plus the handling of Wi-Fi and IP events.
//!
//! State is split by family (basic, Wi-Fi, SNTP, manufacturing data); each family is a
//! struct with a `Default` that is its power-on state. A restart rebuilds all of them
//! ([`State::boot`]): nothing is reset field by field, so a new field cannot be forgotten.
//! What survives a restart lives outside [`State`]: the platform, the options, the custom
//! command list and the RTC wall clock.

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use at_hal::Platform;
use at_hal::kv::Unreadable;
use at_hal::net::{IpConfig, NetEvent, Network};
use at_hal::time::{Instant, UnixTime};
use at_hal::uart::UartConfig;
use at_hal::wifi::{JoinError, JoinParams, WifiEvent, WifiStation};
use at_parser::{AtError, ExecFail};

use crate::cmd::mfg::{FlashWrite, MfgRead, PendingWrite};
use crate::settings::{Key, Settings};
use crate::urc::{Message, Urc};

/// Version strings printed by AT+GMR.
///
/// ESP-AT prints `AT version:<ver>(<commit> - <chip> - <date> <time>)`; host drivers pick
/// commands by that version, so [`FirmwareInfo::at_version`] is the ESP-AT release whose
/// command set and wire format this firmware matches, and this project's own name and
/// version go inside the parentheses and in `Bin version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareInfo {
    /// The ESP-AT version matched, `a.b.c.d` (see [`ESP_AT_COMPAT_VERSION`]).
    pub at_version: String,
    /// Inside the parentheses of `AT version:` before the chip: a commit id, or this
    /// project's name and version.
    pub build_id: String,
    /// Chip name in `AT version:` (`ESP32C3`).
    pub chip: String,
    /// After `SDK version:`.
    pub sdk_version: String,
    /// Build date as C's `__DATE__` (`Mmm dd yyyy`).
    pub compile_date: String,
    /// Build time as C's `__TIME__` (`hh:mm:ss`).
    pub compile_time: String,
    /// `Bin version:<bin_version>(<module_name>)`; at most 32 bytes.
    pub bin_version: String,
    /// Module name (ESP-AT reads it from `factory_param` in `mfg_nvs`).
    pub module_name: String,
}

/// The ESP-AT release whose command set and wire format this firmware matches.
pub const ESP_AT_COMPAT_VERSION: &str = "4.1.1.0";

impl Default for FirmwareInfo {
    fn default() -> Self {
        FirmwareInfo {
            at_version: String::from(ESP_AT_COMPAT_VERSION),
            build_id: String::from(concat!("esp-at-rs ", env!("CARGO_PKG_VERSION"))),
            chip: String::from("ESP32C3"),
            sdk_version: String::from(concat!("esp-at-rs-v", env!("CARGO_PKG_VERSION"))),
            compile_date: String::from(env!("AT_COMPILE_DATE")),
            compile_time: String::from(env!("AT_COMPILE_TIME")),
            bin_version: String::from(concat!("esp-at-rs-v", env!("CARGO_PKG_VERSION"))),
            module_name: String::from("MINI-1"),
        }
    }
}

/// Capacities of the core's buffers, in bytes. Each is allocated on use and bounded; the
/// README's RAM budget table sums them for the ESP32-C3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacities {
    /// The AT port's transmit queue (see [`crate::tx`]). Default 8 KiB.
    pub tx: usize,
    /// Largest AT+SYSMFG string/binary value written in one command: it is held in RAM until
    /// its last byte arrives, because NVS stores a value in one operation. Default 8 KiB
    /// (ESP-AT's certificate and key entries are 1–4 KiB).
    pub mfg_write: usize,
    /// Largest AT+SYSFLASH read in one command (streamed out through a 256-byte buffer, so
    /// this only bounds the command, not RAM). Default 16 KiB.
    pub flash_read: usize,
    /// Each open link's receive and send buffers (allocated when it opens). Default 2920
    /// bytes each ([`at_links::Buffers`]); a PC can afford more for passthrough throughput.
    pub links: at_links::Buffers,
}

impl Default for Capacities {
    fn default() -> Self {
        Capacities {
            tx: crate::tx::TX_CAPACITY,
            mfg_write: 8 * 1024,
            flash_read: 16 * 1024,
            links: at_links::Buffers::default(),
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
    /// Buffer sizes.
    pub capacities: Capacities,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            info: FirmwareInfo::default(),
            terminator: at_parser::Terminator::CrLf,
            sysstore_default: true,
            allow_key_readback: false,
            capacities: Capacities::default(),
        }
    }
}

/// Station connection state, numbered as AT+CWSTATE reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StaStatus {
    /// 0: no connection started yet.
    #[default]
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

/// Basic family: echo, error reporting, storage mode, the current UART setting.
#[derive(Debug, Clone)]
pub(crate) struct Basic {
    pub echo: bool,
    pub syslog: bool,
    pub sysstore: bool,
    pub uart_cur: UartConfig,
    /// AT+GMR strings (the module name comes from `factory_param`).
    pub info: FirmwareInfo,
}

impl Default for Basic {
    fn default() -> Self {
        Basic {
            echo: true,
            syslog: false,
            sysstore: true,
            uart_cur: UartConfig::default(),
            info: FirmwareInfo::default(),
        }
    }
}

/// The station's connection state machine.
#[derive(Debug, Default)]
pub(crate) struct Station {
    pub status: StaStatus,
    /// Associated with an AP (between the driver's Connected and Disconnected events):
    /// `WIFI DISCONNECT` is printed only when an association ends.
    pub associated: bool,
    /// The next join's timeout, if not the stored `<jap_timeout>` (AT+CWJAP's exec form).
    pub join_timeout: Option<Duration>,
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

/// AT+CWLAPOPT.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LapOpt {
    pub sort: bool,
    pub mask: u16,
    pub rssi_min: i8,
    pub auth_mask: u16,
}

impl Default for LapOpt {
    fn default() -> Self {
        LapOpt { sort: false, mask: 0x7ff, rssi_min: -100, auth_mask: 0xffff }
    }
}

/// Wi-Fi family.
#[derive(Debug)]
pub(crate) struct Wifi {
    pub sta: Station,
    pub lapopt: LapOpt,
    pub hostname: String,
}

impl Default for Wifi {
    fn default() -> Self {
        Wifi { sta: Station::default(), lapopt: LapOpt::default(), hostname: String::from("espressif") }
    }
}

/// SNTP family.
#[derive(Debug, Clone)]
pub(crate) struct Sntp {
    pub enabled: bool,
    /// Minutes east of UTC.
    pub tz_minutes: i32,
    /// The timezone as AT+CIPSNTPCFG? prints it.
    pub tz_display: i32,
    pub servers: [String; 3],
    pub interval_s: u32,
}

/// The servers `AT+CIPSNTPCFG=1` uses when none are given (ESP-AT's defaults).
pub(crate) const SNTP_DEFAULT_SERVERS: [&str; 3] = ["cn.ntp.org.cn", "ntp.sjtu.edu.cn", "us.pool.ntp.org"];

impl Default for Sntp {
    /// At boot no server is set (ESP-AT's query then shows `+CIPSNTPCFG:0,0`).
    fn default() -> Self {
        Sntp { enabled: false, tz_minutes: 0, tz_display: 0, servers: Default::default(), interval_s: 3600 }
    }
}

/// Manufacturing-data family: writes and reads in progress, and the boot diagnosis.
#[derive(Debug, Default)]
pub(crate) struct Mfg {
    /// AT+SYSMFG=2 string/binary write in progress.
    pub write: Option<PendingWrite>,
    /// AT+SYSFLASH=1 write in progress.
    pub flash_write: Option<FlashWrite>,
    /// AT+SYSMFG=1 / AT+SYSFLASH=2 read being streamed out.
    pub read: Option<MfgRead>,
    /// An AT+SYSFLASH=0 erase in progress: (partition, next offset, end).
    pub erase: Option<(String, u32, u32)>,
    /// Why `mfg_nvs` was unreadable at boot, if it was.
    pub unreadable: Option<Unreadable>,
}

/// Everything a restart rebuilds.
#[derive(Debug)]
pub(crate) struct State {
    pub settings: Settings,
    pub basic: Basic,
    pub wifi: Wifi,
    pub sntp: Sntp,
    pub mfg: Mfg,
    pub tcpip: crate::cmd::tcpip::Tcpip,
    pub last_error: Option<AtError>,
}

/// The wall clock, kept by the RTC across software restarts: the Unix time at an instant
/// (the boot instant counts as the epoch until SNTP syncs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WallClock {
    pub base: UnixTime,
    pub synced_at: Instant,
}

/// Work done once the transmit queue has drained (ESP-AT answers `OK` *before* acting).
/// A queue with a fixed order — a UART change first, then a restart — so neither is lost
/// when another command follows in the same chunk.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Deferred {
    pub uart: Option<UartConfig>,
    pub restart: bool,
}

impl Deferred {
    pub fn is_empty(&self) -> bool {
        self.uart.is_none() && !self.restart
    }
}

/// The firmware core: the platform and the state of every built-in command family.
pub struct Core<P: Platform> {
    pub(crate) platform: P,
    /// Deferred work the handlers asked for.
    pub(crate) deferred: Deferred,
    pub(crate) options: Options,
    /// The custom commands, for AT+CMD?.
    pub(crate) custom_cmds: Vec<crate::cmd::CmdInfo>,
    pub(crate) clock: WallClock,
    pub(crate) st: State,
    /// A data phase the core starts on its own (passthrough at boot, AT+SAVETRANSLINK), with
    /// its prompt; the firmware enters it when no command runs.
    pub(crate) autostart: Option<at_parser::DataPhase<Core<P>>>,
    /// State messages (Wi-Fi, SNTP) that could not be printed yet: the transmit queue was full
    /// or a command was streaming its response. Bounded by [`MAX_PENDING_MESSAGES`]; while it
    /// is full, events stay in their drivers.
    pub(crate) pending_msgs: alloc::collections::VecDeque<Message>,
}

/// Most state messages waiting for room (see `Core::pending_msgs`).
pub const MAX_PENDING_MESSAGES: usize = 8;

impl State {
    /// Power-on state: every family's default, adjusted by `factory_param` and the stored
    /// settings, which are applied to the platform.
    fn boot<P: Platform>(platform: &mut P, options: &Options) -> State {
        let factory = crate::cmd::mfg::factory_params(platform.mfg());
        let mut basic = Basic { info: options.info.clone(), ..Basic::default() };
        if let Some(name) = &factory.module_name {
            basic.info.module_name = name.clone();
        }
        basic.sysstore = factory.sys_store.unwrap_or(options.sysstore_default);
        let mut defaults = Settings::default();
        if let Some(b) = factory.uart_baudrate.filter(|b| (80..=5_000_000).contains(b)) {
            defaults.uart_def.baudrate = b;
        }
        let settings = Settings::load_over(platform.settings(), defaults);
        basic.uart_cur = settings.uart_def;
        let mfg = Mfg { unreadable: factory.unreadable, ..Mfg::default() };
        State {
            settings,
            basic,
            wifi: Wifi::default(),
            sntp: Sntp::default(),
            mfg,
            tcpip: crate::cmd::tcpip::Tcpip::new(options.capacities.links),
            last_error: None,
        }
    }
}

impl<P: Platform> Core<P> {
    pub(crate) fn boot(mut platform: P, options: Options, now: Instant) -> Self {
        let st = State::boot(&mut platform, &options);
        let mut core = Core {
            platform,
            options,
            deferred: Deferred::default(),
            custom_cmds: Vec::new(),
            clock: WallClock { base: UnixTime(0), synced_at: now },
            st,
            autostart: None,
            pending_msgs: alloc::collections::VecDeque::new(),
        };
        core.boot_tcpip();
        core.apply_boot_settings(now);
        core
    }

    /// Return to the state of a fresh boot (after AT+RST / AT+RESTORE): every family is
    /// rebuilt; the platform, options, custom commands and RTC clock stay.
    pub(crate) fn reset(&mut self, now: Instant) {
        let parts = self.platform.parts();
        self.st.tcpip.links.close_all(parts.net);
        let _ = parts.wifi.disconnect();
        parts.net.set_link(false, now);
        self.st = State::boot(&mut self.platform, &self.options);
        self.autostart = None;
        self.pending_msgs.clear();
        // The IP stack outlives the restart: return it to its boot state too.
        let net = self.platform.net();
        let off = at_hal::net::SntpConfig { enabled: false, servers: ["", "", ""], interval_s: 3600 };
        let _ = net.configure_sntp(&off, now);
        let _ = net.set_hostname("espressif");
        let _ = net.set_dns_servers(&[]);
        self.boot_tcpip();
        self.apply_boot_settings(now);
    }

    fn apply_boot_settings(&mut self, now: Instant) {
        let s = &self.st.settings;
        let parts = self.platform.parts();
        if let Err(e) = parts.uart.apply(&s.uart_def) {
            log::warn!("stored UART setting not applied: {e}");
        }
        if let Err(e) = parts.wifi.set_mode(s.wifi_mode) {
            log::warn!("stored Wi-Fi mode not applied: {e}");
        }
        if let Some(mac) = s.sta_mac
            && let Err(e) = parts.wifi.set_mac(mac)
        {
            log::warn!("stored station MAC not applied: {e}");
        }
        match s.static_ip {
            Some(ip) if s.dhcp & 1 == 0 => {
                if let Err(e) = parts.net.set_static_ip(ip, now) {
                    log::warn!("stored static IP not applied: {e}");
                }
            }
            _ => parts.net.set_dhcp(true, now),
        }
        if s.autoconn && s.wifi_mode.has_station() && s.station.is_some() {
            log::info!("auto-connecting to the stored AP");
            self.start_join(now);
        }
    }

    /// Persist one setting if AT+SYSSTORE=1 (or `always`).
    pub(crate) fn persist(&mut self, key: Key, always: bool) -> Result<(), AtError> {
        if !(self.st.basic.sysstore || always) {
            return Ok(());
        }
        self.st.settings.save(self.platform.settings(), key).map_err(|e| {
            log::error!("saving setting {key:?} failed: {e}");
            AtError::exec(ExecFail::SettingsSave)
        })
    }

    /// Start a join with the stored station configuration.
    pub(crate) fn start_join(&mut self, now: Instant) -> bool {
        let Some(st) = self.st.settings.station.clone() else { return false };
        let params = JoinParams {
            ssid: st.ssid.as_bytes(),
            password: st.password.as_bytes(),
            bssid: st.bssid,
            min_auth: auth_mode(st.min_auth),
            listen_interval: st.listen_interval,
            scan_mode: st.scan_mode,
            pmf: st.pmf,
        };
        let sta = &mut self.st.wifi.sta;
        match self.platform.wifi().start_join(&params, now) {
            Ok(()) => {
                sta.status = StaStatus::Connecting;
                let timeout = sta.join_timeout.take();
                let timeout = timeout.unwrap_or(Duration::from_secs(u64::from(st.jap_timeout_s.max(3))));
                sta.join_deadline = Some(now + timeout);
                sta.join_result = None;
                sta.user_disconnect = false;
                sta.reconnect_at = None;
                true
            }
            Err(e) => {
                log::warn!("join not started: {e}");
                sta.join_result = Some(Err(JoinError::Failed));
                false
            }
        }
    }

    /// Process Wi-Fi and IP events and timers, advance the links, and report what happened
    /// through `urc`. Bounded: at most 16 Wi-Fi and 32 network events per poll. Drivers are
    /// always polled (a held emitter never stalls a socket or a join); a state message that
    /// cannot be printed now waits in `pending_msgs`, and while that is full, Wi-Fi and
    /// interface events wait in their drivers.
    pub(crate) fn poll_events(&mut self, now: Instant, urc: &mut Urc<'_>) {
        while let Some(m) = self.pending_msgs.front() {
            if urc.emit(m) == crate::urc::Emitted::Later {
                break;
            }
            self.pending_msgs.pop_front();
        }
        for _ in 0..16 {
            if self.pending_msgs.len() >= MAX_PENDING_MESSAGES {
                break;
            }
            let Some(ev) = self.platform.wifi().poll(now) else { break };
            self.on_wifi_event(ev, now, urc);
        }
        for _ in 0..32 {
            if self.pending_msgs.len() >= MAX_PENDING_MESSAGES {
                break;
            }
            let Some(ev) = self.platform.net().poll(now) else { break };
            self.on_net_event(ev, now, urc);
        }
        let sta = &mut self.st.wifi.sta;
        if let Some(d) = sta.join_deadline
            && now >= d
        {
            log::warn!("join timed out");
            let _ = self.platform.wifi().disconnect();
            self.join_failed(JoinError::Timeout, now);
        }
        if let Some(t) = self.st.wifi.sta.reconnect_at
            && now >= t
        {
            let sta = &mut self.st.wifi.sta;
            sta.reconnect_at = None;
            sta.reconnect_attempts = sta.reconnect_attempts.saturating_add(1);
            log::info!("reconnecting (attempt {})", sta.reconnect_attempts);
            self.start_join(now);
        }
        self.poll_tcpip(now, urc);
    }

    /// Print a state message now, or keep it (in order) until there is room.
    fn say(&mut self, urc: &mut Urc<'_>, m: Message) {
        if !self.pending_msgs.is_empty() || urc.emit(&m) == crate::urc::Emitted::Later {
            self.pending_msgs.push_back(m);
        }
    }

    fn on_wifi_event(&mut self, ev: WifiEvent, now: Instant, urc: &mut Urc<'_>) {
        log::debug!("wifi event {ev:?}");
        match ev {
            WifiEvent::Connected => {
                self.st.wifi.sta.status = StaStatus::Connected;
                self.st.wifi.sta.associated = true;
                self.say(urc, Message::WifiConnected);
                self.platform.net().set_link(true, now);
            }
            WifiEvent::JoinFailed(e) => self.join_failed(e, now),
            WifiEvent::Disconnected => {
                self.platform.net().set_link(false, now);
                let was_up = core::mem::take(&mut self.st.wifi.sta.associated);
                self.st.wifi.sta.ip = None;
                if was_up {
                    self.say(urc, Message::WifiDisconnect);
                }
                let sta = &mut self.st.wifi.sta;
                // A join started meanwhile (AT+CWJAP while connected) goes on.
                if sta.join_deadline.is_none()
                    && matches!(sta.status, StaStatus::Connected | StaStatus::GotIp)
                {
                    sta.status = StaStatus::Disconnected;
                    if !sta.user_disconnect {
                        self.schedule_reconnect(now);
                    }
                }
            }
            WifiEvent::ScanDone => self.st.wifi.sta.scan_done = true,
        }
    }

    fn on_net_event(&mut self, ev: NetEvent, now: Instant, urc: &mut Urc<'_>) {
        match ev {
            NetEvent::GotIp(ip) => {
                let sta = &mut self.st.wifi.sta;
                // An address only counts while associated (a static address is applied at
                // link-up, DHCP completes after it).
                if !matches!(sta.status, StaStatus::Connected | StaStatus::GotIp) {
                    return;
                }
                sta.status = StaStatus::GotIp;
                sta.ip = Some(ip);
                sta.join_deadline = None;
                sta.join_result = Some(Ok(()));
                sta.reconnect_attempts = 0;
                self.say(urc, Message::WifiGotIp);
            }
            NetEvent::LostIp => {
                let sta = &mut self.st.wifi.sta;
                sta.ip = None;
                if sta.status == StaStatus::GotIp {
                    sta.status = StaStatus::Connected;
                }
            }
            NetEvent::TimeUpdated(t) => {
                self.clock = WallClock { base: t, synced_at: now };
                self.say(urc, Message::TimeUpdated);
            }
            // Socket, DNS and connect events: the link manager's hints.
            other => self.st.tcpip.links.on_net_event(other, now),
        }
    }

    fn join_failed(&mut self, e: JoinError, now: Instant) {
        let sta = &mut self.st.wifi.sta;
        sta.join_deadline = None;
        sta.status = StaStatus::Disconnected;
        sta.join_result = Some(Err(e));
        if !sta.user_disconnect {
            self.schedule_reconnect(now);
        }
    }

    fn schedule_reconnect(&mut self, now: Instant) {
        let s = &self.st.settings;
        let sta = &mut self.st.wifi.sta;
        let exhausted = s.reconn_count != 0 && sta.reconnect_attempts >= s.reconn_count;
        if s.reconn_interval_s == 0 || exhausted || s.station.is_none() || !s.wifi_mode.has_station() {
            return;
        }
        sta.reconnect_at = Some(now + Duration::from_secs(u64::from(s.reconn_interval_s)));
    }

    /// The earliest timer of the core. `tx_room` is the AT port's free transmit space: work
    /// that only prints (delivering `+IPD`, link messages) is due only when it fits, so a
    /// host that stops reading never makes the loop spin.
    pub(crate) fn next_deadline(&mut self, now: Instant, tx_room: usize) -> Option<Instant> {
        let parts = self.platform.parts();
        let wifi = parts.wifi.next_deadline();
        let net = parts.net.next_deadline();
        let sta = &self.st.wifi.sta;
        let tcpip = self.tcpip_deadline(now, tx_room);
        [wifi, net, sta.join_deadline, sta.reconnect_at, tcpip].into_iter().flatten().min()
    }

    /// The wall clock now (the epoch plus uptime until SNTP synced), in UTC.
    pub(crate) fn unix_now(&self, now: Instant) -> u64 {
        self.clock.base.0.saturating_add(now.saturating_since(self.clock.synced_at).as_secs())
    }

    /// The options the firmware started with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Station connection state (AT+CWSTATE).
    pub fn station_status(&self) -> StaStatus {
        self.st.wifi.sta.status
    }

    /// Why `mfg_nvs` could not be read at boot, if it could not (certificates, keys and
    /// `factory_param` are then unavailable, and AT+SYSMFG reports it).
    pub fn mfg_diagnosis(&self) -> Option<Unreadable> {
        self.st.mfg.unreadable
    }
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
