//! What the TCP/IP family persists, in the settings namespace: AT+CIPTCPOPT and
//! AT+CIPRECONNINTV and AT+CIPDNS (with AT+SYSSTORE=1), AT+SAVETRANSLINK (always).
//! A value that is missing or does not decode falls back to its default.

use alloc::string::String;

use at_hal::kv::{Kv, KvError, Value};
use at_hal::net::{IpAddr, Ipv4Addr};
use at_links::{MAX_LINKS, Proto, TcpOptions};

use super::Target;
use crate::settings::NAMESPACE;

const K_TCPOPT: &str = "tcpopt";
const K_RECONNINTV: &str = "reconnintv";
const K_TRANSLINK: &str = "translink";
const K_DNS: &str = "cipdns";

/// AT+SAVETRANSLINK=1: the link passthrough opens at boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransLink {
    pub proto: Proto,
    pub host: String,
    pub port: u16,
    /// TCP/SSL keep-alive, or UDP local port.
    pub extra: u16,
}

impl TransLink {
    pub fn target(&self) -> Target {
        let udp = self.proto == Proto::Udp;
        Target {
            proto: self.proto,
            host: self.host.clone(),
            port: self.port,
            keepalive_s: if udp { 0 } else { self.extra },
            local_port: if udp { self.extra } else { 0 },
        }
    }
}

/// Everything loaded at boot.
#[derive(Debug, Default)]
pub(crate) struct Saved {
    pub tcp: [TcpOptions; MAX_LINKS],
    pub reconnintv: u16,
    pub dns: Option<[Option<IpAddr>; 3]>,
    pub translink: Option<TransLink>,
}

fn blob<K: Kv + ?Sized>(kv: &mut K, key: &str, buf: &mut [u8]) -> Option<usize> {
    match kv.get(NAMESPACE, key, buf) {
        Ok(v) => v.as_bytes().map(<[u8]>::len),
        Err(KvError::NotFound) => None,
        Err(e) => {
            log::warn!("setting {key}: {e}; using the default");
            None
        }
    }
}

pub(crate) fn load<K: Kv + ?Sized>(kv: &mut K) -> Saved {
    let mut s = Saved { reconnintv: 1, ..Saved::default() };
    let mut buf = [0u8; 80];
    if let Some(n) = blob(kv, K_TCPOPT, &mut buf)
        && n == MAX_LINKS * 11
    {
        for (i, o) in s.tcp.iter_mut().enumerate() {
            let b = &buf[i * 11..i * 11 + 11];
            *o = TcpOptions {
                linger: i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                nodelay: b[4] == 1,
                send_timeout_ms: u32::from_le_bytes([b[5], b[6], b[7], b[8]]),
                keepalive_s: u16::from_le_bytes([b[9], b[10]]),
            };
        }
    }
    match kv.get(NAMESPACE, K_RECONNINTV, &mut []) {
        Ok(Value::U16(v)) if (1..=36000).contains(&v) => s.reconnintv = v,
        Ok(_) | Err(KvError::NotFound) => {}
        Err(e) => log::warn!("setting {K_RECONNINTV}: {e}"),
    }
    if let Some(13) = blob(kv, K_DNS, &mut buf)
        && buf[0] == 1
    {
        let ip = |i: usize| {
            let o = [buf[1 + i * 4], buf[2 + i * 4], buf[3 + i * 4], buf[4 + i * 4]];
            (o != [0; 4]).then(|| IpAddr::V4(Ipv4Addr::from(o)))
        };
        s.dns = Some([ip(0), ip(1), ip(2)]);
    }
    if let Some(n) = blob(kv, K_TRANSLINK, &mut buf)
        && n >= 6
        && usize::from(buf[5]) + 6 == n
    {
        let proto = match buf[0] {
            0 => Some(Proto::Tcp),
            1 => Some(Proto::Udp),
            2 => Some(Proto::Ssl),
            _ => None,
        };
        let host = core::str::from_utf8(&buf[6..n]).ok();
        if let (Some(proto), Some(host)) = (proto, host) {
            s.translink = Some(TransLink {
                proto,
                host: String::from(host),
                port: u16::from_le_bytes([buf[1], buf[2]]),
                extra: u16::from_le_bytes([buf[3], buf[4]]),
            });
        }
    }
    s
}

pub(crate) fn save_tcp<K: Kv + ?Sized>(kv: &mut K, tcp: &[TcpOptions; MAX_LINKS]) -> Result<(), KvError> {
    let mut b = [0u8; MAX_LINKS * 11];
    for (i, o) in tcp.iter().enumerate() {
        let d = &mut b[i * 11..i * 11 + 11];
        d[..4].copy_from_slice(&o.linger.to_le_bytes());
        d[4] = u8::from(o.nodelay);
        d[5..9].copy_from_slice(&o.send_timeout_ms.to_le_bytes());
        d[9..11].copy_from_slice(&o.keepalive_s.to_le_bytes());
    }
    kv.set(NAMESPACE, K_TCPOPT, Value::Blob(&b))
}

pub(crate) fn save_reconnintv<K: Kv + ?Sized>(kv: &mut K, v: u16) -> Result<(), KvError> {
    kv.set(NAMESPACE, K_RECONNINTV, Value::U16(v))
}

pub(crate) fn save_dns<K: Kv + ?Sized>(kv: &mut K, dns: &Option<[Option<IpAddr>; 3]>) -> Result<(), KvError> {
    let mut b = [0u8; 13];
    if let Some(servers) = dns {
        b[0] = 1;
        for (i, s) in servers.iter().enumerate() {
            if let Some(IpAddr::V4(v4)) = s {
                b[1 + i * 4..5 + i * 4].copy_from_slice(&v4.octets());
            }
        }
    }
    kv.set(NAMESPACE, K_DNS, Value::Blob(&b))
}

pub(crate) fn save_translink<K: Kv + ?Sized>(kv: &mut K, t: &Option<TransLink>) -> Result<(), KvError> {
    let Some(t) = t else {
        return match kv.erase(NAMESPACE, K_TRANSLINK) {
            Ok(()) | Err(KvError::NotFound) => Ok(()),
            Err(e) => Err(e),
        };
    };
    let mut b = [0u8; 6 + 64];
    b[0] = match t.proto {
        Proto::Tcp => 0,
        Proto::Udp => 1,
        Proto::Ssl => 2,
    };
    b[1..3].copy_from_slice(&t.port.to_le_bytes());
    b[3..5].copy_from_slice(&t.extra.to_le_bytes());
    let host = t.host.as_bytes();
    let n = host.len().min(64);
    b[5] = n as u8;
    b[6..6 + n].copy_from_slice(&host[..n]);
    kv.set(NAMESPACE, K_TRANSLINK, Value::Blob(&b[..6 + n]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use at_hal::kv::MemKv;

    #[test]
    fn round_trip_and_defaults() {
        let mut kv = MemKv::new();
        let s = load(&mut kv);
        assert_eq!(s.reconnintv, 1);
        assert_eq!(s.tcp[0], TcpOptions::default());
        let mut tcp = [TcpOptions::default(); MAX_LINKS];
        tcp[3] = TcpOptions { linger: 5, nodelay: true, send_timeout_ms: 1500, keepalive_s: 60 };
        save_tcp(&mut kv, &tcp).unwrap();
        save_reconnintv(&mut kv, 50).unwrap();
        let dns = Some([Some(IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1))), None, None]);
        save_dns(&mut kv, &dns).unwrap();
        let tl =
            Some(TransLink { proto: Proto::Udp, host: String::from("example.com"), port: 9, extra: 1005 });
        save_translink(&mut kv, &tl).unwrap();
        let s = load(&mut kv);
        assert_eq!(s.tcp, tcp);
        assert_eq!(s.reconnintv, 50);
        assert_eq!(s.dns, dns);
        assert_eq!(s.translink, tl);
        save_translink(&mut kv, &None).unwrap();
        assert_eq!(load(&mut kv).translink, None);
    }
}
