//! The at-hal [`Network`] trait over [smoltcp]: the IP stack of the ESP32-C3 backend, written
//! against any [`smoltcp::phy::Device`] so that it is tested on the PC (over smoltcp's
//! `Loopback`) and runs unchanged on the chip (over esp-radio's Wi-Fi station, through
//! `DriverDevice` with the `embassy-net-driver` feature).
//!
//! [`SmolNet`] owns the device, smoltcp's `Interface` and a `SocketSet`, and maps at-hal's
//! handle-based, non-blocking contract onto them:
//!
//! * **Sockets**: TCP (connect, listen/accept, send/recv, close with linger, abort), UDP, an
//!   ICMP socket for `AT+PING`, a DNS socket, a DHCPv4 socket while the link is up, and a UDP
//!   socket for the SNTP client. Buffer sizes are [`Settings`] (lwIP's ESP-AT defaults).
//! * **Listeners**: one smoltcp socket listens; when a connection arrives it moves to the
//!   listener's queue and a fresh socket takes its place (re-armed between ingress packets),
//!   up to `backlog` unaccepted connections. A full queue refuses further SYNs (RST).
//! * **Events** are derived after each run of the stack by comparing socket states with what
//!   was last reported: `Connected` / `ConnectFailed` (a RST before the connect deadline is
//!   `Refused`, the deadline is `TimedOut`), `Readable` / `Writable` (after `WouldBlock`, and
//!   once for the first data of a new connection), `Acceptable`, `Failed` (an established
//!   connection that smoltcp closed without us: reset, or smoltcp's retransmission timeout),
//!   `DnsDone`, `GotIp` / `LostIp` (DHCP or the static address), `TimeUpdated` (SNTP).
//! * **Bounded work**: one [`Network::poll`] runs the stack at most once — at most
//!   [`Settings::max_ingress_per_poll`] received packets, at most
//!   [`Settings::max_egress_rounds_per_poll`] transmit rounds — and only when its event queue
//!   is empty; calling it until `None` drains the events of that run. Nothing blocks.
//!
//! Known differences from lwIP (ESP-AT):
//!
//! * Bytes received but not yet read when the peer resets the connection are dropped with
//!   the connection (smoltcp does not let a closed socket be read); lwIP returns them first.
//! * An established connection that dies reports `Failed(Reset)` whether a RST or smoltcp's
//!   retransmission timeout ([`Settings::tcp_timeout`]) closed it: smoltcp does not say which.
//! * Keep-alive is smoltcp's: a probe every `idle_s` seconds of silence; the connection is
//!   dropped when nothing was heard for `idle_s + interval_s × count` seconds.
//! * IPv4 only; no IP fragmentation (a UDP datagram must fit one frame: 1472 bytes on Wi-Fi).
//! * The DHCP hostname option needs `'static` bytes in smoltcp's socket: each *different*
//!   hostname set with [`Network::set_hostname`] leaks its bytes (≤ 32) plus one option
//!   record (a handful of `AT+CWHOSTNAME` calls per boot in practice).
//!
//! [smoltcp]: https://docs.rs/smoltcp
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

#[cfg(feature = "embassy-net-driver")]
mod driver;
pub mod sntp;

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use at_hal::net::{
    Datagram, DnsQuery, IpAddr, IpConfig, Ipv4Addr, MAX_HOST_LEN, MAX_HOSTNAME_LEN, NetError, NetEvent,
    Network, PingId, SntpConfig, SocketAddr, SocketHandle, SocketOption,
};
use at_hal::time::Instant;
use smoltcp::iface::{
    Config, Interface, PollIngressSingleResult, PollResult, SocketHandle as SmolHandle, SocketSet,
};
use smoltcp::phy::{ChecksumCapabilities, Device};
use smoltcp::socket::{dhcpv4, dns, icmp, tcp, udp};
use smoltcp::wire::{
    DhcpOption, HardwareAddress, Icmpv4Packet, Icmpv4Repr, IpAddress, IpCidr, IpEndpoint, IpListenEndpoint,
    Ipv4Cidr,
};

#[cfg(feature = "embassy-net-driver")]
pub use driver::DriverDevice;
pub use smoltcp;

/// Sizes, limits and timeouts of a [`SmolNet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Receive buffer (window) of each TCP socket, in bytes (lwIP's `TCP_WND` in ESP-AT: 5760).
    pub tcp_rx: usize,
    /// Send buffer of each TCP socket, in bytes (lwIP's `TCP_SND_BUF` in ESP-AT: 5744).
    pub tcp_tx: usize,
    /// A connect that is not established after this is `ConnectFailed(TimedOut)`.
    pub connect_timeout: Duration,
    /// smoltcp's retransmission timeout of an established connection: unacknowledged data
    /// for this long drops the connection. `None`: retransmit forever.
    pub tcp_timeout: Option<Duration>,
    /// A closed connection that has not finished its FIN handshake after this is reset (and
    /// its memory freed).
    pub close_timeout: Duration,
    /// Receive buffer of each UDP socket: datagrams and payload bytes.
    pub udp_rx: (usize, usize),
    /// Send buffer of each UDP socket: datagrams and payload bytes.
    pub udp_tx: (usize, usize),
    /// Largest UDP payload [`Network::send_to`] takes (one Ethernet frame without IP
    /// fragmentation: 1500 − 20 − 8).
    pub udp_max_payload: usize,
    /// DNS lookups that may run at once.
    pub dns_slots: usize,
    /// Received packets processed per [`Network::poll`].
    pub max_ingress_per_poll: usize,
    /// Transmit rounds per [`Network::poll`] (each round lets every socket send one packet).
    pub max_egress_rounds_per_poll: usize,
    /// How long an SNTP server has to answer before the next one is tried.
    pub sntp_timeout: Duration,
    /// After every server failed, the next attempt (lwIP's `SNTP_RETRY_TIMEOUT`: 15 s).
    pub sntp_retry: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tcp_rx: 5760,
            tcp_tx: 5744,
            connect_timeout: Duration::from_secs(30),
            tcp_timeout: Some(Duration::from_secs(120)),
            close_timeout: Duration::from_secs(30),
            udp_rx: (8, 4096),
            udp_tx: (4, 2048),
            udp_max_payload: 1472,
            dns_slots: 4,
            max_ingress_per_poll: 32,
            max_egress_rounds_per_poll: 8,
            sntp_timeout: Duration::from_secs(3),
            sntp_retry: Duration::from_secs(15),
        }
    }
}

/// First port handed out for `local_port` 0 (IANA's dynamic range).
const EPHEMERAL_FIRST: u16 = 49_152;
/// ICMP identifier of our echo requests ("AT").
const PING_IDENT: u16 = 0x4154;
/// Payload length of an echo request (lwIP ping's default: 32).
const PING_DATA_LEN: usize = 32;
/// DHCP option 12: host name.
const DHCP_OPT_HOSTNAME: u8 = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `tcp_connect` ran; the connect fails at the deadline.
    Connecting(Instant),
    Open,
    /// Sticky error.
    Failed(NetError),
}

#[derive(Debug)]
struct Tcp {
    h: SmolHandle,
    phase: Phase,
    /// `recv` returned `WouldBlock` (or nothing was read yet): report the next data.
    want_read: bool,
    /// `send` returned `WouldBlock`: report room.
    want_write: bool,
    linger: Option<u16>,
}

#[derive(Debug)]
struct Listener {
    port: u16,
    backlog: usize,
    /// The socket listening now.
    armed: Option<SmolHandle>,
    /// Connections that arrived, oldest first, and whether `Acceptable` was reported.
    pending: VecDeque<(SmolHandle, bool)>,
}

#[derive(Debug)]
struct Udp {
    h: SmolHandle,
    port: u16,
    want_read: bool,
    want_write: bool,
}

#[derive(Debug)]
enum Sock {
    Tcp(Tcp),
    Listener(Listener),
    Udp(Udp),
}

/// A connection being closed in the background.
#[derive(Debug)]
struct Closing {
    h: SmolHandle,
    /// Removed once closed and at least one run after this one (so an abort's RST goes out).
    run: u64,
    /// Reset at this time if not closed by then (linger, or the close timeout).
    deadline: Instant,
}

enum Lookup {
    Running(dns::QueryHandle),
    Done(Result<IpAddr, NetError>),
}

#[derive(Debug)]
struct Ping {
    seq: u16,
    sent: Instant,
    rtt: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SntpPhase {
    /// Next attempt at this time (with server `index`).
    Idle,
    /// Resolving the server's name (an internal DNS query id).
    Resolving(u32),
    /// Request sent to the address at this time, with this nonce.
    Waiting(Ipv4Addr, Instant, u64),
}

#[derive(Debug)]
struct Sntp {
    servers: Vec<String>,
    interval: Duration,
    /// Server being tried.
    index: usize,
    phase: SntpPhase,
    /// When the next attempt starts (in `Idle`).
    next: Instant,
    socket: Option<SmolHandle>,
}

/// The at-hal [`Network`] over smoltcp on the device `D`. See the crate docs.
pub struct SmolNet<D: Device> {
    device: D,
    iface: Interface,
    sockets: SocketSet<'static>,
    settings: Settings,
    now: Instant,
    /// Runs of the stack so far.
    run: u64,
    /// A call changed something the stack must act on (data queued, socket opened...).
    dirty: bool,
    /// When `poll` next has work, as computed at the end of the last run.
    deadline: Option<Instant>,
    events: VecDeque<NetEvent>,
    // interface
    link_up: bool,
    dhcp_enabled: bool,
    dhcp: Option<SmolHandle>,
    static_ip: Option<IpConfig>,
    ip: Option<IpConfig>,
    hostname: String,
    hostname_option: Option<&'static [DhcpOption<'static>]>,
    dns_user: Vec<Ipv4Addr>,
    dns_dhcp: Vec<Ipv4Addr>,
    // sockets
    next_id: u32,
    socks: BTreeMap<u32, Sock>,
    closing: Vec<Closing>,
    next_port: u16,
    // DNS, ICMP, SNTP
    dns: SmolHandle,
    lookups: BTreeMap<u32, Lookup>,
    icmp: Option<SmolHandle>,
    pings: BTreeMap<u32, Ping>,
    next_seq: u16,
    sntp: Option<Sntp>,
}

impl<D: Device> core::fmt::Debug for SmolNet<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SmolNet")
            .field("ip", &self.ip)
            .field("link_up", &self.link_up)
            .field("sockets", &self.socks.len())
            .field("closing", &self.closing.len())
            .finish()
    }
}

fn to_smol(t: Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(i64::try_from(t.as_micros()).unwrap_or(i64::MAX))
}

fn from_smol(t: smoltcp::time::Instant) -> Instant {
    Instant::from_micros(u64::try_from(t.total_micros()).unwrap_or(0))
}

fn to_socket_addr(e: IpEndpoint) -> SocketAddr {
    SocketAddr::new(e.addr.into(), e.port)
}

fn v4(ip: IpAddr) -> Result<Ipv4Addr, NetError> {
    match ip {
        IpAddr::V4(a) => Ok(a),
        // No IPv6 in this stack.
        IpAddr::V6(_) => Err(NetError::Unreachable),
    }
}

fn netmask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0))
}

fn tcp_socket(s: &Settings) -> tcp::Socket<'static> {
    let mut t = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0u8; s.tcp_rx]),
        tcp::SocketBuffer::new(vec![0u8; s.tcp_tx]),
    );
    t.set_timeout(s.tcp_timeout.map(|d| smoltcp::time::Duration::from_micros(d.as_micros() as u64)));
    t
}

fn smol_duration(d: Duration) -> smoltcp::time::Duration {
    smoltcp::time::Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// A connection that is (or was) up, as opposed to connecting or listening.
fn is_connected_state(s: tcp::State) -> bool {
    !matches!(s, tcp::State::Closed | tcp::State::Listen | tcp::State::SynSent | tcp::State::SynReceived)
}

impl<D: Device> SmolNet<D> {
    /// A stack on `device` with hardware address `hw` (the station MAC for Wi-Fi; `Ip` for an
    /// IP-medium device). `seed` seeds smoltcp's initial sequence numbers and DNS/DHCP
    /// transaction ids: pass hardware entropy. The link starts down, with DHCP on.
    pub fn new(mut device: D, hw: HardwareAddress, seed: u64, settings: Settings, now: Instant) -> Self {
        let mut config = Config::new(hw);
        config.random_seed = seed;
        let iface = Interface::new(config, &mut device, to_smol(now));
        let mut sockets = SocketSet::new(Vec::new());
        let slots: Vec<Option<dns::DnsQuery>> = (0..settings.dns_slots.max(1)).map(|_| None).collect();
        let dns = sockets.add(dns::Socket::new(&[], slots));
        SmolNet {
            device,
            iface,
            sockets,
            settings,
            now,
            run: 0,
            dirty: false,
            deadline: None,
            events: VecDeque::new(),
            link_up: false,
            dhcp_enabled: true,
            dhcp: None,
            static_ip: None,
            ip: None,
            hostname: String::new(),
            hostname_option: None,
            dns_user: Vec::new(),
            dns_dhcp: Vec::new(),
            next_id: 1,
            socks: BTreeMap::new(),
            closing: Vec::new(),
            next_port: EPHEMERAL_FIRST,
            dns,
            lookups: BTreeMap::new(),
            icmp: None,
            pings: BTreeMap::new(),
            next_seq: 0,
            sntp: None,
        }
    }

    /// The device (for example to read driver statistics).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }

    /// smoltcp's interface and socket set, for tests and extensions: sockets added to the set
    /// are not this stack's (no handle names them) but are driven by its [`Network::poll`].
    pub fn stack_mut(&mut self) -> (&mut Interface, &mut SocketSet<'static>) {
        (&mut self.iface, &mut self.sockets)
    }

    /// Sockets currently open through the [`Network`] trait (for leak checks); connections
    /// still closing in the background are [`SmolNet::closing_sockets`].
    pub fn open_sockets(&self) -> usize {
        self.socks.len()
    }

    /// Connections closed by the caller whose FIN handshake is still running.
    pub fn closing_sockets(&self) -> usize {
        self.closing.len()
    }

    // ---- internals ----

    fn new_id(&mut self) -> u32 {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1).max(1);
            if !self.socks.contains_key(&id)
                && !self.lookups.contains_key(&id)
                && !self.pings.contains_key(&id)
            {
                return id;
            }
        }
    }

    fn insert(&mut self, sock: Sock) -> SocketHandle {
        let id = self.new_id();
        self.socks.insert(id, sock);
        self.dirty = true;
        SocketHandle(id)
    }

    fn local_ip(&self) -> Result<Ipv4Addr, NetError> {
        self.ip.map(|c| c.ip).ok_or(NetError::Unreachable)
    }

    fn port_in_use(&self, port: u16) -> bool {
        self.socks.values().any(|s| match s {
            Sock::Udp(u) => u.port == port,
            Sock::Listener(l) => l.port == port,
            Sock::Tcp(t) => {
                self.sockets.get::<tcp::Socket>(t.h).local_endpoint().is_some_and(|e| e.port == port)
            }
        })
    }

    fn ephemeral(&mut self) -> u16 {
        for _ in 0..64 {
            let p = self.next_port;
            self.next_port = if p == u16::MAX { EPHEMERAL_FIRST } else { p + 1 };
            if !self.port_in_use(p) {
                return p;
            }
        }
        self.next_port
    }

    fn apply_dns_servers(&mut self) {
        let list: Vec<IpAddress> = if self.dns_user.is_empty() { &self.dns_dhcp } else { &self.dns_user }
            .iter()
            .map(|a| IpAddress::Ipv4(*a))
            .collect();
        self.sockets.get_mut::<dns::Socket>(self.dns).update_servers(&list);
    }

    /// Put `config` on the interface and report it.
    fn assign(&mut self, config: IpConfig) {
        let prefix = Ipv4Cidr::from_netmask(config.ip, config.netmask).map_or(32, |c| c.prefix_len());
        self.iface.update_ip_addrs(|addrs| {
            addrs.clear();
            let _ = addrs.push(IpCidr::Ipv4(Ipv4Cidr::new(config.ip, prefix)));
        });
        if config.gateway.is_unspecified() {
            self.iface.routes_mut().remove_default_ipv4_route();
        } else {
            let _ = self.iface.routes_mut().add_default_ipv4_route(config.gateway);
        }
        self.ip = Some(config);
        self.events.push_back(NetEvent::GotIp(config));
        self.dirty = true;
        self.sntp_kick();
    }

    fn unassign(&mut self) {
        self.iface.update_ip_addrs(|addrs| addrs.clear());
        self.iface.routes_mut().remove_default_ipv4_route();
        self.dns_dhcp.clear();
        self.apply_dns_servers();
        if self.ip.take().is_some() {
            self.events.push_back(NetEvent::LostIp);
        }
    }

    fn dhcp_options(&mut self) -> &'static [DhcpOption<'static>] {
        if self.hostname.is_empty() {
            return &[];
        }
        if let Some(o) = self.hostname_option
            && o.first().is_some_and(|o| o.data == self.hostname.as_bytes())
        {
            return o;
        }
        let data: &'static [u8] = Box::leak(self.hostname.as_bytes().to_vec().into_boxed_slice());
        let option: &'static [DhcpOption<'static>] =
            Box::leak(Box::new([DhcpOption { kind: DHCP_OPT_HOSTNAME, data }]));
        self.hostname_option = Some(option);
        option
    }

    fn start_dhcp(&mut self) {
        self.stop_dhcp();
        let mut s = dhcpv4::Socket::new();
        s.set_outgoing_options(self.dhcp_options());
        self.dhcp = Some(self.sockets.add(s));
        self.dirty = true;
    }

    fn stop_dhcp(&mut self) {
        if let Some(h) = self.dhcp.take() {
            self.sockets.remove(h);
        }
    }

    fn begin_close(&mut self, h: SmolHandle, reset: bool, linger: Option<u16>) {
        let s = self.sockets.get_mut::<tcp::Socket>(h);
        let mut deadline = self.now + self.settings.close_timeout;
        if reset {
            s.abort();
        } else {
            s.close();
            if let Some(secs) = linger {
                deadline = deadline.min(self.now + Duration::from_secs(u64::from(secs)));
            }
        }
        self.closing.push(Closing { h, run: self.run, deadline });
        self.dirty = true;
    }

    fn release(&mut self, socket: SocketHandle, reset: bool) {
        let Some(sock) = self.socks.remove(&socket.0) else { return };
        match sock {
            Sock::Tcp(t) => {
                let reset = reset || t.linger == Some(0) || matches!(t.phase, Phase::Failed(_));
                self.begin_close(t.h, reset, t.linger);
            }
            Sock::Listener(l) => {
                if let Some(h) = l.armed {
                    self.sockets.remove(h);
                }
                for (h, _) in l.pending {
                    self.begin_close(h, true, None);
                }
            }
            Sock::Udp(u) => {
                self.sockets.remove(u.h);
            }
        }
    }

    /// Give every listener a listening socket while its queue has room; move arrived
    /// connections to the queue.
    fn rearm_listeners(&mut self) {
        for sock in self.socks.values_mut() {
            let Sock::Listener(l) = sock else { continue };
            if let Some(h) = l.armed
                && self.sockets.get::<tcp::Socket>(h).state() != tcp::State::Listen
            {
                l.pending.push_back((h, false));
                l.armed = None;
            }
            if l.armed.is_none() && l.pending.len() < l.backlog {
                let mut s = tcp_socket(&self.settings);
                if s.listen(l.port).is_ok() {
                    l.armed = Some(self.sockets.add(s));
                }
            }
        }
    }

    /// Run the stack once (bounded) and derive events.
    fn run(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.run += 1;
        let ts = to_smol(self.now);
        self.iface.poll_maintenance(ts);
        for _ in 0..self.settings.max_ingress_per_poll {
            match self.iface.poll_ingress_single(ts, &mut self.device, &mut self.sockets) {
                PollIngressSingleResult::None => break,
                PollIngressSingleResult::PacketProcessed => {}
                PollIngressSingleResult::SocketStateChanged => self.rearm_listeners(),
            }
        }
        self.rearm_listeners();
        for _ in 0..self.settings.max_egress_rounds_per_poll {
            if self.iface.poll_egress(ts, &mut self.device, &mut self.sockets) == PollResult::None {
                break;
            }
        }
        self.dirty = false;
        self.check_dhcp();
        self.check_sockets();
        self.check_lookups();
        self.check_pings();
        self.check_sntp();
        self.collect_closing();
        self.rearm_listeners();
        self.compute_deadline();
    }

    fn check_dhcp(&mut self) {
        let Some(h) = self.dhcp else { return };
        let event = match self.sockets.get_mut::<dhcpv4::Socket>(h).poll() {
            None => return,
            Some(dhcpv4::Event::Deconfigured) => None,
            Some(dhcpv4::Event::Configured(c)) => Some((c.address, c.router, c.dns_servers.clone())),
        };
        match event {
            None => self.unassign(),
            Some((cidr, router, dns)) => {
                self.dns_dhcp = dns.iter().copied().collect();
                self.apply_dns_servers();
                self.assign(IpConfig {
                    ip: cidr.address(),
                    gateway: router.unwrap_or(Ipv4Addr::UNSPECIFIED),
                    netmask: netmask(cidr.prefix_len()),
                });
            }
        }
    }

    fn check_sockets(&mut self) {
        let now = self.now;
        for (&id, sock) in self.socks.iter_mut() {
            let handle = SocketHandle(id);
            match sock {
                Sock::Tcp(t) => {
                    let s = self.sockets.get_mut::<tcp::Socket>(t.h);
                    let state = s.state();
                    match t.phase {
                        Phase::Connecting(deadline) => {
                            if is_connected_state(state) {
                                t.phase = Phase::Open;
                                self.events.push_back(NetEvent::Connected(handle));
                            } else if state == tcp::State::Closed {
                                t.phase = Phase::Failed(NetError::Refused);
                                self.events.push_back(NetEvent::ConnectFailed(handle, NetError::Refused));
                                continue;
                            } else if now >= deadline {
                                s.abort();
                                t.phase = Phase::Failed(NetError::TimedOut);
                                self.events.push_back(NetEvent::ConnectFailed(handle, NetError::TimedOut));
                                continue;
                            } else {
                                continue;
                            }
                        }
                        Phase::Failed(_) => continue,
                        Phase::Open => {}
                    }
                    if state == tcp::State::Closed {
                        t.phase = Phase::Failed(NetError::Reset);
                        self.events.push_back(NetEvent::Failed(handle, NetError::Reset));
                        continue;
                    }
                    if t.want_read && (s.can_recv() || !s.may_recv()) {
                        t.want_read = false;
                        self.events.push_back(NetEvent::Readable(handle));
                    }
                    if t.want_write && s.can_send() {
                        t.want_write = false;
                        self.events.push_back(NetEvent::Writable(handle));
                    }
                }
                Sock::Listener(l) => {
                    // Connections reset before they were accepted are dropped.
                    l.pending.retain(|(h, _)| {
                        let closed = self.sockets.get::<tcp::Socket>(*h).state() == tcp::State::Closed;
                        if closed {
                            self.sockets.remove(*h);
                        }
                        !closed
                    });
                    let mut announce = false;
                    for (h, reported) in l.pending.iter_mut() {
                        if !*reported && is_connected_state(self.sockets.get::<tcp::Socket>(*h).state()) {
                            *reported = true;
                            announce = true;
                        }
                    }
                    if announce {
                        self.events.push_back(NetEvent::Acceptable(handle));
                    }
                }
                Sock::Udp(u) => {
                    let s = self.sockets.get::<udp::Socket>(u.h);
                    if u.want_read && s.can_recv() {
                        u.want_read = false;
                        self.events.push_back(NetEvent::Readable(handle));
                    }
                    if u.want_write && s.can_send() {
                        u.want_write = false;
                        self.events.push_back(NetEvent::Writable(handle));
                    }
                }
            }
        }
    }

    fn check_lookups(&mut self) {
        let dns = self.sockets.get_mut::<dns::Socket>(self.dns);
        for (&id, lookup) in self.lookups.iter_mut() {
            let Lookup::Running(q) = *lookup else { continue };
            let result = match dns.get_query_result(q) {
                Err(dns::GetQueryResultError::Pending) => continue,
                Err(dns::GetQueryResultError::Failed) => Err(NetError::HostNotFound),
                Ok(addrs) => {
                    addrs.iter().map(|&a| IpAddr::from(a)).find(IpAddr::is_ipv4).ok_or(NetError::HostNotFound)
                }
            };
            *lookup = Lookup::Done(result);
            if self.sntp.as_ref().is_none_or(|s| s.phase != SntpPhase::Resolving(id)) {
                self.events.push_back(NetEvent::DnsDone(DnsQuery(id)));
            }
        }
    }

    fn check_pings(&mut self) {
        let Some(h) = self.icmp else { return };
        let now = self.now;
        let caps = ChecksumCapabilities::default();
        let s = self.sockets.get_mut::<icmp::Socket>(h);
        while let Ok((payload, _from)) = s.recv() {
            let Ok(packet) = Icmpv4Packet::new_checked(payload) else { continue };
            let Ok(Icmpv4Repr::EchoReply { ident, seq_no, .. }) = Icmpv4Repr::parse(&packet, &caps) else {
                continue;
            };
            if ident != PING_IDENT {
                continue;
            }
            if let Some(p) = self.pings.values_mut().find(|p| p.seq == seq_no && p.rtt.is_none()) {
                p.rtt = Some(now.saturating_since(p.sent));
            }
        }
    }

    /// Start a sync now if SNTP is on, idle, and the interface has an address.
    fn sntp_kick(&mut self) {
        if let Some(s) = &mut self.sntp
            && s.phase == SntpPhase::Idle
        {
            s.next = s.next.min(self.now);
        }
    }

    fn sntp_next_server(&mut self, retry_all_at: Instant) {
        let Some(s) = &mut self.sntp else { return };
        s.phase = SntpPhase::Idle;
        s.index += 1;
        if s.index >= s.servers.len() {
            s.index = 0;
            s.next = retry_all_at;
        } else {
            s.next = self.now;
        }
    }

    fn sntp_send(&mut self, to: Ipv4Addr) {
        let now = self.now;
        let Some(s) = &mut self.sntp else { return };
        let h = match s.socket {
            Some(h) => h,
            None => {
                let (rp, rb) = self.settings.udp_rx;
                let mut u = udp::Socket::new(
                    udp::PacketBuffer::new(
                        vec![udp::PacketMetadata::EMPTY; rp.max(1)],
                        vec![0u8; rb.max(96)],
                    ),
                    udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 1], vec![0u8; sntp::PACKET_LEN]),
                );
                let mut port = self.next_port;
                for _ in 0..64 {
                    port = if port == u16::MAX { EPHEMERAL_FIRST } else { port + 1 };
                    let used = self.socks.values().any(|x| matches!(x, Sock::Udp(u) if u.port == port));
                    if !used && u.bind(port).is_ok() {
                        break;
                    }
                }
                let h = self.sockets.add(u);
                s.socket = Some(h);
                h
            }
        };
        let nonce = now.as_micros() ^ 0x5a5a_0000_0000_0000;
        let sock = self.sockets.get_mut::<udp::Socket>(h);
        while sock.recv().is_ok() {}
        if sock.send_slice(&sntp::request(nonce), (IpAddress::Ipv4(to), sntp::PORT)).is_ok() {
            s.phase = SntpPhase::Waiting(to, now, nonce);
        } else {
            s.phase = SntpPhase::Idle;
            s.next = now + Duration::from_secs(1);
        }
        self.dirty = true;
    }

    fn check_sntp(&mut self) {
        if self.ip.is_none() {
            return;
        }
        let now = self.now;
        let Some(s) = &mut self.sntp else { return };
        match s.phase {
            SntpPhase::Idle if now >= s.next => {
                let name = s.servers[s.index].clone();
                if let Ok(ip) = name.parse::<Ipv4Addr>() {
                    self.sntp_send(ip);
                } else {
                    match self.lookup_start(&name) {
                        Ok(id) => {
                            if let Some(s) = &mut self.sntp {
                                s.phase = SntpPhase::Resolving(id);
                            }
                            // A name that resolved at once (an IPv4 literal was handled above).
                            self.check_sntp_lookup(id);
                        }
                        Err(_) => self.sntp_next_server(now + self.settings.sntp_retry),
                    }
                }
            }
            SntpPhase::Idle => {}
            SntpPhase::Resolving(id) => self.check_sntp_lookup(id),
            SntpPhase::Waiting(server, sent, nonce) => {
                let Some(h) = s.socket else { return };
                let sock = self.sockets.get_mut::<udp::Socket>(h);
                let mut synced = None;
                while let Ok((data, meta)) = sock.recv() {
                    if meta.endpoint.addr != IpAddress::Ipv4(server) || meta.endpoint.port != sntp::PORT {
                        continue;
                    }
                    if let Ok(t) = sntp::parse_reply(data, nonce) {
                        synced = Some(t);
                        break;
                    }
                }
                if let Some(t) = synced {
                    s.phase = SntpPhase::Idle;
                    s.next = now + s.interval;
                    self.events.push_back(NetEvent::TimeUpdated(t));
                } else if now >= sent + self.settings.sntp_timeout {
                    self.sntp_next_server(now + self.settings.sntp_retry);
                }
            }
        }
    }

    fn check_sntp_lookup(&mut self, id: u32) {
        match self.lookups.get(&id) {
            Some(Lookup::Done(_)) => {}
            Some(Lookup::Running(_)) => return,
            None => {
                self.sntp_next_server(self.now + self.settings.sntp_retry);
                return;
            }
        }
        match self.lookups.remove(&id) {
            Some(Lookup::Done(Ok(IpAddr::V4(ip)))) => self.sntp_send(ip),
            _ => self.sntp_next_server(self.now + self.settings.sntp_retry),
        }
    }

    fn collect_closing(&mut self) {
        let (now, run) = (self.now, self.run);
        let sockets = &mut self.sockets;
        self.closing.retain_mut(|c| {
            let s = sockets.get_mut::<tcp::Socket>(c.h);
            let state = s.state();
            if run > c.run && matches!(state, tcp::State::Closed | tcp::State::TimeWait) {
                sockets.remove(c.h);
                return false;
            }
            if now >= c.deadline && state != tcp::State::Closed {
                // Linger expired, or the peer never finished the handshake: reset.
                s.abort();
                c.run = run;
            }
            true
        });
    }

    fn compute_deadline(&mut self) {
        let ts = to_smol(self.now);
        let stack = self.iface.poll_at(ts, &self.sockets).map(from_smol);
        let connects = self.socks.values().filter_map(|s| match s {
            Sock::Tcp(Tcp { phase: Phase::Connecting(d), .. }) => Some(*d),
            _ => None,
        });
        let closing = self.closing.iter().map(|c| if c.run == self.run { self.now } else { c.deadline });
        let sntp = self.sntp.as_ref().and_then(|s| match s.phase {
            _ if self.ip.is_none() => None,
            SntpPhase::Idle => Some(s.next),
            SntpPhase::Resolving(_) => None,
            SntpPhase::Waiting(_, sent, _) => Some(sent + self.settings.sntp_timeout),
        });
        self.deadline = stack.into_iter().chain(connects).chain(closing).chain(sntp).min();
    }

    /// Start a lookup (also used by SNTP); numeric answers are immediate.
    fn lookup_start(&mut self, host: &str) -> Result<u32, NetError> {
        if host.is_empty() || host.len() > MAX_HOST_LEN {
            return Err(NetError::InvalidArgument);
        }
        let immediate = if let Ok(ip) = host.parse::<IpAddr>() {
            Some(Ok(ip))
        } else if host.eq_ignore_ascii_case("localhost") {
            Some(Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)))
        } else if self.ip.is_none() {
            Some(Err(NetError::Unreachable))
        } else if self.dns_user.is_empty() && self.dns_dhcp.is_empty() {
            Some(Err(NetError::HostNotFound))
        } else {
            None
        };
        let lookup = match immediate {
            Some(r) => Lookup::Done(r),
            None => {
                let dns = self.sockets.get_mut::<dns::Socket>(self.dns);
                match dns.start_query(self.iface.context(), host, smoltcp::wire::DnsQueryType::A) {
                    Ok(q) => Lookup::Running(q),
                    Err(dns::StartQueryError::NoFreeSlot) => return Err(NetError::NoSockets),
                    Err(_) => return Err(NetError::InvalidArgument),
                }
            }
        };
        let id = self.new_id();
        self.lookups.insert(id, lookup);
        self.dirty = true;
        Ok(id)
    }
}

impl<D: Device> Network for SmolNet<D> {
    fn set_link(&mut self, up: bool, now: Instant) {
        self.now = self.now.max(now);
        if up == self.link_up {
            return;
        }
        self.link_up = up;
        if up {
            match (self.dhcp_enabled, self.static_ip) {
                (false, Some(config)) => self.assign(config),
                (false, None) => {}
                (true, _) => self.start_dhcp(),
            }
        } else {
            self.stop_dhcp();
            self.unassign();
        }
        self.dirty = true;
    }

    fn ip_config(&self) -> Option<IpConfig> {
        self.ip
    }

    fn set_dhcp(&mut self, enabled: bool, now: Instant) {
        self.now = self.now.max(now);
        if enabled == self.dhcp_enabled {
            return;
        }
        self.dhcp_enabled = enabled;
        if enabled {
            if self.link_up {
                self.start_dhcp();
            }
        } else {
            // The leased address stays, as a static one (ESP-IDF's esp_netif_dhcpc_stop).
            self.stop_dhcp();
            if self.static_ip.is_none() {
                self.static_ip = self.ip;
            }
        }
    }

    fn set_static_ip(&mut self, config: IpConfig, now: Instant) -> Result<(), NetError> {
        self.now = self.now.max(now);
        if config.ip.is_unspecified() || config.ip.is_multicast() || config.ip.is_broadcast() {
            return Err(NetError::InvalidArgument);
        }
        self.static_ip = Some(config);
        self.dhcp_enabled = false;
        self.stop_dhcp();
        if self.link_up {
            self.assign(config);
        }
        Ok(())
    }

    fn set_hostname(&mut self, hostname: &str) -> Result<(), NetError> {
        if hostname.is_empty() || hostname.len() > MAX_HOSTNAME_LEN {
            return Err(NetError::InvalidArgument);
        }
        self.hostname = String::from(hostname);
        if let Some(h) = self.dhcp {
            let options = self.dhcp_options();
            self.sockets.get_mut::<dhcpv4::Socket>(h).set_outgoing_options(options);
        }
        Ok(())
    }

    fn set_dns_servers(&mut self, servers: &[IpAddr]) -> Result<(), NetError> {
        if servers.len() > 3 {
            return Err(NetError::InvalidArgument);
        }
        let mut list = Vec::with_capacity(servers.len());
        for s in servers {
            list.push(v4(*s).map_err(|_| NetError::InvalidArgument)?);
        }
        self.dns_user = list;
        self.apply_dns_servers();
        Ok(())
    }

    fn configure_sntp(&mut self, config: &SntpConfig<'_>, now: Instant) -> Result<(), NetError> {
        self.now = self.now.max(now);
        let servers: Vec<String> =
            config.servers.iter().filter(|s| !s.is_empty()).map(|s| String::from(*s)).collect();
        if servers.iter().any(|s| s.len() > at_hal::net::MAX_SNTP_SERVER_LEN) {
            return Err(NetError::InvalidArgument);
        }
        let interval = Duration::from_secs(u64::from(config.interval_s.max(15)));
        if !config.enabled || servers.is_empty() {
            if let Some(s) = self.sntp.take() {
                if let Some(h) = s.socket {
                    self.sockets.remove(h);
                }
                if let SntpPhase::Resolving(id) = s.phase {
                    self.dns_cancel(DnsQuery(id));
                }
            }
            return Ok(());
        }
        match &mut self.sntp {
            // Same servers: only the interval changes, counted from the last sync
            // (sntp_set_sync_interval).
            Some(s) if s.servers == servers => {
                if s.phase == SntpPhase::Idle && s.next > now {
                    let last = s.next - s.interval;
                    s.next = (last + interval).max(now);
                }
                s.interval = interval;
            }
            _ => {
                let socket = self.sntp.take().and_then(|s| s.socket);
                self.sntp = Some(Sntp {
                    servers,
                    interval,
                    index: 0,
                    phase: SntpPhase::Idle,
                    next: self.now,
                    socket,
                });
            }
        }
        self.dirty = true;
        Ok(())
    }

    fn dns_start(&mut self, host: &str, now: Instant) -> Result<DnsQuery, NetError> {
        self.now = self.now.max(now);
        let id = self.lookup_start(host)?;
        if matches!(self.lookups.get(&id), Some(Lookup::Done(_))) {
            self.events.push_back(NetEvent::DnsDone(DnsQuery(id)));
        }
        Ok(DnsQuery(id))
    }

    fn dns_result(&mut self, query: DnsQuery) -> Result<IpAddr, NetError> {
        match self.lookups.get(&query.0) {
            None => Err(NetError::InvalidHandle),
            Some(Lookup::Running(_)) => Err(NetError::WouldBlock),
            Some(Lookup::Done(_)) => match self.lookups.remove(&query.0) {
                Some(Lookup::Done(r)) => r,
                _ => Err(NetError::InvalidHandle),
            },
        }
    }

    fn dns_cancel(&mut self, query: DnsQuery) {
        if let Some(Lookup::Running(q)) = self.lookups.remove(&query.0) {
            self.sockets.get_mut::<dns::Socket>(self.dns).cancel_query(q);
        }
    }

    fn ping_start(&mut self, to: IpAddr, now: Instant) -> Result<PingId, NetError> {
        self.now = self.now.max(now);
        self.local_ip()?;
        let to = v4(to)?;
        let h = match self.icmp {
            Some(h) => h,
            None => {
                let mut s = icmp::Socket::new(
                    icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0u8; 512]),
                    icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0u8; 256]),
                );
                s.bind(icmp::Endpoint::Ident(PING_IDENT)).map_err(|_| NetError::Io)?;
                let h = self.sockets.add(s);
                self.icmp = Some(h);
                h
            }
        };
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let data = [0x41u8; PING_DATA_LEN];
        let repr = Icmpv4Repr::EchoRequest { ident: PING_IDENT, seq_no: seq, data: &data };
        let s = self.sockets.get_mut::<icmp::Socket>(h);
        let buf = s.send(repr.buffer_len(), IpAddress::Ipv4(to)).map_err(|e| match e {
            icmp::SendError::BufferFull => NetError::WouldBlock,
            icmp::SendError::Unaddressable => NetError::Unreachable,
        })?;
        let mut packet = Icmpv4Packet::new_unchecked(buf);
        repr.emit(&mut packet, &ChecksumCapabilities::default());
        let id = self.new_id();
        self.pings.insert(id, Ping { seq, sent: self.now, rtt: None });
        self.dirty = true;
        Ok(PingId(id))
    }

    fn ping_result(&mut self, ping: PingId, _now: Instant) -> Result<Duration, NetError> {
        match self.pings.get(&ping.0) {
            None => Err(NetError::InvalidHandle),
            Some(Ping { rtt: None, .. }) => Err(NetError::WouldBlock),
            Some(Ping { rtt: Some(rtt), .. }) => {
                let rtt = *rtt;
                self.pings.remove(&ping.0);
                Ok(rtt)
            }
        }
    }

    fn ping_cancel(&mut self, ping: PingId) {
        self.pings.remove(&ping.0);
    }

    fn tcp_connect(
        &mut self,
        remote: SocketAddr,
        local_port: u16,
        now: Instant,
    ) -> Result<SocketHandle, NetError> {
        self.now = self.now.max(now);
        self.local_ip()?;
        let ip = v4(remote.ip())?;
        if remote.port() == 0 || ip.is_unspecified() {
            return Err(NetError::InvalidArgument);
        }
        let port = if local_port == 0 { self.ephemeral() } else { local_port };
        let mut s = tcp_socket(&self.settings);
        s.connect(self.iface.context(), (IpAddress::Ipv4(ip), remote.port()), port).map_err(|e| match e {
            tcp::ConnectError::Unaddressable => NetError::Unreachable,
            tcp::ConnectError::InvalidState => NetError::Io,
        })?;
        let h = self.sockets.add(s);
        let deadline = self.now + self.settings.connect_timeout;
        Ok(self.insert(Sock::Tcp(Tcp {
            h,
            phase: Phase::Connecting(deadline),
            want_read: true,
            want_write: false,
            linger: None,
        })))
    }

    fn tcp_listen(&mut self, port: u16, backlog: u8) -> Result<SocketHandle, NetError> {
        if port == 0 {
            return Err(NetError::InvalidArgument);
        }
        if self.socks.values().any(|s| matches!(s, Sock::Listener(l) if l.port == port)) {
            return Err(NetError::AddrInUse);
        }
        let h = self.insert(Sock::Listener(Listener {
            port,
            backlog: usize::from(backlog.max(1)),
            armed: None,
            pending: VecDeque::new(),
        }));
        self.rearm_listeners();
        Ok(h)
    }

    fn tcp_accept(&mut self, listener: SocketHandle) -> Result<(SocketHandle, SocketAddr), NetError> {
        let Some(Sock::Listener(l)) = self.socks.get_mut(&listener.0) else {
            return Err(NetError::InvalidHandle);
        };
        let sockets = &self.sockets;
        let i = l
            .pending
            .iter()
            .position(|(h, _)| is_connected_state(sockets.get::<tcp::Socket>(*h).state()))
            .ok_or(NetError::WouldBlock)?;
        let Some((h, _)) = l.pending.remove(i) else { return Err(NetError::WouldBlock) };
        let remote = self.sockets.get::<tcp::Socket>(h).remote_endpoint().map(to_socket_addr);
        let Some(remote) = remote else {
            self.sockets.remove(h);
            return Err(NetError::WouldBlock);
        };
        let s = self.insert(Sock::Tcp(Tcp {
            h,
            phase: Phase::Open,
            want_read: true,
            want_write: false,
            linger: None,
        }));
        self.rearm_listeners();
        Ok((s, remote))
    }

    fn udp_bind(&mut self, local_port: u16) -> Result<SocketHandle, NetError> {
        let port = if local_port == 0 { self.ephemeral() } else { local_port };
        if self.socks.values().any(|s| matches!(s, Sock::Udp(u) if u.port == port)) {
            return Err(NetError::AddrInUse);
        }
        let ((rp, rb), (tp, tb)) = (self.settings.udp_rx, self.settings.udp_tx);
        let mut s = udp::Socket::new(
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; rp.max(1)], vec![0u8; rb]),
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; tp.max(1)], vec![0u8; tb]),
        );
        s.bind(port).map_err(|_| NetError::InvalidArgument)?;
        let h = self.sockets.add(s);
        Ok(self.insert(Sock::Udp(Udp { h, port, want_read: true, want_write: false })))
    }

    fn send(&mut self, socket: SocketHandle, data: &[u8]) -> Result<usize, NetError> {
        if data.is_empty() {
            return Err(NetError::InvalidArgument);
        }
        let Some(Sock::Tcp(t)) = self.socks.get_mut(&socket.0) else {
            return Err(NetError::InvalidHandle);
        };
        let h = t.h;
        match t.phase {
            Phase::Failed(e) => return Err(e),
            Phase::Connecting(_) => return Err(NetError::NotConnected),
            Phase::Open => {}
        }
        let s = self.sockets.get_mut::<tcp::Socket>(h);
        if s.state() == tcp::State::Closed {
            t.phase = Phase::Failed(NetError::Reset);
            return Err(NetError::Reset);
        }
        match s.send_slice(data) {
            Ok(0) => {
                t.want_write = true;
                Err(NetError::WouldBlock)
            }
            Ok(n) => {
                self.dirty = true;
                Ok(n)
            }
            Err(tcp::SendError::InvalidState) => Err(NetError::NotConnected),
        }
    }

    fn recv(&mut self, socket: SocketHandle, buf: &mut [u8]) -> Result<usize, NetError> {
        let Some(Sock::Tcp(t)) = self.socks.get_mut(&socket.0) else {
            return Err(NetError::InvalidHandle);
        };
        let h = t.h;
        match t.phase {
            Phase::Failed(e) => return Err(e),
            Phase::Connecting(_) => return Err(NetError::NotConnected),
            Phase::Open => {}
        }
        let s = self.sockets.get_mut::<tcp::Socket>(h);
        match s.recv_slice(buf) {
            Ok(0) if !buf.is_empty() => {
                t.want_read = true;
                Err(NetError::WouldBlock)
            }
            Ok(n) => {
                // Reading opens the window: the stack may owe the peer an update.
                self.dirty = true;
                Ok(n)
            }
            Err(tcp::RecvError::Finished) => Ok(0),
            Err(tcp::RecvError::InvalidState) => {
                t.phase = Phase::Failed(NetError::Reset);
                Err(NetError::Reset)
            }
        }
    }

    fn send_to(&mut self, socket: SocketHandle, data: &[u8], to: SocketAddr) -> Result<(), NetError> {
        let Some(Sock::Udp(u)) = self.socks.get_mut(&socket.0) else {
            return Err(NetError::InvalidHandle);
        };
        if self.ip.is_none() {
            return Err(NetError::Unreachable);
        }
        let ip = v4(to.ip())?;
        if to.port() == 0 || ip.is_unspecified() {
            return Err(NetError::InvalidArgument);
        }
        let s = self.sockets.get_mut::<udp::Socket>(u.h);
        if data.len() > self.settings.udp_max_payload || data.len() > s.payload_send_capacity() {
            return Err(NetError::MessageTooLong);
        }
        match s.send_slice(data, (IpAddress::Ipv4(ip), to.port())) {
            Ok(()) => {
                self.dirty = true;
                Ok(())
            }
            Err(udp::SendError::BufferFull) => {
                u.want_write = true;
                Err(NetError::WouldBlock)
            }
            Err(udp::SendError::Unaddressable) => Err(NetError::InvalidArgument),
        }
    }

    fn recv_from(&mut self, socket: SocketHandle, buf: &mut [u8]) -> Result<Datagram, NetError> {
        let Some(Sock::Udp(u)) = self.socks.get_mut(&socket.0) else {
            return Err(NetError::InvalidHandle);
        };
        let s = self.sockets.get_mut::<udp::Socket>(u.h);
        match s.recv() {
            Ok((data, meta)) => {
                let len = data.len().min(buf.len());
                buf[..len].copy_from_slice(&data[..len]);
                Ok(Datagram { len, full_len: data.len(), from: to_socket_addr(meta.endpoint) })
            }
            Err(_) => {
                u.want_read = true;
                Err(NetError::WouldBlock)
            }
        }
    }

    fn set_option(&mut self, socket: SocketHandle, option: SocketOption) -> Result<(), NetError> {
        let t = match self.socks.get_mut(&socket.0) {
            Some(Sock::Tcp(t)) => t,
            // Listeners and UDP sockets take the options and ignore them (as lwIP's
            // setsockopt does for TCP options on them).
            Some(_) => return Ok(()),
            None => return Err(NetError::InvalidHandle),
        };
        let s = self.sockets.get_mut::<tcp::Socket>(t.h);
        match option {
            SocketOption::NoDelay(on) => s.set_nagle_enabled(!on),
            SocketOption::KeepAlive(None) => {
                s.set_keep_alive(None);
                s.set_timeout(self.settings.tcp_timeout.map(smol_duration));
            }
            SocketOption::KeepAlive(Some(k)) => {
                let idle = u64::from(k.idle_s.max(1));
                s.set_keep_alive(Some(smoltcp::time::Duration::from_secs(idle)));
                let give_up = idle + u64::from(k.interval_s.max(1)) * u64::from(k.count.max(1));
                s.set_timeout(Some(smoltcp::time::Duration::from_secs(give_up)));
            }
            SocketOption::Linger(l) => t.linger = l,
        }
        self.dirty = true;
        Ok(())
    }

    fn local_addr(&self, socket: SocketHandle) -> Result<SocketAddr, NetError> {
        let ip = IpAddr::V4(self.ip.map_or(Ipv4Addr::UNSPECIFIED, |c| c.ip));
        match self.socks.get(&socket.0).ok_or(NetError::InvalidHandle)? {
            Sock::Tcp(t) => match self.sockets.get::<tcp::Socket>(t.h).local_endpoint() {
                Some(e) => Ok(to_socket_addr(e)),
                None => Err(NetError::NotConnected),
            },
            Sock::Listener(l) => Ok(SocketAddr::new(ip, l.port)),
            Sock::Udp(u) => {
                let e: IpListenEndpoint = self.sockets.get::<udp::Socket>(u.h).endpoint();
                Ok(SocketAddr::new(e.addr.map_or(ip, IpAddr::from), u.port))
            }
        }
    }

    fn close(&mut self, socket: SocketHandle) {
        self.release(socket, false);
    }

    fn abort(&mut self, socket: SocketHandle) {
        self.release(socket, true);
    }

    fn poll(&mut self, now: Instant) -> Option<NetEvent> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        self.run(now);
        self.events.pop_front()
    }

    fn next_deadline(&self) -> Option<Instant> {
        if self.dirty || !self.events.is_empty() {
            return Some(self.now);
        }
        self.deadline
    }
}
