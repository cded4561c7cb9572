//! The TCP/IP command family: links (`AT+CIPSTART`, `AT+CIPSERVER`, ...), sending
//! (`AT+CIPSEND*`, passthrough), receiving (`+IPD`, passive mode) and the network utilities
//! (`AT+CIPDOMAIN`, `AT+CIPDNS`, `AT+PING`).
//!
//! The links themselves are `at_links::Links`; this family holds the AT-level state around
//! them (CIPMUX, CIPMODE, CIPDINFO, passthrough), turns link events and received data into
//! messages through the emitter, and persists what ESP-AT persists (AT+CIPTCPOPT,
//! AT+CIPRECONNINTV, AT+CIPDNS with AT+SYSSTORE=1; AT+SAVETRANSLINK always).

pub(crate) mod conn;
pub(crate) mod recv;
pub(crate) mod send;
pub(crate) mod ssl;
pub(crate) mod store;
pub(crate) mod util;

use alloc::string::String;
use core::time::Duration;

use at_hal::Platform;
use at_hal::net::{IpAddr, NetError, Network};
use at_hal::time::Instant;
use at_links::{Connect, ConnectState, Host, LinkEvent, Links, MAX_LINKS, Proto, RecvMode, UdpMode};
use at_parser::{AtError, DataPhase};

use crate::core::Core;
use crate::urc::{Emitted, Message, Urc};

pub(crate) use store::TransLink;

/// What a passthrough session needs to reconnect its link.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub proto: Proto,
    pub host: String,
    pub port: u16,
    pub keepalive_s: u16,
    pub local_port: u16,
}

impl Target {
    pub fn connect(&self) -> Connect<'_> {
        let host = match self.host.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(&self.host),
        };
        Connect {
            proto: self.proto,
            host,
            port: self.port,
            local_port: self.local_port,
            udp_mode: UdpMode::Fixed,
            keepalive_s: self.keepalive_s,
            timeout_ms: 0,
        }
    }
}

/// Passthrough (AT+CIPMODE=1 and AT+CIPSEND, or AT+SAVETRANSLINK at boot).
#[derive(Debug, Clone)]
pub(crate) struct Passthrough {
    pub link: u8,
    /// Reconnect (a client link that dropped) at this time.
    pub reconnect_at: Option<Instant>,
}

/// The family's state; a restart rebuilds it (links are closed by the core first).
#[derive(Debug)]
pub(crate) struct Tcpip {
    pub links: Links,
    /// AT+CIPMUX=1.
    pub mux: bool,
    /// AT+CIPMODE.
    pub mode: u8,
    /// AT+CIPDINFO.
    pub dinfo: bool,
    /// AT+TRANSINTVL (ms).
    pub transintvl_ms: u16,
    /// AT+CIPRECONNINTV (×100 ms).
    pub reconnintv: u16,
    /// AT+CIPSENDLCFG.
    pub sendl_report: u32,
    pub sendl_transmit: u32,
    /// AT+CIPDNS: manual servers, if set.
    pub dns: Option<[Option<IpAddr>; 3]>,
    /// AT+SAVETRANSLINK.
    pub translink: Option<TransLink>,
    /// The last client connect (for passthrough reconnects).
    pub last_target: Option<Target>,
    /// Passthrough is on.
    pub passthrough: Option<Passthrough>,
    /// The link whose connect AT+CIPSTART waits for.
    pub awaiting: Option<u8>,
    /// Round-robin start for delivering received data.
    pub next_link: u8,
    /// An AT+CIPSEND* in progress.
    pub send: Option<send::SendJob>,
    /// An AT+CIPDOMAIN or AT+PING in progress.
    pub lookup: Option<util::Lookup>,
    /// The link a boot-time SAVETRANSLINK connect is for.
    pub boot_connect: Option<u8>,
    /// When to try the SAVETRANSLINK connect again after a failure.
    pub translink_at: Option<Instant>,
    /// AT+SAVETRANSLINK waiting for its host to resolve.
    pub pending_translink: Option<TransLink>,
    /// The server's `<CA enable>` and `<netif>`.
    pub server_ca: bool,
    pub server_netif: u8,
    /// A TCP/SSL link was open since boot (AT+CIPSTATUS's state 4).
    pub had_tcp_link: bool,
    /// Each link slot's SSL client settings (AT+CIPSSLC*).
    pub ssl: [ssl::SslConf; MAX_LINKS],
}

impl Tcpip {
    /// Power-on state, with links of these buffer sizes.
    pub(crate) fn new(buffers: at_links::Buffers) -> Self {
        Tcpip {
            links: Links::new(buffers),
            mux: false,
            mode: 0,
            dinfo: false,
            transintvl_ms: 20,
            reconnintv: 1,
            sendl_report: 1024,
            sendl_transmit: 2920,
            dns: None,
            translink: None,
            last_target: None,
            passthrough: None,
            awaiting: None,
            next_link: 0,
            send: None,
            lookup: None,
            boot_connect: None,
            translink_at: None,
            pending_translink: None,
            server_ca: false,
            server_netif: 0,
            had_tcp_link: false,
            ssl: Default::default(),
        }
    }
}

impl Tcpip {
    /// The id messages show for link `id` (`None` in single-link mode).
    pub fn shown(&self, id: u8) -> Option<u8> {
        self.mux.then_some(id)
    }

    /// The `CONNECT` / `+LINK_CONN` message of link `id`.
    pub fn connect_message(&self, id: u8) -> Option<Message> {
        let l = self.links.get(id)?;
        Some(Message::Connect {
            link: self.shown(id),
            kind: l.proto(),
            server: l.is_server(),
            remote: l.remote(),
            local_port: l.local_port(),
        })
    }
}

/// The `ERROR` for a link-layer failure, with the network's reason as detail.
pub(crate) fn link_error(e: at_links::LinkError) -> AtError {
    AtError::quiet(at_parser::ErrorCode::exec_fail(0), "link operation failed")
        .with_detail(format_args!("{e}"))
}

/// ESP-AT's `+ERRNO:` value for a failed connect: the lwIP errno of the socket error, or its
/// own `ESP_ERR_TIMEOUT` (0x107) when `<timeout>` ran out.
pub(crate) fn errno(e: NetError) -> u32 {
    match e {
        NetError::TimedOut => 0x107,
        other => u32::from(other.errno()),
    }
}

impl<P: Platform> Core<P> {
    /// Boot: load what the family persists and, with AT+SAVETRANSLINK, prepare passthrough.
    pub(crate) fn boot_tcpip(&mut self) {
        let kv = self.platform.settings();
        let saved = store::load(kv);
        let t = &mut self.st.tcpip;
        t.reconnintv = saved.reconnintv;
        t.dns = saved.dns;
        for (i, opt) in saved.tcp.iter().enumerate() {
            if let Ok(mut cfg) = t.links.config(i as u8) {
                cfg.tcp = *opt;
                let _ = t.links.set_config(self.platform.net(), i as u8, cfg);
            }
        }
        if let Some(tl) = saved.translink {
            log::info!(
                "AT+SAVETRANSLINK: passthrough to {}:{} once the station has an address",
                tl.host,
                tl.port
            );
            t.mode = 1;
            t.translink = Some(tl);
        }
    }

    /// Deliver what the links have for the host (bounded: one chunk per link per poll) and
    /// run the passthrough timers.
    pub(crate) fn poll_tcpip(&mut self, now: Instant, urc: &mut Urc<'_>) {
        let unix_time = self.wall_time(now);
        let net = self.platform.net();
        let t = &mut self.st.tcpip;
        t.links.set_unix_time(unix_time);
        t.links.poll(net, now);
        // Link events first: CONNECT before the data of that link, CLOSED after it.
        while urc.can_emit() {
            let Some(ev) = t.links.take_event() else { break };
            match ev {
                LinkEvent::Connected { id, proto, server, remote, local_port } => {
                    t.had_tcp_link |= proto != Proto::Udp;
                    if t.awaiting == Some(id) || t.boot_connect == Some(id) {
                        continue;
                    }
                    let m = Message::Connect { link: t.shown(id), kind: proto, server, remote, local_port };
                    if urc.emit(&m) == Emitted::Later {
                        log::warn!("CONNECT of link {id} not printed: no room");
                    }
                }
                LinkEvent::Closed { id } => {
                    urc.emit(&Message::Closed { link: t.shown(id) });
                    if let Some(p) = &mut t.passthrough
                        && p.link == id
                    {
                        // ESP-AT keeps passthrough and reconnects a client link.
                        let delay = Duration::from_millis(u64::from(t.reconnintv) * 100);
                        p.reconnect_at = t.last_target.as_ref().map(|_| now + delay);
                    }
                }
            }
        }
        self.deliver(urc);
        self.passthrough_timers(now);
    }

    fn deliver(&mut self, urc: &mut Urc<'_>) {
        let t = &mut self.st.tcpip;
        let start = t.next_link;
        t.next_link = (t.next_link + 1) % MAX_LINKS as u8;
        for k in 0..MAX_LINKS as u8 {
            let id = (start + k) % MAX_LINKS as u8;
            let Some(link) = t.links.get(id) else { continue };
            // Only an open link delivers (an SSL link once its handshake is done and it was
            // announced); an awaited one after its command printed CONNECT and OK.
            if !link.is_open() || t.links.is_awaited(id) {
                // An awaited link delivers after its command printed CONNECT and OK.
                continue;
            }
            if t.passthrough.as_ref().is_some_and(|p| p.link == id) {
                let n = urc.passthrough_data(t.links.received(id));
                t.links.consume(id, n);
                continue;
            }
            match t.links.config(id).map(|c| c.recv) {
                Ok(RecvMode::Active) => {
                    // A few frames per link per poll (bounded by IPD_PER_POLL and the queue's
                    // room), so a fast link is not held to one 2920-byte frame per round.
                    for _ in 0..IPD_PER_POLL {
                        let Some((chunk, remote)) = t.links.next_chunk(id) else { break };
                        let m = Message::Ipd {
                            link: t.shown(id),
                            len: chunk.len(),
                            remote: t.dinfo.then_some(remote),
                        };
                        let n = chunk.len();
                        if urc.emit_with(&m, chunk) != Emitted::Yes {
                            break;
                        }
                        t.links.consume(id, n);
                    }
                }
                Ok(RecvMode::Passive) => {
                    if let Some(len) = t.links.notice_due(id)
                        && urc.emit(&Message::IpdNotice { link: t.shown(id), len }) == Emitted::Yes
                    {
                        t.links.mark_notified(id);
                    }
                }
                Err(_) => {}
            }
        }
    }

    fn passthrough_timers(&mut self, now: Instant) {
        let net = self.platform.net();
        let _ = net;
        let retry = Duration::from_millis(u64::from(self.st.tcpip.reconnintv) * 100);
        // A dropped passthrough link: reconnect after AT+CIPRECONNINTV.
        let due = self
            .st
            .tcpip
            .passthrough
            .as_ref()
            .and_then(|p| p.reconnect_at.filter(|&at| now >= at).map(|_| p.link));
        if let Some(id) = due {
            if let Some(p) = &mut self.st.tcpip.passthrough {
                p.reconnect_at = None;
            }
            if self.st.tcpip.links.get(id).is_none()
                && let Some(target) = self.st.tcpip.last_target.clone()
            {
                log::info!("passthrough: reconnecting to {}:{}", target.host, target.port);
                match self.connect_target(id, &target, now) {
                    Ok(()) => self.st.tcpip.links.unawait(id),
                    Err(e) => {
                        log::warn!("passthrough reconnect: {e}");
                        if let Some(p) = &mut self.st.tcpip.passthrough {
                            p.reconnect_at = Some(now + retry);
                        }
                    }
                }
            }
        }
        let has_ip = self.platform.net().ip_config().is_some();
        let t = &mut self.st.tcpip;
        // A reconnect that failed: try again later.
        if let Some(p) = &mut t.passthrough
            && p.reconnect_at.is_none()
            && let state @ (ConnectState::Failed(_) | ConnectState::TlsFailed(_)) =
                t.links.connect_state(p.link)
            && t.links.get(p.link).is_some()
        {
            log::warn!("passthrough reconnect failed: {state:?}");
            let _ = t.links.close(self.platform.net(), p.link);
            p.reconnect_at = Some(now + Duration::from_millis(u64::from(t.reconnintv) * 100));
        }
        // AT+SAVETRANSLINK: connect once the station has an address, then enter passthrough.
        let retry_due = t.translink_at.is_none_or(|at| now >= at);
        if t.translink.is_some()
            && t.passthrough.is_none()
            && t.boot_connect.is_none()
            && retry_due
            && t.links.get(0).is_none()
            && has_ip
        {
            let target = t.translink.as_ref().map(TransLink::target);
            if let Some(target) = target {
                match self.connect_target(0, &target, now) {
                    Ok(()) => {
                        self.st.tcpip.boot_connect = Some(0);
                        self.st.tcpip.last_target = Some(target);
                    }
                    Err(e) => {
                        log::warn!("AT+SAVETRANSLINK connect: {e}");
                        self.st.tcpip.translink_at = Some(now + retry);
                    }
                }
            }
        }
        let net = self.platform.net();
        let t = &mut self.st.tcpip;
        if let Some(id) = t.boot_connect {
            match t.links.connect_state(id) {
                ConnectState::Pending => {}
                ConnectState::Open => {
                    t.boot_connect = None;
                    t.links.unawait(id);
                    t.passthrough = Some(Passthrough { link: id, reconnect_at: None });
                    t.links.set_passthrough(Some((id, Duration::from_millis(u64::from(t.transintvl_ms)))));
                    // ESP-AT prints `\r\n>` and is in passthrough at once.
                    self.autostart = Some(send::passthrough_phase(b"\r\n>"));
                }
                ConnectState::Failed(_) | ConnectState::TlsFailed(_) => {
                    let e = t.links.connect_state(id);
                    log::warn!("AT+SAVETRANSLINK connect failed: {e:?}; retrying");
                    let _ = t.links.close(net, id);
                    t.boot_connect = None;
                    t.translink_at = Some(now + Duration::from_millis(u64::from(t.reconnintv) * 100));
                }
            }
        }
    }

    /// Open a link to a stored target (passthrough reconnect, AT+SAVETRANSLINK): SSL ones
    /// with a session made from the slot's AT+CIPSSLC* settings.
    pub(crate) fn connect_target(&mut self, id: u8, target: &Target, now: Instant) -> Result<(), AtError> {
        let session = if target.proto == Proto::Ssl {
            Some(self.ssl_client_session(id, &target.host, now)?)
        } else {
            None
        };
        let net = self.platform.net();
        let links = &mut self.st.tcpip.links;
        match session {
            Some(s) => links.connect_tls(net, id, &target.connect(), s, now),
            None => links.connect(net, id, &target.connect(), now),
        }
        .map_err(link_error)
    }

    /// The earliest time the family has work. Printing is due only when it fits in
    /// `tx_room` (otherwise the AT port's drain wakes the loop).
    pub(crate) fn tcpip_deadline(&self, now: Instant, tx_room: usize) -> Option<Instant> {
        let t = &self.st.tcpip;
        let reconnect = t.passthrough.as_ref().and_then(|p| p.reconnect_at).or(t.translink_at);
        let fits = |n: usize| tx_room >= n;
        let deliverable = |id: u8| {
            let Some(l) = t.links.get(id) else { return false };
            if l.buffered() == 0 || t.links.is_awaited(id) {
                return false;
            }
            if t.passthrough.as_ref().is_some_and(|p| p.link == id) {
                return fits(1);
            }
            match t.links.config(id).map(|c| c.recv) {
                // A whole `+IPD` frame: payload, header and trailer.
                Ok(RecvMode::Active) => fits(l.buffered().min(at_links::MAX_IPD) + 64),
                // Passive data waits for AT+CIPRECVDATA; only a due notice is work.
                _ => t.links.notice_due(id).is_some() && fits(crate::urc::MESSAGE_RESERVE),
            }
        };
        let events = t.links.pending_events() > 0 && fits(crate::urc::MESSAGE_RESERVE);
        let delivery = (events || t.links.ids().any(deliverable)).then_some(now);
        [t.links.next_deadline(now), reconnect, delivery].into_iter().flatten().min()
    }
}

/// `+IPD` frames one link delivers per poll at most.
pub const IPD_PER_POLL: usize = 4;

/// Type of a boxed data phase for this family's handlers.
pub(crate) type Phase<P> = DataPhase<Core<P>>;
