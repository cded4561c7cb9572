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
    op: Option<(OpKind, Operation)>,
    mode: WifiMode,
    mac: MacAddr,
    connected: Option<ApInfo>,
    scan: Vec<ApInfo>,
    events: VecDeque<WifiEvent>,
}

impl core::fmt::Debug for Radio {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Radio")
            .field("op", &self.op.as_ref().map(|(k, _)| *k))
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
            mode: WifiMode::Station,
            mac: MacAddr(mac),
            connected: None,
            scan: Vec::new(),
            events: VecDeque::new(),
        }
    }

    fn start(&mut self, kind: OpKind, fut: impl Future<Output = Done> + 'static) {
        self.op = Some((kind, Box::pin(fut)));
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

    fn start_join(&mut self, params: &JoinParams<'_>, _now: Instant) -> Result<(), WifiError> {
        if !self.mode.has_station() {
            return Err(WifiError::NotStarted);
        }
        if matches!(self.op, Some((OpKind::Join | OpKind::Scan, _))) {
            return Err(WifiError::Busy);
        }
        let cfg = station_config(params)?;
        // A leave still running is superseded (the join disconnects first anyway).
        self.op = None;
        self.lost();
        let c = self.controller.clone();
        self.start(OpKind::Join, async move {
            let mut c = c.borrow_mut();
            if c.is_connected() {
                let _ = c.disconnect_async().await;
            }
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
        // Cancelling a join or a scan is dropping its future (the controller stays).
        let was_joining = matches!(self.op, Some((OpKind::Join, _)));
        self.op = None;
        if self.connected.is_none() && !was_joining {
            return Ok(());
        }
        let c = self.controller.clone();
        self.start(OpKind::Leave, async move {
            // Returns at once with NotConnected when neither connected nor connecting.
            let _ = c.borrow_mut().disconnect_async().await;
            Done::Left
        });
        Ok(())
    }

    fn start_scan(&mut self, params: &ScanParams<'_>, _now: Instant) -> Result<(), WifiError> {
        if !self.mode.has_station() {
            return Err(WifiError::NotStarted);
        }
        if self.op.is_some() {
            return Err(WifiError::Busy);
        }
        let cfg = scan_config(params)?;
        let c = self.controller.clone();
        self.start(OpKind::Scan, async move {
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

    fn poll(&mut self, _now: Instant) -> Option<WifiEvent> {
        if let Some((_, fut)) = &mut self.op {
            let mut cx = Context::from_waker(Waker::noop());
            if let Poll::Ready(done) = fut.as_mut().poll(&mut cx) {
                self.op = None;
                self.finish(done);
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
        // A running operation is polled every loop (its events come from the Wi-Fi task).
        if self.op.is_some() || !self.events.is_empty() { Some(Instant::ZERO) } else { None }
    }
}
