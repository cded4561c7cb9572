//! Shared parameter rules, and the network utilities: AT+CIPDOMAIN, AT+CIPDNS, AT+PING,
//! AT+CIPRECONNINTV, AT+TRANSINTVL, AT+SAVETRANSLINK.

use alloc::string::String;
use core::time::Duration;

use at_hal::Platform;
use at_hal::net::{DnsQuery, IpAddr, Ipv4Addr, NetError, Network, PingId, parse_ipv4};
use at_hal::time::Instant;
use at_links::{MAX_LINKS, Proto};
use at_parser::{Args, AtError, Call, ErrorCode, ExecFail, Outcome, Reply, ok};

use super::store::{self, TransLink};
use super::{Target, Tcpip};
use crate::core::Core;

type Out<P> = Outcome<Core<P>>;

/// Longest remote host name ESP-AT takes.
pub(crate) const MAX_HOST: usize = 64;

/// A bare `ERROR`, as ESP-AT's TCP/IP handlers answer every refused request; the reason is
/// kept for `+ERRINFO` and the API.
pub(crate) fn refuse(reason: &'static str) -> AtError {
    AtError::quiet(ErrorCode::exec_fail(0), reason)
}

/// The leading `<link ID>` in multi-link mode (`0..=4`, or `0..=5` with `all`), none in
/// single-link mode (link 0). Returns the id and the index of the next parameter.
pub(crate) fn link_arg(t: &Tcpip, a: &Args<'_>, all: bool) -> Result<(u8, usize), AtError> {
    if !t.mux {
        return Ok((0, 0));
    }
    let max = if all { MAX_LINKS as i64 } else { MAX_LINKS as i64 - 1 };
    Ok((a.int_in(0, 0..=max)? as u8, 1))
}

/// A host parameter: 1..=64 bytes of UTF-8.
pub(crate) fn host_arg<'a>(a: &Args<'a>, i: usize) -> Result<&'a str, AtError> {
    let h = a.str_len(i, 1..=MAX_HOST)?;
    core::str::from_utf8(h).map_err(|_| AtError::invalid(i, "host must be UTF-8"))
}

/// Fail unless the station has an address (ESP-AT: "no ip").
pub(crate) fn need_ip<P: Platform>(c: &mut Core<P>) -> Result<(), AtError> {
    if c.platform.net().ip_config().is_some() {
        Ok(())
    } else {
        Err(refuse("the station has no IP address (AT+CWJAP first)"))
    }
}

/// An AT+CIPDOMAIN or AT+PING waiting for the network.
#[derive(Debug)]
pub(crate) enum Lookup {
    Domain { query: DnsQuery, deadline: Instant },
    PingDns { query: DnsQuery, deadline: Instant },
    Ping { id: PingId, deadline: Instant },
}

/// ESP-AT's AT+PING timeout.
const PING_TIMEOUT: Duration = Duration::from_millis(1000);

// ---- AT+CIPDOMAIN ----

pub(crate) fn cipdomain_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 4)?;
    let host = host_arg(a, 0)?;
    let family = a.int_or(1, 1..=3, 1)?;
    if family == 3 {
        return Err(refuse("IPv6 is not supported"));
    }
    let timeout = a.int_or(2, 0..=60_000, 0)? as u64;
    a.opt_int_in(3, 0..=1)?;
    need_ip(c)?;
    let now = call.now();
    let query = c
        .platform
        .net()
        .dns_start(host, now)
        .map_err(|e| refuse("the lookup could not start").with_detail(format_args!("{e}")))?;
    let ms = if timeout == 0 { 10_000 } else { timeout };
    c.st.tcpip.lookup = Some(Lookup::Domain { query, deadline: now + Duration::from_millis(ms) });
    Ok(Reply::Pending(cipdomain_poll::<P>))
}

fn cipdomain_poll<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Option<Out<P>> {
    let Some(Lookup::Domain { query, deadline }) = c.st.tcpip.lookup else {
        return Some(Err(refuse("no lookup")));
    };
    let net = c.platform.net();
    match net.dns_result(query) {
        Err(NetError::WouldBlock) if call.now() < deadline => None,
        Err(NetError::WouldBlock) => {
            net.dns_cancel(query);
            c.st.tcpip.lookup = None;
            Some(Err(refuse("the lookup timed out")))
        }
        Err(e) => {
            c.st.tcpip.lookup = None;
            Some(Err(refuse("the name did not resolve").with_detail(format_args!("{e}"))))
        }
        Ok(ip) => {
            c.st.tcpip.lookup = None;
            call.line(format_args!("+CIPDOMAIN:\"{ip}\""));
            Some(ok())
        }
    }
}

// ---- AT+PING ----

pub(crate) fn ping_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 1)?;
    let host = host_arg(a, 0)?;
    need_ip(c)?;
    let now = call.now();
    let net = c.platform.net();
    let lookup = match host.parse::<IpAddr>() {
        Ok(ip) => match net.ping_start(ip, now) {
            Ok(id) => Lookup::Ping { id, deadline: now + PING_TIMEOUT },
            Err(e) => {
                return Err(
                    refuse("ping is not available on this network backend").with_detail(format_args!("{e}"))
                );
            }
        },
        Err(_) => {
            let query = net
                .dns_start(host, now)
                .map_err(|e| refuse("lookup failed").with_detail(format_args!("{e}")))?;
            Lookup::PingDns { query, deadline: now + Duration::from_secs(10) }
        }
    };
    c.st.tcpip.lookup = Some(lookup);
    Ok(Reply::Pending(ping_poll::<P>))
}

fn ping_timeout<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Option<Out<P>> {
    c.st.tcpip.lookup = None;
    call.line(format_args!("+PING:TIMEOUT"));
    Some(Err(refuse("no reply")))
}

fn ping_poll<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Option<Out<P>> {
    let now = call.now();
    let net = c.platform.net();
    match c.st.tcpip.lookup {
        Some(Lookup::PingDns { query, deadline }) => match net.dns_result(query) {
            Err(NetError::WouldBlock) if now < deadline => None,
            Ok(ip) => match net.ping_start(ip, now) {
                Ok(id) => {
                    c.st.tcpip.lookup = Some(Lookup::Ping { id, deadline: now + PING_TIMEOUT });
                    None
                }
                Err(_) => ping_timeout(c, call),
            },
            // ESP-AT answers a name that does not resolve with +PING:TIMEOUT too.
            Err(_) => {
                net.dns_cancel(query);
                ping_timeout(c, call)
            }
        },
        Some(Lookup::Ping { id, deadline }) => match net.ping_result(id, now) {
            Ok(rtt) => {
                c.st.tcpip.lookup = None;
                // ESP-AT reports at least 1 ms.
                call.line(format_args!("+PING:{}", rtt.as_millis().max(1)));
                Some(ok())
            }
            Err(NetError::WouldBlock) if now < deadline => None,
            Err(_) => {
                net.ping_cancel(id);
                ping_timeout(c, call)
            }
        },
        _ => Some(Err(refuse("no ping"))),
    }
}

// ---- AT+CIPDNS ----

/// The servers ESP-AT falls back to when none are set (docs, AT+CIPDNS).
const DEFAULT_DNS: [Ipv4Addr; 3] =
    [Ipv4Addr::new(208, 67, 222, 222), Ipv4Addr::new(114, 114, 114, 114), Ipv4Addr::new(8, 8, 8, 8)];

pub(crate) fn cipdns_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    match &c.st.tcpip.dns {
        Some(servers) => {
            call.text(format_args!("+CIPDNS:1"));
            for s in servers.iter().flatten() {
                call.text(format_args!(",\"{s}\""));
            }
        }
        None => {
            call.text(format_args!("+CIPDNS:0"));
            for s in DEFAULT_DNS {
                call.text(format_args!(",\"{s}\""));
            }
        }
    }
    call.write(b"\r\n");
    ok()
}

pub(crate) fn cipdns_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 4)?;
    let enable = a.int_in(0, 0..=1)? == 1;
    let mut servers: [Option<IpAddr>; 3] = [None; 3];
    for (i, slot) in servers.iter_mut().enumerate() {
        if let Some(s) = a.opt_str(1 + i)? {
            let ip = parse_ipv4(s).ok_or(AtError::invalid(1 + i, "not an IPv4 address"))?;
            *slot = Some(IpAddr::V4(ip));
        }
    }
    if !enable && a.len() > 1 {
        return Err(AtError::count(1, a.len(), "servers are only given with enable 1"));
    }
    let given: alloc::vec::Vec<IpAddr> = servers.iter().flatten().copied().collect();
    if enable && given.is_empty() {
        return Err(refuse("give at least one DNS server"));
    }
    if given.iter().enumerate().any(|(i, s)| given[..i].contains(s)) {
        return Err(refuse("the DNS servers must differ"));
    }
    let net = c.platform.net();
    net.set_dns_servers(if enable { &given } else { &[] })
        .map_err(|e| AtError::exec(ExecFail::Network).with_detail(format_args!("{e}")))?;
    c.st.tcpip.dns = enable.then_some(servers);
    if c.st.basic.sysstore {
        store::save_dns(c.platform.settings(), &c.st.tcpip.dns)
            .map_err(|_| AtError::exec(ExecFail::SettingsSave))?;
    }
    ok()
}

// ---- AT+CIPRECONNINTV, AT+TRANSINTVL ----

pub(crate) fn reconnintv_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.line(format_args!("+CIPRECONNINTV:{}", c.st.tcpip.reconnintv));
    ok()
}

pub(crate) fn reconnintv_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 1)?;
    let v = a.int_in(0, 1..=36_000)? as u16;
    c.st.tcpip.reconnintv = v;
    if c.st.basic.sysstore {
        store::save_reconnintv(c.platform.settings(), v)
            .map_err(|_| AtError::exec(ExecFail::SettingsSave))?;
    }
    ok()
}

pub(crate) fn transintvl_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.line(format_args!("+TRANSINTVL:{}", c.st.tcpip.transintvl_ms));
    ok()
}

pub(crate) fn transintvl_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 1)?;
    c.st.tcpip.transintvl_ms = a.int_in(0, 0..=1000)? as u16;
    ok()
}

// ---- AT+SAVETRANSLINK ----

/// `AT+SAVETRANSLINK=0` clears; `=1,"<host>",<port>[,"<type>"][,<keep_alive>|<local port>]`
/// stores a link that passthrough opens at every boot (saved whatever AT+SYSSTORE says). The
/// host is resolved now, as ESP-AT does (a name that does not resolve is refused).
pub(crate) fn savetranslink_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    let mode = a.int_in(0, 0..=3)?;
    let translink = match mode {
        0 => {
            a.expect_count(1, 1)?;
            None
        }
        1 => {
            a.expect_count(3, 5)?;
            let host = host_arg(a, 1)?;
            let port = a.int_in(2, 1..=65_535)? as u16;
            let proto = match a.opt_str(3)? {
                None => Proto::Tcp,
                Some(t) => Proto::parse(t).ok_or(refuse("type must be \"TCP\", \"UDP\" or \"SSL\""))?,
            };
            let extra = match proto {
                Proto::Udp => a.int_or(4, 1..=65_535, 0)?,
                _ => a.int_or(4, 0..=7200, 0)?,
            } as u16;
            if host.parse::<IpAddr>().is_err() {
                need_ip(c)?;
                let now = call.now();
                let q =
                    c.platform.net().dns_start(host, now).map_err(|_| refuse("the host does not resolve"))?;
                // Resolved below by the poll; the stored entry keeps the name.
                c.st.tcpip.lookup =
                    Some(Lookup::Domain { query: q, deadline: now + Duration::from_secs(10) });
                c.st.tcpip.pending_translink =
                    Some(TransLink { proto, host: String::from(host), port, extra });
                return Ok(Reply::Pending(savetranslink_poll::<P>));
            }
            Some(TransLink { proto, host: String::from(host), port, extra })
        }
        _ => return Err(refuse("only AT+SAVETRANSLINK modes 0 and 1 (client) are supported")),
    };
    store::save_translink(c.platform.settings(), &translink)
        .map_err(|_| AtError::exec(ExecFail::SettingsSave))?;
    ok()
}

fn savetranslink_poll<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Option<Out<P>> {
    let Some(Lookup::Domain { query, deadline }) = c.st.tcpip.lookup else {
        return Some(Err(refuse("no lookup")));
    };
    let net = c.platform.net();
    match net.dns_result(query) {
        Err(NetError::WouldBlock) if call.now() < deadline => None,
        Ok(_) => {
            c.st.tcpip.lookup = None;
            let t = c.st.tcpip.pending_translink.take();
            Some(
                store::save_translink(c.platform.settings(), &t)
                    .map(|()| Reply::Done(at_parser::ResultCode::Ok))
                    .map_err(|_| AtError::exec(ExecFail::SettingsSave)),
            )
        }
        Err(_) => {
            net.dns_cancel(query);
            c.st.tcpip.lookup = None;
            c.st.tcpip.pending_translink = None;
            Some(Err(refuse("the host does not resolve")))
        }
    }
}

/// A connect target from AT+CIPSTART's parameters (for passthrough reconnects).
pub(crate) fn target(proto: Proto, host: &str, port: u16, keepalive_s: u16, local_port: u16) -> Target {
    Target { proto, host: String::from(host), port, keepalive_s, local_port }
}
