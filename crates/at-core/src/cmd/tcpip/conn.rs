//! Links and the server: AT+CIPMUX, AT+CIPSTART, AT+CIPSTARTEX, AT+CIPCLOSE, AT+CIPSTATE,
//! AT+CIPSTATUS, AT+CIPSERVER, AT+CIPSERVERMAXCONN, AT+CIPSTO, AT+CIPMODE, AT+CIPDINFO,
//! AT+CIPTCPOPT. Rules and bytes follow ESP-AT v4.1.1.0's core library (docs/compat.md).

use at_hal::Platform;
use at_hal::net::{IpAddr, parse_ipv4};
use at_links::{ConnectState, Host, LinkError, MAX_LINKS, Proto, TcpOptions, UdpMode};
use at_parser::{Args, AtError, Call, ExecFail, Outcome, Reply, ok};

use super::store;
use super::util::{host_arg, link_arg, need_ip, refuse, target};
use crate::core::{Core, StaStatus};
use crate::urc::{self, Message};

type Out<P> = Outcome<Core<P>>;

fn has_tcp_link<P: Platform>(c: &Core<P>) -> bool {
    let l = &c.st.tcpip.links;
    l.ids().any(|id| l.get(id).is_some_and(|k| k.proto() != Proto::Udp))
}

// ---- AT+CIPMUX ----

pub(crate) fn cipmux_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.line(format_args!("+CIPMUX:{}", u8::from(c.st.tcpip.mux)));
    ok()
}

pub(crate) fn cipmux_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 1)?;
    let mux = a.int_in(0, 0..=1)? == 1;
    if has_tcp_link(c) {
        return Err(refuse("close the TCP/SSL links first"));
    }
    let t = &c.st.tcpip;
    if mux && t.mode != 0 {
        return Err(refuse("multiple links need AT+CIPMODE=0"));
    }
    if !mux && (t.links.server().is_some() || t.links.count() > 0) {
        return Err(refuse("delete the server and close the links first"));
    }
    c.st.tcpip.mux = mux;
    ok()
}

// ---- AT+CIPSTART / AT+CIPSTARTEX ----

pub(crate) fn cipstart_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    start(c, call, a, false)
}

pub(crate) fn cipstartex_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    start(c, call, a, true)
}

fn start<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>, ex: bool) -> Out<P> {
    let t = &c.st.tcpip;
    if t.mode != 0 && (t.links.server().is_some() || t.links.count() > 0) {
        return Err(refuse("passthrough mode allows one link only"));
    }
    let (id, o) = if ex { (0, 0) } else { link_arg(t, a, false)? };
    let proto = Proto::parse(a.str(o)?).ok_or(refuse("type must be \"TCP\", \"UDP\" or \"SSL\""))?;
    let host = host_arg(a, o + 1)?;
    let port = a.int_in(o + 2, 1..=65_535)? as u16;
    let cfg = c.st.tcpip.links.config(id).map_err(super::link_error)?;
    let (keepalive_s, local_port, udp_mode, next) = match proto {
        Proto::Udp => {
            let local = a.int_or(o + 3, 1..=65_535, 0)? as u16;
            let mode = match a.int_or(o + 4, 0..=2, 0)? {
                0 => UdpMode::Fixed,
                1 => UdpMode::ChangeOnce,
                _ => UdpMode::Follow,
            };
            if c.st.tcpip.mode != 0 && mode != UdpMode::Fixed {
                return Err(refuse("passthrough needs UDP mode 0"));
            }
            (0, local, mode, o + 5)
        }
        _ => {
            // Omitted keeps the link slot's keep-alive (AT+CIPTCPOPT).
            let keepalive = a.int_or(o + 3, 0..=7200, i64::from(cfg.tcp.keepalive_s))? as u16;
            (keepalive, 0, UdpMode::Fixed, o + 4)
        }
    };
    // `<"local IP">`: omitted means any; an explicit "" is refused (ESP-AT's firmware).
    if let Some(ip) = a.opt_str(next)? {
        parse_ipv4(ip).ok_or(refuse("local IP must be an IPv4 address"))?;
    }
    let timeout_ms = a.int_or(next + 1, 0..=60_000, 0)? as u32;
    if a.len() > next + 2 {
        return Err(AtError::count(next + 2, a.len(), "too many parameters"));
    }
    need_ip(c)?;
    let t = &mut c.st.tcpip;
    let id = if ex && t.mux { t.links.free_id().ok_or(refuse("all 5 links are in use"))? } else { id };
    let connect = at_links::Connect {
        proto,
        host: match host.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(host),
        },
        port,
        local_port,
        udp_mode,
        keepalive_s,
        timeout_ms,
    };
    if proto == Proto::Ssl && c.st.tcpip.links.get(id).is_some() {
        log::warn!("AT+CIPSTART: ALREADY CONNECTED (link {id})");
        return Err(refuse("ALREADY CONNECTED: the link id is in use"));
    }
    let session = if proto == Proto::Ssl {
        // Credentials and settings are checked now: a missing certificate is this command's
        // ERROR (ESP-AT: +ERRNO:0x4301), before any socket exists.
        let s = c.ssl_client_session(id, host, call.now()).inspect_err(|_| {
            if c.st.basic.syslog {
                call.line(format_args!("+ERRNO:0x4301"));
            }
        })?;
        Some(s)
    } else {
        None
    };
    let net = c.platform.net();
    let t = &mut c.st.tcpip;
    let started = match session {
        Some(s) => t.links.connect_tls(net, id, &connect, s, call.now()),
        None => t.links.connect(net, id, &connect, call.now()),
    };
    match started {
        Ok(()) => {}
        Err(LinkError::InUse) => {
            log::warn!("AT+CIPSTART: ALREADY CONNECTED (link {id})");
            return Err(refuse("ALREADY CONNECTED: the link id is in use"));
        }
        Err(e) => return Err(connect_failed(c, call, e)),
    }
    c.st.tcpip.awaiting = Some(id);
    c.st.tcpip.last_target = Some(target(proto, host, port, keepalive_s, local_port));
    Ok(Reply::Pending(start_poll::<P>))
}

/// `[+ERRNO:0x<n>]` (with AT+SYSLOG=1) and the error of a failed connect.
fn connect_failed<P: Platform>(c: &Core<P>, call: &mut Call<'_>, e: LinkError) -> AtError {
    if c.st.basic.syslog {
        let errno = match e {
            LinkError::Net(n) => super::errno(n),
            // ESP-AT: the SSL client configuration could not be built.
            LinkError::NoTls => 0x4301,
            _ => 0x4001,
        };
        call.line(format_args!("+ERRNO:0x{errno:x}"));
    }
    super::link_error(e)
}

fn start_poll<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Option<Out<P>> {
    let t = &mut c.st.tcpip;
    let id = t.awaiting?;
    match t.links.connect_state(id) {
        ConnectState::Pending => None,
        ConnectState::Open => {
            t.awaiting = None;
            // CONNECT and OK go out now; the link's data and CLOSED may follow.
            t.links.unawait(id);
            t.had_tcp_link |= t.links.get(id).is_some_and(|l| l.proto() != Proto::Udp);
            if let Some(m) = t.connect_message(id) {
                let _ = urc::format(&m, c.st.settings.sysmsg, call);
            }
            Some(ok())
        }
        ConnectState::Failed(e) => {
            t.awaiting = None;
            // No CLOSED for a connect that failed (ESP-AT).
            let _ = t.links.close(c.platform.net(), id);
            Some(Err(connect_failed(c, call, LinkError::Net(e))))
        }
        ConnectState::TlsFailed(e) => {
            // The server failed verification (or the handshake failed): no CONNECT, ever.
            t.awaiting = None;
            let _ = t.links.close(c.platform.net(), id);
            Some(Err(super::ssl::handshake_error(e)))
        }
    }
}

// ---- AT+CIPCLOSE ----

pub(crate) fn cipclose_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 1)?;
    if !c.st.tcpip.mux {
        return Err(refuse("AT+CIPCLOSE=<id> needs AT+CIPMUX=1 (use AT+CIPCLOSE)"));
    }
    let id = a.int_in(0, 0..=MAX_LINKS as i64)? as u8;
    let net = c.platform.net();
    let t = &mut c.st.tcpip;
    let ids: alloc::vec::Vec<u8> =
        if usize::from(id) == MAX_LINKS { t.links.ids().collect() } else { [id].into() };
    if usize::from(id) < MAX_LINKS && t.links.get(id).is_none() {
        return Err(refuse("no such link"));
    }
    for id in ids {
        if t.links.close(net, id).is_ok() {
            let _ = urc::format(&Message::Closed { link: Some(id) }, 0, call);
        }
    }
    ok()
}

pub(crate) fn cipclose_exec<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    if c.st.tcpip.mux {
        return Err(refuse("AT+CIPCLOSE needs AT+CIPMUX=0 (use AT+CIPCLOSE=<id>)"));
    }
    let net = c.platform.net();
    c.st.tcpip.links.close(net, 0).map_err(|_| refuse("no link is open"))?;
    let _ = urc::format(&Message::Closed { link: None }, 0, call);
    ok()
}

// ---- AT+CIPSTATE, AT+CIPSTATUS ----

fn state_lines<P: Platform>(c: &Core<P>, call: &mut Call<'_>, prefix: &str) {
    let t = &c.st.tcpip;
    for id in t.links.ids() {
        let Some(l) = t.links.get(id) else { continue };
        if !l.is_open() {
            continue;
        }
        call.line(format_args!(
            "{prefix}:{},\"{}\",\"{}\",{},{},{}",
            id,
            l.proto().name(),
            l.remote().ip(),
            l.remote().port(),
            l.local_port(),
            u8::from(l.is_server())
        ));
    }
}

pub(crate) fn cipstate_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    state_lines(c, call, "+CIPSTATE");
    ok()
}

/// Deprecated in ESP-AT's docs, still registered in its firmware: `STATUS:<stat>` then the
/// links. `<stat>`: 0 station off, 1 station on without address, 2 address, 3 a TCP/SSL
/// link open, 4 all TCP/SSL links closed since, 5 disconnected from the AP.
pub(crate) fn cipstatus_exec<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let stat = if !c.st.settings.wifi_mode.has_station() {
        0
    } else {
        match c.st.wifi.sta.status {
            StaStatus::GotIp if has_tcp_link(c) => 3,
            StaStatus::GotIp if c.st.tcpip.had_tcp_link => 4,
            StaStatus::GotIp => 2,
            StaStatus::Disconnected => 5,
            _ => 1,
        }
    };
    call.line(format_args!("STATUS:{stat}"));
    state_lines(c, call, "+CIPSTATUS");
    ok()
}

// ---- AT+CIPSERVER, AT+CIPSERVERMAXCONN, AT+CIPSTO ----

pub(crate) fn cipserver_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let t = &c.st.tcpip;
    match t.links.server() {
        None => call.line(format_args!("+CIPSERVER:0")),
        Some((port, proto)) => call.line(format_args!(
            "+CIPSERVER:1,{port},\"{}\",{},{}",
            proto.name(),
            u8::from(t.server_ca),
            t.server_netif
        )),
    }
    ok()
}

pub(crate) fn cipserver_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    if !c.st.tcpip.mux {
        return Err(refuse("the server needs AT+CIPMUX=1"));
    }
    match a.int_in(0, 0..=1)? {
        0 => {
            a.expect_count(1, 2)?;
            let close = if a.len() == 2 { a.int_in(1, 0..=1)? == 1 } else { false };
            let net = c.platform.net();
            for id in c.st.tcpip.links.unlisten(net, close) {
                let _ = urc::format(&Message::Closed { link: Some(id) }, 0, call);
            }
            ok()
        }
        _ => {
            a.expect_count(1, 5)?;
            let t = &c.st.tcpip;
            let clients = t.links.count() > 0;
            if t.mode != 0 && (clients || t.links.max_conn() != 1) {
                return Err(refuse(
                    "passthrough allows a server only with AT+CIPSERVERMAXCONN=1 and no link",
                ));
            }
            let port = a.int_or(1, 1..=65_535, 333)? as u16;
            let proto = match a.opt_str(2)? {
                None | Some(b"") => Proto::Tcp,
                Some(s) => match Proto::parse(s) {
                    Some(p @ (Proto::Tcp | Proto::Ssl)) => p,
                    _ => return Err(refuse("server type must be \"TCP\" or \"SSL\"")),
                },
            };
            // TCP: the 4th parameter is <netif>; SSL: <CA enable>, then <netif> (firmware).
            let (ca, netif) = match proto {
                Proto::Ssl => (a.int_or(3, 0..=1, 0)? == 1, a.int_or(4, 0..=3, 0)?),
                _ => {
                    if a.len() > 4 {
                        return Err(AtError::count(4, a.len(), "a TCP server takes no CA parameter"));
                    }
                    (false, a.int_or(3, 0..=3, 0)?)
                }
            };
            if netif >= 2 {
                return Err(refuse("only netif 0 (all) and 1 (station) exist here"));
            }
            if netif == 1 {
                need_ip(c)?;
            }
            if let Some((p, k)) = c.st.tcpip.links.server() {
                let same = p == port
                    && k == proto
                    && c.st.tcpip.server_ca == ca
                    && c.st.tcpip.server_netif == netif as u8;
                return if same {
                    ok()
                } else {
                    Err(refuse("a server is already running with other parameters"))
                };
            }
            // SSL: the credentials are read and checked now; any problem is this command's
            // ERROR and no listener exists (ESP-AT answers OK and fails every connection).
            let acceptor = if proto == Proto::Ssl { Some(c.ssl_acceptor(ca, call.now())?) } else { None };
            let net = c.platform.net();
            let listening = match acceptor {
                Some(a) => c.st.tcpip.links.listen_tls(net, port, a),
                None => c.st.tcpip.links.listen(net, port, proto),
            };
            listening.map_err(|e| {
                if c.st.basic.syslog {
                    call.line(format_args!("+ERRNO:0x{:x}", 0x4004));
                }
                super::link_error(e)
            })?;
            c.st.tcpip.server_ca = ca;
            c.st.tcpip.server_netif = netif as u8;
            ok()
        }
    }
}

pub(crate) fn maxconn_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.line(format_args!("+CIPSERVERMAXCONN:{}", c.st.tcpip.links.max_conn()));
    ok()
}

pub(crate) fn maxconn_set<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 1)?;
    if c.st.tcpip.links.server().is_some() {
        return Err(refuse("set AT+CIPSERVERMAXCONN before AT+CIPSERVER"));
    }
    let n = a.int_in(0, 1..=MAX_LINKS as i64)? as u8;
    let open = c.st.tcpip.links.server_links();
    if usize::from(n) < open {
        call.line(format_args!("Have {open} Connections"));
        return Err(refuse("more server links are still open"));
    }
    c.st.tcpip.links.set_max_conn(n);
    ok()
}

pub(crate) fn cipsto_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.line(format_args!("+CIPSTO:{}", c.st.tcpip.links.server_timeout()));
    ok()
}

pub(crate) fn cipsto_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 1)?;
    let s = a.int_in(0, 0..=7200)? as u16;
    if c.st.tcpip.links.server().is_none() {
        return Err(refuse("AT+CIPSTO needs a running server (firmware)"));
    }
    c.st.tcpip.links.set_server_timeout(s);
    ok()
}

// ---- AT+CIPMODE, AT+CIPDINFO ----

pub(crate) fn cipmode_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.line(format_args!("+CIPMODE:{}", c.st.tcpip.mode));
    ok()
}

pub(crate) fn cipmode_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 1)?;
    let mode = a.int_in(0, 0..=1)? as u8;
    let t = &c.st.tcpip;
    let clients = t.links.ids().filter(|&i| t.links.get(i).is_some_and(|l| !l.is_server())).count();
    let server = t.links.server().is_some();
    if (clients > 0 && server) || clients > 1 || (server && t.links.max_conn() != 1) {
        return Err(refuse("passthrough allows one link only"));
    }
    if mode == 1 && t.links.get(0).is_some_and(|l| l.proto() == Proto::Udp && l.udp_mode() != UdpMode::Fixed)
    {
        return Err(refuse("passthrough needs UDP mode 0"));
    }
    c.st.tcpip.mode = mode;
    ok()
}

/// ESP-AT prints this line without `\r\n`.
pub(crate) fn cipdinfo_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    call.text(format_args!("+CIPDINFO:{}", if c.st.tcpip.dinfo { "true" } else { "false" }));
    ok()
}

pub(crate) fn cipdinfo_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    a.expect_count(1, 1)?;
    c.st.tcpip.dinfo = a.int_in(0, 0..=1)? == 1;
    ok()
}

// ---- AT+CIPTCPOPT ----

pub(crate) fn tcpopt_query<P: Platform>(c: &mut Core<P>, call: &mut Call<'_>) -> Out<P> {
    let t = &c.st.tcpip;
    let ids = if t.mux { 0..MAX_LINKS as u8 } else { 0..1 };
    for id in ids {
        let o = t.links.config(id).map(|c| c.tcp).unwrap_or_default();
        call.line(format_args!(
            "+CIPTCPOPT:{id},{},{},{},{}",
            o.linger,
            u8::from(o.nodelay),
            o.send_timeout_ms,
            o.keepalive_s
        ));
    }
    ok()
}

/// `AT+CIPTCPOPT=[<id>,]<so_linger>,<tcp_nodelay>,<so_sndtimeo>[,<keep_alive>]`: the three
/// middle fields must be there (they may be empty: -1, 0, 0); keep-alive omitted keeps its value.
pub(crate) fn tcpopt_set<P: Platform>(c: &mut Core<P>, _: &mut Call<'_>, a: &Args<'_>) -> Out<P> {
    let (id, o) = link_arg(&c.st.tcpip, a, true)?;
    if a.len() < o + 3 {
        return Err(AtError::new(
            at_parser::ErrorCode::para_parse_fail(a.len()),
            "linger, nodelay and send timeout fields are required",
        ));
    }
    a.expect_count(o + 3, o + 4)?;
    let linger = a.int_or(o, -1..=i64::from(i32::MAX), -1)? as i32;
    let nodelay = a.int_or(o + 1, 0..=1, 0)? == 1;
    let sndtimeo = a.int_or(o + 2, 0..=i64::from(u32::MAX), 0)? as u32;
    let keepalive = a.opt_int_in(o + 3, 0..=7200)?;
    let ids: alloc::vec::Vec<u8> =
        if usize::from(id) == MAX_LINKS { (0..MAX_LINKS as u8).collect() } else { [id].into() };
    let net = c.platform.net();
    let t = &mut c.st.tcpip;
    for id in ids {
        let mut cfg = t.links.config(id).map_err(super::link_error)?;
        cfg.tcp = TcpOptions {
            linger,
            nodelay,
            send_timeout_ms: sndtimeo,
            keepalive_s: keepalive.map_or(cfg.tcp.keepalive_s, |k| k as u16),
        };
        t.links.set_config(net, id, cfg).map_err(super::link_error)?;
    }
    if c.st.basic.sysstore {
        let tcp: [TcpOptions; MAX_LINKS] =
            core::array::from_fn(|i| c.st.tcpip.links.config(i as u8).map(|c| c.tcp).unwrap_or_default());
        store::save_tcp(c.platform.settings(), &tcp).map_err(|_| AtError::exec(ExecFail::SettingsSave))?;
    }
    ok()
}
