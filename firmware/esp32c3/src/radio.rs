//! [`NoRadio`]: the Wi-Fi station and the IP stack of this milestone — **not implemented**.
//!
//! Radio not yet integrated: esp-radio (the Wi-Fi station) and smoltcp (the IP stack behind
//! `at_hal::net::Network`) come next. Until then every operation answers the trait's "not
//! supported" error ([`WifiError::Unsupported`], [`NetError::Unsupported`]), so `AT+CWJAP`,
//! `AT+CWLAP`, `AT+CIPSTART`, `AT+CIPSERVER`, `AT+CIPSNTPCFG`... answer `ERROR` (with
//! `AT+SYSLOG=1`, `+ERRINFO` names the reason) instead of pretending. Nothing here is simulated.
//!
//! Two things are real: the station MAC address is the chip's factory MAC from eFuse (what
//! ESP-IDF uses for the station interface), and switching the radio *off* (`AT+CWMODE=0`)
//! succeeds, because it is off.

use at_hal::net::{
    Datagram, DnsQuery, IpAddr, IpConfig, NetError, NetEvent, Network, SntpConfig, SocketAddr, SocketHandle,
    SocketOption,
};
use at_hal::time::Instant;
use at_hal::wifi::{ApInfo, JoinParams, MacAddr, ScanParams, WifiError, WifiEvent, WifiMode, WifiStation};

/// Wi-Fi station and IP stack placeholder: radio not yet integrated (esp-radio + smoltcp come
/// next). See the module docs.
#[derive(Debug)]
pub struct NoRadio {
    mac: MacAddr,
}

impl NoRadio {
    /// A placeholder reporting the chip's factory station MAC.
    pub fn new() -> Self {
        let m = esp_hal::efuse::base_mac_address();
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&m.as_bytes()[..6]);
        NoRadio { mac: MacAddr(mac) }
    }
}

impl Default for NoRadio {
    fn default() -> Self {
        NoRadio::new()
    }
}

const NO_WIFI: WifiError = WifiError::Unsupported;
const NO_NET: NetError = NetError::Unsupported;

impl WifiStation for NoRadio {
    fn set_mode(&mut self, mode: WifiMode) -> Result<(), WifiError> {
        match mode {
            WifiMode::Off => Ok(()),
            _ => Err(NO_WIFI),
        }
    }
    fn start_join(&mut self, _: &JoinParams<'_>, _: Instant) -> Result<(), WifiError> {
        Err(NO_WIFI)
    }
    fn disconnect(&mut self) -> Result<(), WifiError> {
        Err(NO_WIFI)
    }
    fn start_scan(&mut self, _: &ScanParams<'_>, _: Instant) -> Result<(), WifiError> {
        Err(NO_WIFI)
    }
    fn scan_result(&self, _: usize) -> Option<ApInfo> {
        None
    }
    fn connected_ap(&self) -> Option<ApInfo> {
        None
    }
    fn mac(&self) -> MacAddr {
        self.mac
    }
    fn set_mac(&mut self, _: MacAddr) -> Result<(), WifiError> {
        Err(NO_WIFI)
    }
    fn poll(&mut self, _: Instant) -> Option<WifiEvent> {
        None
    }
    fn next_deadline(&self) -> Option<Instant> {
        None
    }
}

impl Network for NoRadio {
    fn set_link(&mut self, _: bool, _: Instant) {}
    fn ip_config(&self) -> Option<IpConfig> {
        None
    }
    fn set_dhcp(&mut self, _: bool, _: Instant) {}
    fn set_static_ip(&mut self, _: IpConfig, _: Instant) -> Result<(), NetError> {
        Err(NO_NET)
    }
    fn set_hostname(&mut self, _: &str) -> Result<(), NetError> {
        Err(NO_NET)
    }
    fn set_dns_servers(&mut self, _: &[IpAddr]) -> Result<(), NetError> {
        Err(NO_NET)
    }
    fn configure_sntp(&mut self, _: &SntpConfig<'_>, _: Instant) -> Result<(), NetError> {
        Err(NO_NET)
    }
    fn dns_start(&mut self, _: &str, _: Instant) -> Result<DnsQuery, NetError> {
        Err(NO_NET)
    }
    fn dns_result(&mut self, _: DnsQuery) -> Result<IpAddr, NetError> {
        Err(NO_NET)
    }
    fn dns_cancel(&mut self, _: DnsQuery) {}
    fn tcp_connect(&mut self, _: SocketAddr, _: u16, _: Instant) -> Result<SocketHandle, NetError> {
        Err(NO_NET)
    }
    fn tcp_listen(&mut self, _: u16, _: u8) -> Result<SocketHandle, NetError> {
        Err(NO_NET)
    }
    fn tcp_accept(&mut self, _: SocketHandle) -> Result<(SocketHandle, SocketAddr), NetError> {
        Err(NO_NET)
    }
    fn udp_bind(&mut self, _: u16) -> Result<SocketHandle, NetError> {
        Err(NO_NET)
    }
    fn send(&mut self, _: SocketHandle, _: &[u8]) -> Result<usize, NetError> {
        Err(NO_NET)
    }
    fn recv(&mut self, _: SocketHandle, _: &mut [u8]) -> Result<usize, NetError> {
        Err(NO_NET)
    }
    fn send_to(&mut self, _: SocketHandle, _: &[u8], _: SocketAddr) -> Result<(), NetError> {
        Err(NO_NET)
    }
    fn recv_from(&mut self, _: SocketHandle, _: &mut [u8]) -> Result<Datagram, NetError> {
        Err(NO_NET)
    }
    fn set_option(&mut self, _: SocketHandle, _: SocketOption) -> Result<(), NetError> {
        Err(NO_NET)
    }
    fn local_addr(&self, _: SocketHandle) -> Result<SocketAddr, NetError> {
        Err(NO_NET)
    }
    fn close(&mut self, _: SocketHandle) {}
    fn abort(&mut self, _: SocketHandle) {}
    fn poll(&mut self, _: Instant) -> Option<NetEvent> {
        None
    }
    fn next_deadline(&self) -> Option<Instant> {
        None
    }
}
