//! [`SimWifi`]: a simulated Wi-Fi station with configurable access points, latencies and
//! faults. Deterministic: it only moves when polled with a later [`Instant`].

use std::collections::VecDeque;
use std::time::Duration;

use at_hal::time::Instant;
use at_hal::wifi::{
    ApInfo, AuthMode, JoinError, JoinParams, MacAddr, ScanParams, Ssid, WifiError, WifiEvent, WifiMode,
    WifiStation,
};

/// One simulated access point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimAp {
    /// SSID (bytes).
    pub ssid: Vec<u8>,
    /// Passphrase; empty for an open network.
    pub password: Vec<u8>,
    /// BSSID.
    pub bssid: MacAddr,
    /// Channel.
    pub channel: u8,
    /// Signal strength.
    pub rssi: i8,
    /// Whether the AP is on the air (a test can switch it off to force a disconnect).
    pub present: bool,
}

impl SimAp {
    /// A WPA2 AP (open if `password` is empty) on channel 6 at -50 dBm, with a BSSID derived
    /// from the SSID.
    pub fn new(ssid: &[u8], password: &[u8]) -> Self {
        let h = ssid.iter().fold(0x811c_9dc5u32, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
        let [a, b, c, d] = h.to_le_bytes();
        SimAp {
            ssid: ssid.to_vec(),
            password: password.to_vec(),
            bssid: MacAddr([0x02, 0x5a, a, b, c, d]),
            channel: 6,
            rssi: -50,
            present: true,
        }
    }

    fn auth(&self) -> AuthMode {
        if self.password.is_empty() { AuthMode::Open } else { AuthMode::Wpa2Psk }
    }

    fn info(&self) -> ApInfo {
        let open = self.password.is_empty();
        ApInfo {
            auth: self.auth(),
            ssid: Ssid::new(&self.ssid).unwrap_or_default(),
            rssi: self.rssi,
            bssid: self.bssid,
            channel: self.channel,
            pairwise_cipher: if open { 0 } else { 4 },
            group_cipher: if open { 0 } else { 4 },
            protocols: 0b111,
            wps: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Link {
    Idle,
    Joining { done: Instant, outcome: Result<usize, JoinError> },
    Associated { ap: usize },
}

/// Timing of the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// From `start_join` to `Connected` (or the failure).
    pub join: Duration,
    /// A scan's duration.
    pub scan: Duration,
}

impl Default for Timing {
    /// A realistic ~1 s join with DHCP (so `busy p...` can be observed: the simulated IP
    /// stack adds 100 ms of DHCP), 500 ms scan.
    fn default() -> Self {
        Timing { join: Duration::from_millis(900), scan: Duration::from_millis(500) }
    }
}

/// A simulated station.
pub struct SimWifi {
    aps: Vec<SimAp>,
    timing: Timing,
    mode: WifiMode,
    mac: MacAddr,
    link: Link,
    scan_done_at: Option<Instant>,
    scan_filter: (Option<Vec<u8>>, Option<MacAddr>, Option<u8>),
    results: Vec<ApInfo>,
    events: VecDeque<WifiEvent>,
    /// Joins started (for tests).
    pub joins_started: usize,
}

impl std::fmt::Debug for SimWifi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimWifi").field("aps", &self.aps.len()).field("link", &self.link).finish()
    }
}

impl SimWifi {
    /// A station that sees `aps`.
    pub fn new(aps: Vec<SimAp>) -> Self {
        SimWifi {
            aps,
            timing: Timing::default(),
            mode: WifiMode::Station,
            mac: MacAddr([0x58, 0xcf, 0x79, 0x00, 0x00, 0x01]),
            link: Link::Idle,
            scan_done_at: None,
            scan_filter: (None, None, None),
            results: Vec::new(),
            events: VecDeque::new(),
            joins_started: 0,
        }
    }

    /// Change the latencies.
    pub fn with_timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// The access points, to change them mid-test (e.g. `present = false`).
    pub fn aps_mut(&mut self) -> &mut Vec<SimAp> {
        &mut self.aps
    }

    fn drop_link(&mut self) {
        if let Link::Associated { .. } = self.link {
            self.events.push_back(WifiEvent::Disconnected);
        }
        self.link = Link::Idle;
    }
}

impl WifiStation for SimWifi {
    fn set_mode(&mut self, mode: WifiMode) -> Result<(), WifiError> {
        if !mode.has_station() {
            self.drop_link();
        }
        self.mode = mode;
        Ok(())
    }

    fn start_join(&mut self, p: &JoinParams<'_>, now: Instant) -> Result<(), WifiError> {
        if !self.mode.has_station() {
            return Err(WifiError::NotStarted);
        }
        self.drop_link();
        self.joins_started += 1;
        let found = self.aps.iter().position(|ap| {
            ap.present
                && ap.ssid == p.ssid
                && p.bssid.is_none_or(|b| b == ap.bssid)
                && (ap.auth() as u8) >= (p.min_auth as u8).min(AuthMode::Wpa2Psk as u8)
        });
        let outcome = match found {
            None => Err(JoinError::NoApFound),
            Some(i) if self.aps[i].password != p.password => Err(JoinError::WrongPassword),
            Some(i) => Ok(i),
        };
        self.link = Link::Joining { done: now + self.timing.join, outcome };
        Ok(())
    }

    fn disconnect(&mut self) -> Result<(), WifiError> {
        self.drop_link();
        Ok(())
    }

    fn start_scan(&mut self, p: &ScanParams<'_>, now: Instant) -> Result<(), WifiError> {
        if !self.mode.has_station() {
            return Err(WifiError::NotStarted);
        }
        if self.scan_done_at.is_some() {
            return Err(WifiError::Busy);
        }
        self.scan_filter = (p.ssid.map(<[u8]>::to_vec), p.bssid, p.channel);
        self.scan_done_at = Some(now + self.timing.scan);
        Ok(())
    }

    fn scan_result(&self, index: usize) -> Option<ApInfo> {
        self.results.get(index).copied()
    }

    fn connected_ap(&self) -> Option<ApInfo> {
        match self.link {
            Link::Associated { ap, .. } => self.aps.get(ap).map(SimAp::info),
            _ => None,
        }
    }

    fn mac(&self) -> MacAddr {
        self.mac
    }

    fn set_mac(&mut self, mac: MacAddr) -> Result<(), WifiError> {
        if mac.is_multicast() {
            return Err(WifiError::InvalidArgument);
        }
        self.mac = mac;
        Ok(())
    }

    fn poll(&mut self, now: Instant) -> Option<WifiEvent> {
        // An associated AP that vanished drops the link.
        if let Link::Associated { ap, .. } = self.link
            && !self.aps.get(ap).is_some_and(|a| a.present)
        {
            self.drop_link();
        }
        match self.link.clone() {
            Link::Joining { done, outcome } if now >= done => match outcome {
                Ok(ap) => {
                    self.link = Link::Associated { ap };
                    self.events.push_back(WifiEvent::Connected);
                }
                Err(e) => {
                    self.link = Link::Idle;
                    self.events.push_back(WifiEvent::JoinFailed(e));
                }
            },
            _ => {}
        }
        if let Some(t) = self.scan_done_at
            && now >= t
        {
            {
                self.scan_done_at = None;
                let (ssid, bssid, ch) = &self.scan_filter;
                self.results = self
                    .aps
                    .iter()
                    .filter(|a| {
                        a.present
                            && ssid.as_ref().is_none_or(|s| *s == a.ssid)
                            && bssid.is_none_or(|b| b == a.bssid)
                            && ch.is_none_or(|c| c == a.channel)
                    })
                    .map(SimAp::info)
                    .collect();
                self.events.push_back(WifiEvent::ScanDone);
            }
        }
        self.events.pop_front()
    }

    fn next_deadline(&self) -> Option<Instant> {
        let link = match self.link {
            Link::Joining { done, .. } => Some(done),
            Link::Associated { .. } | Link::Idle => None,
        };
        let pending = (!self.events.is_empty()).then_some(Instant::ZERO);
        [link, self.scan_done_at, pending].into_iter().flatten().min()
    }
}
