//! The Wi-Fi station boundary: join, leave, scan, MAC address.
//!
//! Long operations are started by a call and finished by an event from
//! [`WifiStation::poll`]; a backend never blocks. Events carry what ESP-AT prints
//! (`WIFI CONNECTED`, `WIFI DISCONNECT`); `WIFI GOT IP` and `+TIME_UPDATED` come from the IP
//! stack ([`crate::net`]).

use core::fmt;

use crate::time::Instant;

/// Longest SSID, in bytes (802.11).
pub const MAX_SSID_LEN: usize = 32;
/// Longest passphrase, in bytes (63 ASCII, or 64 hex digits).
pub const MAX_PASSWORD_LEN: usize = 64;

/// A 48-bit MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    /// ESP-AT's spelling: lower-case hex, colon-separated (`ca:d7:19:d8:a6:44`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

impl MacAddr {
    /// Parse `aa:bb:cc:dd:ee:ff` (either case). `None` on anything else.
    pub fn parse(s: &[u8]) -> Option<MacAddr> {
        if s.len() != 17 {
            return None;
        }
        let mut out = [0u8; 6];
        for (i, o) in out.iter_mut().enumerate() {
            let hi = hex_val(s[i * 3])?;
            let lo = hex_val(s[i * 3 + 1])?;
            if i < 5 && s[i * 3 + 2] != b':' {
                return None;
            }
            *o = hi << 4 | lo;
        }
        Some(MacAddr(out))
    }

    /// Whether the I/G bit is set (a multicast address cannot be a station MAC).
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// An SSID: up to 32 arbitrary bytes (not necessarily UTF-8).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ssid {
    bytes: [u8; MAX_SSID_LEN],
    len: u8,
}

impl Ssid {
    /// An SSID from bytes; `None` if longer than 32.
    pub fn new(bytes: &[u8]) -> Option<Ssid> {
        let mut s = Ssid::default();
        s.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        s.len = bytes.len() as u8;
        Some(s)
    }

    /// The SSID's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for Ssid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ssid({:?})", self.as_bytes().escape_ascii())
    }
}

/// Authentication mode, numbered as ESP-AT's `<ecn>` / `<authmode>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum AuthMode {
    Open = 0,
    Wep = 1,
    WpaPsk = 2,
    Wpa2Psk = 3,
    WpaWpa2Psk = 4,
    Wpa2Enterprise = 5,
    Wpa3Psk = 6,
    Wpa2Wpa3Psk = 7,
    WapiPsk = 8,
    Owe = 9,
}

/// One scanned (or the joined) access point, with the fields of `+CWLAP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApInfo {
    /// Authentication mode (`<ecn>`).
    pub auth: AuthMode,
    /// SSID.
    pub ssid: Ssid,
    /// Signal strength in dBm.
    pub rssi: i8,
    /// BSSID.
    pub bssid: MacAddr,
    /// Primary channel.
    pub channel: u8,
    /// Pairwise cipher (`0` none .. `7` unknown, ESP-AT numbering).
    pub pairwise_cipher: u8,
    /// Group cipher, same numbering.
    pub group_cipher: u8,
    /// Protocol bits (b0 11b, b1 11g, b2 11n, b3 LR, b4 11ax).
    pub protocols: u8,
    /// WPS advertised.
    pub wps: bool,
}

/// How to pick among APs when joining (`<scan_mode>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScanMode {
    /// Connect to the first AP found.
    #[default]
    Fast = 0,
    /// Scan every channel, connect to the strongest.
    AllChannels = 1,
}

/// Parameters of a join (`AT+CWJAP=...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinParams<'a> {
    /// Target SSID.
    pub ssid: &'a [u8],
    /// Passphrase (empty for an open network).
    pub password: &'a [u8],
    /// Only join this BSSID.
    pub bssid: Option<MacAddr>,
    /// Weakest authentication mode accepted.
    pub min_auth: AuthMode,
    /// Listen interval, in beacon intervals.
    pub listen_interval: u16,
    /// AP selection.
    pub scan_mode: ScanMode,
    /// Protected management frames bits (b0 capable, b1 required).
    pub pmf: u8,
}

/// Why a join failed, numbered as ESP-AT's `+CWJAP:<error code>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// 1: no answer in time.
    #[error("connection timeout")]
    Timeout = 1,
    /// 2: wrong password.
    #[error("wrong password")]
    WrongPassword = 2,
    /// 3: the AP was not found.
    #[error("cannot find the target AP")]
    NoApFound = 3,
    /// 4: any other failure.
    #[error("connection failed")]
    Failed = 4,
}

/// Filter and timing of a scan (`AT+CWLAP=...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScanParams<'a> {
    /// Only APs with this SSID.
    pub ssid: Option<&'a [u8]>,
    /// Only this BSSID.
    pub bssid: Option<MacAddr>,
    /// Only this channel (`None`: all).
    pub channel: Option<u8>,
    /// Passive instead of active scan.
    pub passive: bool,
}

/// Something that happened on the station, reported by [`WifiStation::poll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WifiEvent {
    /// Associated with an AP (`WIFI CONNECTED`). The IP stack gets the address next
    /// ([`crate::net::NetEvent::GotIp`]).
    Connected,
    /// A join started with [`WifiStation::start_join`] failed.
    JoinFailed(JoinError),
    /// The link to the AP was lost or closed (`WIFI DISCONNECT`).
    Disconnected,
    /// A scan started with [`WifiStation::start_scan`] finished; results are available.
    ScanDone,
}

/// Errors of station operations that fail immediately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WifiError {
    /// The radio is off or not in station mode.
    #[error("station mode is not enabled")]
    NotStarted,
    /// Another operation (join or scan) is still running.
    #[error("another Wi-Fi operation is in progress")]
    Busy,
    /// A parameter is out of range for this hardware.
    #[error("invalid argument for the Wi-Fi driver")]
    InvalidArgument,
    /// The operation is not supported by this backend.
    #[error("not supported by this Wi-Fi backend")]
    Unsupported,
}

/// Radio mode (`AT+CWMODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WifiMode {
    /// Radio off.
    Off = 0,
    /// Station.
    #[default]
    Station = 1,
    /// SoftAP.
    SoftAp = 2,
    /// SoftAP + station.
    StationAndSoftAp = 3,
}

impl WifiMode {
    /// Whether the station interface is enabled.
    pub const fn has_station(self) -> bool {
        matches!(self, WifiMode::Station | WifiMode::StationAndSoftAp)
    }

    /// Whether the SoftAP interface is enabled.
    pub const fn has_softap(self) -> bool {
        matches!(self, WifiMode::SoftAp | WifiMode::StationAndSoftAp)
    }
}

/// A Wi-Fi station: association, scanning, the MAC address. Addressing (DHCP, static IP,
/// hostname), DNS and SNTP belong to the IP stack: [`crate::net::Network`].
///
/// All methods return promptly. A backend keeps at most one join or scan running; starting a
/// second one while the first runs is [`WifiError::Busy`].
pub trait WifiStation {
    /// Switch the radio mode. Leaving station mode disconnects.
    fn set_mode(&mut self, mode: WifiMode) -> Result<(), WifiError>;

    /// Start joining an AP. The outcome arrives as [`WifiEvent::Connected`] (the IP stack
    /// then reports the address) or [`WifiEvent::JoinFailed`]. Any current association is
    /// dropped first.
    fn start_join(&mut self, params: &JoinParams<'_>, now: Instant) -> Result<(), WifiError>;

    /// Leave the AP (no-op if not associated). A join in progress is cancelled.
    fn disconnect(&mut self) -> Result<(), WifiError>;

    /// Start a scan; [`WifiEvent::ScanDone`] follows, then [`WifiStation::scan_result`].
    fn start_scan(&mut self, params: &ScanParams<'_>, now: Instant) -> Result<(), WifiError>;

    /// The `index`th result of the last finished scan.
    fn scan_result(&self, index: usize) -> Option<ApInfo>;

    /// The AP the station is associated with, if any.
    fn connected_ap(&self) -> Option<ApInfo>;

    /// The station MAC address.
    fn mac(&self) -> MacAddr;

    /// Change the station MAC address.
    fn set_mac(&mut self, mac: MacAddr) -> Result<(), WifiError>;

    /// Advance internal state to `now` and return one pending event. Call until `None`.
    fn poll(&mut self, now: Instant) -> Option<WifiEvent>;

    /// When [`WifiStation::poll`] next has something to do, if anything is scheduled.
    fn next_deadline(&self) -> Option<Instant>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parse_and_print() {
        let m = MacAddr::parse(b"CA:d7:19:d8:a6:44").unwrap();
        assert_eq!(m.0, [0xca, 0xd7, 0x19, 0xd8, 0xa6, 0x44]);
        extern crate std;
        assert_eq!(std::format!("{m}"), "ca:d7:19:d8:a6:44");
        assert!(MacAddr::parse(b"ca:d7:19:d8:a6").is_none());
        assert!(MacAddr::parse(b"ca-d7:19:d8:a6:44").is_none());
        assert!(MacAddr::parse(b"zz:d7:19:d8:a6:44").is_none());
    }

    #[test]
    fn ssid_bounds() {
        assert!(Ssid::new(&[0xff; 32]).is_some());
        assert!(Ssid::new(&[0; 33]).is_none());
        assert_eq!(Ssid::new(b"abc").unwrap().as_bytes(), b"abc");
    }
}
