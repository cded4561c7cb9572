//! The Wi-Fi station ([`Radio`], over esp-radio's `WifiController`) and the IP stack
//! ([`Net`]: at-smoltcp's `SmolNet` over esp-radio's station `Interface`).
//!
//! esp-radio's station operations are `async` (`connect_async`, `scan_async`,
//! `disconnect_async`). The AT main loop never blocks, so [`Radio`] keeps the running
//! operation as a boxed future and polls it with a no-op waker from [`WifiStation::poll`]:
//! starting a join or a scan creates the future, each poll advances it (esp-radio's event
//! channel is checked on every poll, so no wake-up is needed), and its completion becomes a
//! [`WifiEvent`]. The controller lives in an `Rc<RefCell<..>>` the future borrows for its
//! duration, so cancelling an operation (`AT+CWQAP` during a join) is dropping the future; the
//! controller stays.
//!
//! Not supported by this backend (esp-radio 1.0.0-beta.1 offers no API for them, or they are
//! not in this milestone): SoftAP modes, changing the station MAC (`AT+CIPSTAMAC=`), the PMF
//! "required" bit (esp-radio always sets PMF capable, not required). Scan results carry no
//! cipher or protocol information (esp-radio's `AccessPointInfo` has none): ciphers are
//! reported as "unknown" (7) for protected networks and "none" (0) for open ones; protocols as
//! 0.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use at_hal::time::Instant;
use at_hal::wifi::{
    ApInfo, AuthMode, JoinError, JoinParams, MacAddr, ScanMode, ScanParams, Ssid, WifiError, WifiEvent,
    WifiMode, WifiStation,
};
use at_smoltcp::{DriverDevice, SmolNet};
use esp_radio::wifi::ap::AccessPointInfo;
use esp_radio::wifi::scan::{ScanConfig, ScanTypeConfig};
use esp_radio::wifi::sta::{ScanMethod, StationConfig};
use esp_radio::wifi::{
    AuthenticationMethod, AuthenticationMethodConfig, Config, ConnectionError, DisconnectReason, Interface,
    Password, WifiController,
};

/// The IP stack: at-smoltcp over esp-radio's station interface.
pub type Net = SmolNet<DriverDevice<Interface>>;

/// Scan results kept (ESP-AT lists up to about 30 APs per `AT+CWLAP`).
const MAX_SCAN_RESULTS: usize = 30;

type Shared = Rc<RefCell<WifiController<'static>>>;

/// A running station operation, polled from [`WifiStation::poll`].
type Operation = Pin<Box<dyn Future<Output = Done>>>;

/// An operation and the time by which it must have finished: esp-radio's operations wait for
/// driver events, and its event channel drops events when full (`try_publish`), so an
/// operation could otherwise wait forever. Past its deadline it is dropped and reported as
/// failed (join: timeout; scan: no results; leave: done).
struct Running {
    kind: OpKind,
    fut: Operation,
    deadline: Instant,
}

/// A join's limit. The core's own `AT+CWJAP` timeout (15 s by default, up to 600 s with
/// `AT+CWJAP=...,<jap_timeout>`) usually ends it first by calling `disconnect`; this only
/// bounds a join nobody cancels.
const JOIN_LIMIT: Duration = Duration::from_secs(600);
/// A scan's limit: 13 channels × 360 ms passive dwell is under 5 s.
const SCAN_LIMIT: Duration = Duration::from_secs(15);
/// A disconnect's limit.
const LEAVE_LIMIT: Duration = Duration::from_secs(3);
/// How often a running operation is polled (its events come from the Wi-Fi task; nothing wakes
/// the main loop for them).
const OP_POLL_INTERVAL: Duration = Duration::from_millis(5);

/// What a finished operation reports.
enum Done {
    Joined(Result<ApInfo, JoinError>),
    Scanned(Result<Vec<ApInfo>, WifiError>),
    Left,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Join,
    Scan,
    Leave,
}

/// The Wi-Fi station over esp-radio. See the module docs.
pub struct Radio {
    controller: Shared,
    op: Option<Running>,
    /// When the station was last polled (for [`WifiStation::next_deadline`]).
    last_poll: Instant,
    mode: WifiMode,
    mac: MacAddr,
    connected: Option<ApInfo>,
    scan: Vec<ApInfo>,
    events: VecDeque<WifiEvent>,
}

impl core::fmt::Debug for Radio {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Radio")
            .field("op", &self.op.as_ref().map(|r| r.kind))
            .field("mode", &self.mode)
            .field("connected", &self.connected.is_some())
            .finish()
    }
}

fn auth_mode(a: Option<AuthenticationMethod>) -> AuthMode {
    match a {
        None | Some(AuthenticationMethod::None) => AuthMode::Open,
        Some(AuthenticationMethod::Wep) => AuthMode::Wep,
        Some(AuthenticationMethod::Wpa) => AuthMode::WpaPsk,
        Some(AuthenticationMethod::Wpa2Personal) => AuthMode::Wpa2Psk,
        Some(AuthenticationMethod::WpaWpa2Personal) => AuthMode::WpaWpa2Psk,
        Some(AuthenticationMethod::Wpa2Enterprise) => AuthMode::Wpa2Enterprise,
        Some(
            AuthenticationMethod::Wpa3Personal
            | AuthenticationMethod::Wpa3ExtPsk
            | AuthenticationMethod::Wpa3ExtPskMixed,
        ) => AuthMode::Wpa3Psk,
        Some(AuthenticationMethod::Wpa2Wpa3Personal) => AuthMode::Wpa2Wpa3Psk,
        Some(AuthenticationMethod::WapiPersonal) => AuthMode::WapiPsk,
        Some(AuthenticationMethod::Owe) => AuthMode::Owe,
        // Enterprise and DPP variants have no ESP-AT `<ecn>` of their own.
        Some(_) => AuthMode::Wpa2Enterprise,
    }
}

fn ap_info(ap: &AccessPointInfo) -> ApInfo {
    let auth = auth_mode(ap.auth_method);
    let cipher = if auth == AuthMode::Open { 0 } else { 7 };
    ApInfo {
        auth,
        ssid: Ssid::new(ap.ssid.as_str().as_bytes()).unwrap_or_default(),
        rssi: ap.signal_strength,
        bssid: MacAddr(ap.bssid),
        channel: ap.channel,
        pairwise_cipher: cipher,
        group_cipher: cipher,
        protocols: 0,
        wps: false,
    }
}

/// ESP-AT's `+CWJAP:<error code>` for a disconnect reason (esp_at_wifi_event_handler's
/// mapping: wrong password for authentication and handshake failures, AP not found, timeout
/// for beacon/association timeouts, else "failed").
fn join_error(e: &ConnectionError) -> JoinError {
    let ConnectionError::Failed(info) = e else { return JoinError::Failed };
    match info.reason {
        DisconnectReason::NoAccessPointFound | DisconnectReason::NoAccessPointFoundInAuthmodeThreshold => {
            JoinError::NoApFound
        }
        DisconnectReason::AuthenticationFailed
        | DisconnectReason::FourWayHandshakeTimeout
        | DisconnectReason::HandshakeTimeout
        | DisconnectReason::MicFailure => JoinError::WrongPassword,
        DisconnectReason::BeaconTimeout
        | DisconnectReason::AuthenticationExpired
        | DisconnectReason::Timeout => JoinError::Timeout,
        _ => JoinError::Failed,
    }
}

/// The station configuration for a join. The authentication is esp-radio's *threshold*: the
/// weakest mode accepted (`<min_auth>`), WPA-PSK when a password is given without one.
fn station_config(p: &JoinParams<'_>) -> Result<StationConfig, WifiError> {
    let ssid = esp_radio::wifi::Ssid::try_from(p.ssid).map_err(|_| WifiError::InvalidArgument)?;
    let auth = if p.password.is_empty() {
        AuthenticationMethodConfig::Open
    } else {
        let pw = Password::try_from(p.password).map_err(|_| WifiError::InvalidArgument)?;
        match p.min_auth {
            AuthMode::Open | AuthMode::WpaPsk => AuthenticationMethodConfig::Wpa(pw),
            AuthMode::Wep => AuthenticationMethodConfig::Wep(pw),
            AuthMode::WpaWpa2Psk => AuthenticationMethodConfig::WpaWpa2Personal(pw),
            // WPA2 and stronger: the threshold esp-radio can express is WPA2-Personal
            // (which also admits WPA3 APs).
            _ => AuthenticationMethodConfig::Wpa2Personal(pw),
        }
    };
    let mut cfg = StationConfig::default()
        .with_ssid(ssid)
        .with_authentication(auth)
        .with_listen_interval(p.listen_interval.max(1))
        .with_scan_method(match p.scan_mode {
            ScanMode::Fast => ScanMethod::Fast,
            ScanMode::AllChannels => ScanMethod::AllChannels,
        });
    if let Some(b) = p.bssid {
        cfg = cfg.with_bssid(b.0);
    }
    Ok(cfg)
}

fn scan_config(p: &ScanParams<'_>) -> Result<ScanConfig, WifiError> {
    let mut cfg = ScanConfig::default().with_show_hidden(false).with_max(MAX_SCAN_RESULTS);
    if let Some(s) = p.ssid {
        cfg = cfg.with_ssid(esp_radio::wifi::Ssid::try_from(s).map_err(|_| WifiError::InvalidArgument)?);
    }
    if let Some(b) = p.bssid {
        cfg = cfg.with_bssid(b.0);
    }
    if let Some(c) = p.channel {
        cfg = cfg.with_channel(c);
    }
    if p.passive {
        // ESP-AT's default passive dwell time: 360 ms per channel.
        cfg = cfg.with_scan_type(ScanTypeConfig::Passive(esp_hal::time::Duration::from_millis(360)));
    }
    Ok(cfg)
}

impl Radio {
    /// A station over `controller` (created in station mode); `mac` is the station
    /// interface's address.
    pub fn new(controller: WifiController<'static>, mac: [u8; 6]) -> Self {
        Radio {
            controller: Rc::new(RefCell::new(controller)),
            op: None,
            last_poll: Instant::ZERO,
            mode: WifiMode::Station,
            mac: MacAddr(mac),
            connected: None,
            scan: Vec::new(),
            events: VecDeque::new(),
        }
    }

    fn start(&mut self, kind: OpKind, now: Instant, fut: impl Future<Output = Done> + 'static) {
        let limit = match kind {
            OpKind::Join => JOIN_LIMIT,
            OpKind::Scan => SCAN_LIMIT,
            OpKind::Leave => LEAVE_LIMIT,
        };
        self.op = Some(Running { kind, fut: Box::pin(fut), deadline: now + limit });
    }

    fn running(&self, kinds: &[OpKind]) -> bool {
        self.op.as_ref().is_some_and(|r| kinds.contains(&r.kind))
    }

    /// The station's association was lost (or left): report it once.
    fn lost(&mut self) {
        if self.connected.take().is_some() {
            self.events.push_back(WifiEvent::Disconnected);
        }
    }

    fn finish(&mut self, done: Done) {
        match done {
            Done::Joined(Ok(ap)) => {
                self.connected = Some(ap);
                self.events.push_back(WifiEvent::Connected);
            }
            Done::Joined(Err(e)) => self.events.push_back(WifiEvent::JoinFailed(e)),
            Done::Scanned(r) => {
                self.scan = r.unwrap_or_default();
                self.events.push_back(WifiEvent::ScanDone);
            }
            Done::Left => self.lost(),
        }
    }
}

// The operation futures hold the controller's `RefCell` borrow across their awaits on purpose:
// one operation runs at a time, and everything else reaches the controller only through
// `try_borrow` (a busy controller is skipped, never a panic).
#[allow(clippy::await_holding_refcell_ref)]
impl WifiStation for Radio {
    fn set_mode(&mut self, mode: WifiMode) -> Result<(), WifiError> {
        match mode {
            WifiMode::Station => {
                self.mode = mode;
                Ok(())
            }
            WifiMode::Off => {
                // The controller stays initialised (esp-radio stops Wi-Fi only when it is
                // dropped); leaving the AP is what "off" changes for the AT commands.
                let _ = self.disconnect();
                self.mode = mode;
                Ok(())
            }
            WifiMode::SoftAp | WifiMode::StationAndSoftAp => Err(WifiError::Unsupported),
        }
    }

    fn start_join(&mut self, params: &JoinParams<'_>, now: Instant) -> Result<(), WifiError> {
        if !self.mode.has_station() {
            return Err(WifiError::NotStarted);
        }
        if self.running(&[OpKind::Join, OpKind::Scan]) {
            return Err(WifiError::Busy);
        }
        let cfg = station_config(params)?;
        // A leave still running finishes first, inside the join (its disconnect event must not
        // be taken for the join's answer); then the station leaves whatever it is doing.
        let leave = self.op.take().map(|r| r.fut);
        self.lost();
        let c = self.controller.clone();
        self.start(OpKind::Join, now, async move {
            if let Some(leave) = leave {
                leave.await;
            }
            let mut c = c.borrow_mut();
            // Returns at once when neither connected nor connecting.
            let _ = c.disconnect_async().await;
            if let Err(e) = c.set_config(&Config::Station(cfg)) {
                log::warn!("Wi-Fi: station config rejected: {e:?}");
                return Done::Joined(Err(JoinError::Failed));
            }
            let result = match c.connect_async().await {
                Ok(info) => {
                    let rssi = c.rssi().ok().and_then(|r| i8::try_from(r).ok()).unwrap_or(0);
                    let auth = auth_mode(Some(info.authmode));
                    let cipher = if auth == AuthMode::Open { 0 } else { 7 };
                    Ok(ApInfo {
                        auth,
                        ssid: Ssid::new(info.ssid.as_str().as_bytes()).unwrap_or_default(),
                        rssi,
                        bssid: MacAddr(info.bssid),
                        channel: info.channel,
                        pairwise_cipher: cipher,
                        group_cipher: cipher,
                        protocols: 0,
                        wps: false,
                    })
                }
                Err(e) => {
                    log::info!("Wi-Fi: join failed: {e:?}");
                    Err(join_error(&e))
                }
            };
            Done::Joined(result)
        });
        Ok(())
    }

    fn disconnect(&mut self) -> Result<(), WifiError> {
        // Cancelling a join or a scan is dropping its future (the controller stays); a scan
        // cut short still reports its (empty) end, as ESP-AT's does.
        let was_joining = self.running(&[OpKind::Join]);
        if self.running(&[OpKind::Scan]) {
            self.finish(Done::Scanned(Ok(Vec::new())));
        }
        self.op = None;
        if self.connected.is_none() && !was_joining {
            return Ok(());
        }
        let c = self.controller.clone();
        let now = self.last_poll;
        self.start(OpKind::Leave, now, async move {
            // Returns at once with NotConnected when neither connected nor connecting.
            let _ = c.borrow_mut().disconnect_async().await;
            Done::Left
        });
        Ok(())
    }

    fn start_scan(&mut self, params: &ScanParams<'_>, now: Instant) -> Result<(), WifiError> {
        if !self.mode.has_station() {
            return Err(WifiError::NotStarted);
        }
        if self.op.is_some() {
            return Err(WifiError::Busy);
        }
        let cfg = scan_config(params)?;
        let c = self.controller.clone();
        self.start(OpKind::Scan, now, async move {
            let r = c.borrow_mut().scan_async(&cfg).await;
            Done::Scanned(r.map(|list| list.iter().map(ap_info).collect()).map_err(|e| {
                log::warn!("Wi-Fi: scan failed: {e:?}");
                WifiError::InvalidArgument
            }))
        });
        Ok(())
    }

    fn scan_result(&self, index: usize) -> Option<ApInfo> {
        self.scan.get(index).copied()
    }

    fn connected_ap(&self) -> Option<ApInfo> {
        let mut ap = self.connected?;
        // A fresh RSSI when the controller is free.
        if let Ok(c) = self.controller.try_borrow()
            && let Ok(r) = c.rssi()
        {
            ap.rssi = i8::try_from(r).unwrap_or(ap.rssi);
        }
        Some(ap)
    }

    fn mac(&self) -> MacAddr {
        self.mac
    }

    fn set_mac(&mut self, _mac: MacAddr) -> Result<(), WifiError> {
        // esp-radio 1.0.0-beta.1 has no API to change the station MAC.
        Err(WifiError::Unsupported)
    }

    fn poll(&mut self, now: Instant) -> Option<WifiEvent> {
        self.last_poll = now;
        if let Some(r) = &mut self.op {
            let mut cx = Context::from_waker(Waker::noop());
            if let Poll::Ready(done) = r.fut.as_mut().poll(&mut cx) {
                self.op = None;
                self.finish(done);
            } else if now >= r.deadline {
                let kind = r.kind;
                log::warn!("Wi-Fi: {kind:?} did not finish in time (a driver event lost?); given up");
                self.op = None;
                self.finish(match kind {
                    OpKind::Join => Done::Joined(Err(JoinError::Timeout)),
                    OpKind::Scan => Done::Scanned(Ok(Vec::new())),
                    OpKind::Leave => Done::Left,
                });
            }
        }
        // The AP dropped us (no operation holds the controller).
        if self.op.is_none()
            && self.connected.is_some()
            && self.controller.try_borrow().is_ok_and(|c| !c.is_connected())
        {
            self.lost();
        }
        self.events.pop_front()
    }

    fn next_deadline(&self) -> Option<Instant> {
        // Events to hand out: now. A running operation: every few milliseconds (its events
        // come from the Wi-Fi task), and at its deadline at the latest.
        if !self.events.is_empty() {
            Some(Instant::ZERO)
        } else {
            self.op.as_ref().map(|r| (self.last_poll + OP_POLL_INTERVAL).min(r.deadline))
        }
    }
}
