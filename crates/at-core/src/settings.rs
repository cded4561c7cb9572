//! Settings that survive a restart (ESP-AT: the `nvs` partition), and their encoding.
//!
//! Everything lives in namespace [`NAMESPACE`] of the platform's settings [`Kv`]. Commands
//! listed under AT+SYSSTORE write here only while `AT+SYSSTORE=1`; AT+UART_DEF and
//! AT+CWAUTOCONN always write. A value that is missing or does not decode falls back to its
//! default (and is logged), so a damaged settings store never stops the firmware from
//! booting.

use at_hal::kv::{Kv, KvError, Value};
use at_hal::net::{IpConfig, Ipv4Addr};
use at_hal::uart::{FlowControl, Parity, StopBits, UartConfig};
use at_hal::wifi::{MacAddr, ScanMode, Ssid, WifiMode};
use zeroize::Zeroize;

/// The settings namespace.
pub const NAMESPACE: &str = "at_cfg";

const K_SYSMSG: &str = "sysmsg";
const K_MODE: &str = "cwmode";
const K_AUTOCONN: &str = "autoconn";
const K_UART: &str = "uart_def";
const K_STA: &str = "sta";
const K_RECONN: &str = "reconn";
const K_DHCP: &str = "dhcp";
const K_STA_IP: &str = "sta_ip";
const K_STA_MAC: &str = "sta_mac";

/// A Wi-Fi passphrase (at most 64 bytes), cleared on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Passphrase {
    bytes: [u8; 64],
    len: u8,
}

impl Default for Passphrase {
    fn default() -> Self {
        Passphrase { bytes: [0; 64], len: 0 }
    }
}

impl Passphrase {
    /// A passphrase; `None` if longer than 64 bytes.
    pub fn new(b: &[u8]) -> Option<Self> {
        let mut p = Passphrase::default();
        p.bytes.get_mut(..b.len())?.copy_from_slice(b);
        p.len = b.len() as u8;
        Some(p)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl Drop for Passphrase {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl core::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Passphrase(<{} bytes>)", self.len)
    }
}

/// The station configuration `AT+CWJAP` sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationConfig {
    /// Target SSID.
    pub ssid: Ssid,
    /// Passphrase.
    pub password: Passphrase,
    /// Only this BSSID.
    pub bssid: Option<MacAddr>,
    /// Weakest authentication mode accepted (ESP-AT numbering): derived from the password
    /// and `<pci_en>` as ESP-AT does (0 open, 1 WEP, 2 WPA-PSK).
    pub min_auth: u8,
    /// `<pci_en>`: refuse WEP and open APs.
    pub pci_en: bool,
    /// Listen interval in beacon intervals.
    pub listen_interval: u16,
    /// AP selection.
    pub scan_mode: ScanMode,
    /// PMF bits.
    pub pmf: u8,
    /// Join timeout in seconds.
    pub jap_timeout_s: u16,
}

impl StationConfig {
    const ENCODED_LEN: usize = 1 + 32 + 1 + 64 + 7 + 1 + 2 + 1 + 1 + 2 + 1;

    fn encode(&self, out: &mut [u8; Self::ENCODED_LEN]) {
        out.fill(0);
        let ssid = self.ssid.as_bytes();
        out[0] = ssid.len() as u8;
        out[1..1 + ssid.len()].copy_from_slice(ssid);
        let pw = self.password.as_bytes();
        out[33] = pw.len() as u8;
        out[34..34 + pw.len()].copy_from_slice(pw);
        if let Some(b) = self.bssid {
            out[98] = 1;
            out[99..105].copy_from_slice(&b.0);
        }
        out[105] = self.min_auth;
        out[106..108].copy_from_slice(&self.listen_interval.to_le_bytes());
        out[108] = self.scan_mode as u8;
        out[109] = self.pmf;
        out[110..112].copy_from_slice(&self.jap_timeout_s.to_le_bytes());
        out[112] = u8::from(self.pci_en);
    }

    fn decode(b: &[u8]) -> Option<Self> {
        // The form without `pci_en` (one byte shorter) is read too.
        if b.len() != Self::ENCODED_LEN && b.len() != Self::ENCODED_LEN - 1 {
            return None;
        }
        let ssid = Ssid::new(b.get(1..1 + usize::from(b[0]))?)?;
        let password = Passphrase::new(b.get(34..34 + usize::from(b[33]))?)?;
        let bssid = (b[98] == 1).then(|| MacAddr([b[99], b[100], b[101], b[102], b[103], b[104]]));
        Some(StationConfig {
            ssid,
            password,
            bssid,
            min_auth: b[105],
            listen_interval: u16::from_le_bytes([b[106], b[107]]),
            scan_mode: if b[108] == 1 { ScanMode::AllChannels } else { ScanMode::Fast },
            pmf: b[109],
            jap_timeout_s: u16::from_le_bytes([b[110], b[111]]),
            pci_en: b.get(112) == Some(&1),
        })
    }
}

/// Everything persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// AT+SYSMSG bits.
    pub sysmsg: u8,
    /// AT+CWMODE.
    pub wifi_mode: WifiMode,
    /// AT+CWAUTOCONN.
    pub autoconn: bool,
    /// AT+UART_DEF.
    pub uart_def: UartConfig,
    /// AT+CWJAP's last configuration.
    pub station: Option<StationConfig>,
    /// AT+CWRECONNCFG interval (s); 0 = no reconnection.
    pub reconn_interval_s: u16,
    /// AT+CWRECONNCFG repeat count; 0 = forever.
    pub reconn_count: u16,
    /// AT+CWDHCP state bits (bit 0 station, bit 1 SoftAP).
    pub dhcp: u8,
    /// AT+CIPSTA static address.
    pub static_ip: Option<IpConfig>,
    /// AT+CIPSTAMAC override.
    pub sta_mac: Option<MacAddr>,
}

impl Default for Settings {
    /// ESP-AT's factory defaults.
    fn default() -> Self {
        Settings {
            sysmsg: 0,
            wifi_mode: WifiMode::Station,
            autoconn: true,
            uart_def: UartConfig::default(),
            station: None,
            reconn_interval_s: 1,
            reconn_count: 0,
            dhcp: 3,
            static_ip: None,
            sta_mac: None,
        }
    }
}

fn encode_uart(c: &UartConfig) -> [u8; 8] {
    let b = c.baudrate.to_le_bytes();
    [b[0], b[1], b[2], b[3], c.data_bits, c.stop_bits as u8, c.parity as u8, c.flow_control as u8]
}

/// Build a UART configuration from ESP-AT's numbers; `None` if any is out of range.
pub fn uart_config(baud: u32, data_bits: u8, stop: u8, parity: u8, flow: u8) -> Option<UartConfig> {
    if !(5..=8).contains(&data_bits) {
        return None;
    }
    Some(UartConfig {
        baudrate: baud,
        data_bits,
        stop_bits: match stop {
            1 => StopBits::One,
            2 => StopBits::OneAndHalf,
            3 => StopBits::Two,
            _ => return None,
        },
        parity: match parity {
            0 => Parity::None,
            1 => Parity::Odd,
            2 => Parity::Even,
            _ => return None,
        },
        flow_control: match flow {
            0 => FlowControl::None,
            1 => FlowControl::Rts,
            2 => FlowControl::Cts,
            3 => FlowControl::RtsCts,
            _ => return None,
        },
    })
}

fn decode_uart(b: &[u8]) -> Option<UartConfig> {
    let [b0, b1, b2, b3, d, s, p, f] = *b else { return None };
    uart_config(u32::from_le_bytes([b0, b1, b2, b3]), d, s, p, f)
}

fn mode_from(v: u8) -> Option<WifiMode> {
    Some(match v {
        0 => WifiMode::Off,
        1 => WifiMode::Station,
        2 => WifiMode::SoftAp,
        3 => WifiMode::StationAndSoftAp,
        _ => return None,
    })
}

/// Which setting to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// AT+SYSMSG
    SysMsg,
    /// AT+CWMODE
    WifiMode,
    /// AT+CWAUTOCONN
    AutoConn,
    /// AT+UART_DEF
    UartDef,
    /// AT+CWJAP
    Station,
    /// AT+CWRECONNCFG
    Reconnect,
    /// AT+CWDHCP
    Dhcp,
    /// AT+CIPSTA
    StaticIp,
    /// AT+CIPSTAMAC
    StaMac,
}

impl Settings {
    /// Read every setting, falling back to ESP-AT's defaults one by one.
    pub fn load<K: Kv>(kv: &mut K) -> Settings {
        Settings::load_over(kv, Settings::default())
    }

    /// Read every setting, falling back to `defaults` one by one (e.g. factory parameters).
    pub fn load_over<K: Kv>(kv: &mut K, defaults: Settings) -> Settings {
        let mut s = defaults;
        let mut buf = [0u8; StationConfig::ENCODED_LEN];
        let int = |kv: &mut K, key: &str| -> Option<i128> {
            match kv.get(NAMESPACE, key, &mut []) {
                Ok(v) => v.as_integer(),
                Err(KvError::NotFound) => None,
                Err(e) => {
                    log::warn!("setting {key}: {e}; using default");
                    None
                }
            }
        };
        if let Some(v) = int(kv, K_SYSMSG).and_then(|v| u8::try_from(v).ok()) {
            s.sysmsg = v & 0x7;
        }
        if let Some(m) = int(kv, K_MODE).and_then(|v| u8::try_from(v).ok()).and_then(mode_from) {
            s.wifi_mode = m;
        }
        if let Some(v) = int(kv, K_AUTOCONN) {
            s.autoconn = v != 0;
        }
        if let Some(v) = int(kv, K_DHCP).and_then(|v| u8::try_from(v).ok()) {
            s.dhcp = v & 0x3;
        }
        if let Some(v) = int(kv, K_RECONN).and_then(|v| u32::try_from(v).ok()) {
            s.reconn_interval_s = (v & 0xffff) as u16;
            s.reconn_count = (v >> 16) as u16;
        }
        let blob = |kv: &mut K, key: &str, buf: &mut [u8]| -> Option<usize> {
            match kv.get(NAMESPACE, key, buf) {
                Ok(v) => v.as_bytes().map(<[u8]>::len),
                Err(KvError::NotFound) => None,
                Err(e) => {
                    log::warn!("setting {key}: {e}; using default");
                    None
                }
            }
        };
        if let Some(n) = blob(kv, K_UART, &mut buf)
            && let Some(u) = decode_uart(&buf[..n])
        {
            s.uart_def = u;
        }
        if let Some(n) = blob(kv, K_STA, &mut buf) {
            s.station = StationConfig::decode(&buf[..n]);
        }
        if let Some(12) = blob(kv, K_STA_IP, &mut buf) {
            let ip = |i: usize| Ipv4Addr::new(buf[i], buf[i + 1], buf[i + 2], buf[i + 3]);
            s.static_ip = Some(IpConfig { ip: ip(0), gateway: ip(4), netmask: ip(8) });
        }
        if let Some(6) = blob(kv, K_STA_MAC, &mut buf) {
            s.sta_mac = Some(MacAddr([buf[0], buf[1], buf[2], buf[3], buf[4], buf[5]]));
        }
        buf.zeroize();
        s
    }

    /// Write one setting.
    pub fn save<K: Kv>(&self, kv: &mut K, key: Key) -> Result<(), KvError> {
        let ns = NAMESPACE;
        match key {
            Key::SysMsg => kv.set(ns, K_SYSMSG, Value::U8(self.sysmsg)),
            Key::WifiMode => kv.set(ns, K_MODE, Value::U8(self.wifi_mode as u8)),
            Key::AutoConn => kv.set(ns, K_AUTOCONN, Value::U8(u8::from(self.autoconn))),
            Key::Dhcp => kv.set(ns, K_DHCP, Value::U8(self.dhcp)),
            Key::Reconnect => kv.set(
                ns,
                K_RECONN,
                Value::U32(u32::from(self.reconn_interval_s) | u32::from(self.reconn_count) << 16),
            ),
            Key::UartDef => kv.set(ns, K_UART, Value::Blob(&encode_uart(&self.uart_def))),
            Key::Station => match &self.station {
                Some(st) => {
                    let mut buf = [0u8; StationConfig::ENCODED_LEN];
                    st.encode(&mut buf);
                    let r = kv.set(ns, K_STA, Value::Blob(&buf));
                    buf.zeroize();
                    r
                }
                None => erase_missing(kv, K_STA),
            },
            Key::StaticIp => match &self.static_ip {
                Some(c) => {
                    let mut b = [0u8; 12];
                    b[..4].copy_from_slice(&c.ip.octets());
                    b[4..8].copy_from_slice(&c.gateway.octets());
                    b[8..].copy_from_slice(&c.netmask.octets());
                    kv.set(ns, K_STA_IP, Value::Blob(&b))
                }
                None => erase_missing(kv, K_STA_IP),
            },
            Key::StaMac => match &self.sta_mac {
                Some(m) => kv.set(ns, K_STA_MAC, Value::Blob(&m.0)),
                None => erase_missing(kv, K_STA_MAC),
            },
        }
    }

    /// Erase every stored setting (AT+RESTORE).
    pub fn erase_all<K: Kv>(kv: &mut K) -> Result<(), KvError> {
        kv.erase_namespace(NAMESPACE)
    }
}

fn erase_missing<K: Kv>(kv: &mut K, key: &str) -> Result<(), KvError> {
    match kv.erase(NAMESPACE, key) {
        Ok(()) | Err(KvError::NotFound) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use at_hal::kv::MemKv;

    #[test]
    fn round_trip_every_key() {
        let mut kv = MemKv::new();
        let s = Settings {
            sysmsg: 5,
            wifi_mode: WifiMode::StationAndSoftAp,
            autoconn: false,
            uart_def: uart_config(921_600, 8, 1, 0, 3).unwrap(),
            station: Some(StationConfig {
                ssid: Ssid::new(b"caf\xe9,\"x").unwrap(),
                password: Passphrase::new(b"0123456789").unwrap(),
                bssid: Some(MacAddr([0xca, 0xd7, 0x19, 0xd8, 0xa6, 0x44])),
                min_auth: 2,
                pci_en: true,
                listen_interval: 7,
                scan_mode: ScanMode::AllChannels,
                pmf: 3,
                jap_timeout_s: 20,
            }),
            reconn_interval_s: 2,
            reconn_count: 50,
            dhcp: 2,
            static_ip: Some(IpConfig {
                ip: Ipv4Addr::new(192, 168, 6, 100),
                gateway: Ipv4Addr::new(192, 168, 6, 1),
                netmask: Ipv4Addr::new(255, 255, 255, 0),
            }),
            sta_mac: Some(MacAddr([0x1a, 0xfe, 0x35, 0x98, 0xd3, 0x7b])),
        };
        for k in [
            Key::SysMsg,
            Key::WifiMode,
            Key::AutoConn,
            Key::UartDef,
            Key::Station,
            Key::Reconnect,
            Key::Dhcp,
            Key::StaticIp,
            Key::StaMac,
        ] {
            s.save(&mut kv, k).unwrap();
        }
        assert_eq!(Settings::load(&mut kv), s);
        Settings::erase_all(&mut kv).unwrap();
        assert_eq!(Settings::load(&mut kv), Settings::default());
    }

    #[test]
    fn damaged_values_fall_back_to_defaults() {
        let mut kv = MemKv::new();
        kv.set(NAMESPACE, K_MODE, Value::U8(9)).unwrap();
        kv.set(NAMESPACE, K_UART, Value::Blob(b"\x00\x00\x00\x00\x09\x01\x00\x00")).unwrap();
        kv.set(NAMESPACE, K_STA, Value::Str(b"nonsense")).unwrap();
        kv.set(NAMESPACE, K_SYSMSG, Value::Blob(b"x")).unwrap();
        assert_eq!(Settings::load(&mut kv), Settings::default());
    }
}
