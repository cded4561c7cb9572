//! The at-hal [`Network`] trait over [smoltcp]: the IP stack of the ESP32-C3 backend, written
//! against any [`smoltcp::phy::Device`] so that it is tested on the PC (over smoltcp's
//! `Loopback`) and runs unchanged on the chip (over esp-radio's Wi-Fi station, through
//! `DriverDevice`, with the `embassy-net-driver` feature).
//!
//! [`SmolNet`] owns the device, smoltcp's `Interface` and a `SocketSet`, and maps at-hal's
//! handle-based, non-blocking contract onto them:
//!
//! * **Sockets**: TCP (connect, listen/accept, send/recv, close with linger, abort), UDP, an
//!   ICMP socket for `AT+PING`, a DNS socket, a DHCPv4 socket while the link is up, and a UDP
//!   socket for the SNTP client. Buffer sizes are [`Settings`] (lwIP's ESP-AT defaults).
//! * **Listeners**: one smoltcp socket listens; when a connection arrives it moves to the
//!   listener's queue and a fresh socket takes its place (re-armed between ingress packets),
//!   up to `backlog` unaccepted connections, capped at [`Settings::max_backlog`] (each queued
//!   connection holds a whole socket's buffers). A full queue refuses further SYNs (RST). The
//!   listening socket always sits after its queued connections in smoltcp's socket set, which
//!   hands a segment to the first socket that accepts it: a retransmitted SYN reaches its
//!   half-open connection, not the listener. A half-open connection that does not complete
//!   its handshake within [`Settings::handshake_timeout`] is reset.
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
//! * An established connection that dies reports `Failed(Reset)` whether a RST or smoltcp's
//!   retransmission timeout ([`Settings::tcp_timeout`]) closed it: smoltcp does not say which.
//!   Bytes received before the failure are still returned by `recv` first (as lwIP does).
//! * The retransmission timeout only runs while sent data is unacknowledged (or keep-alive is
//!   on): an idle connection stays up forever, as with lwIP. (smoltcp's own timeout counts
//!   from the last segment received, data queued or not, so it is armed and disarmed here.)
//! * Keep-alive is smoltcp's: a probe every `idle_s` seconds of silence; the connection is
//!   dropped when nothing was heard for `idle_s + interval_s × count` seconds. It starts once
//!   the connection is established (a connect still ends at the connect timeout).
//! * A reset (abort, linger 0, a failed connection closed) frees its socket only once the RST
//!   went out, or [`RST_GRACE`] after its deadline if the device never takes it.
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
    /// Send buffer of each TCP socket, in bytes: 2920 (two segments in flight). ESP-AT's lwIP
    /// allows `TCP_SND_BUF` = 5744 bytes per connection, allocated as data comes; smoltcp
    /// allocates its buffer up front, and at-links already holds a link's outgoing data
    /// (2920 bytes, `at_links::Buffers::tx`), so link + socket = 5840 bytes of send
    /// buffering per link, as lwIP's. Two segments in flight sustain 146 KB/s at 20 ms of
    /// round trip: more than the AT UART carries (92 KB/s at 921 600 baud). With 5744 the five
    /// links' sockets would cost 14 KiB more, which the C3's heap budget does not have
    /// (`ram-budget.sh`).
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
    /// Most unaccepted connections a listener queues, whatever backlog
    /// [`Network::tcp_listen`] asks for (default 4).
    ///
    /// Every queued connection, half-open or established, is a whole TCP socket:
    /// `tcp_rx + tcp_tx` = 5760 + 2920 bytes of buffers plus smoltcp's socket state, about
    /// 8.6 KiB with the defaults. A listener holds at most this many sockets (the listening
    /// one turns into a queued one when a SYN arrives, and is re-armed only while the queue
    /// has room), so a burst of SYNs costs at most `max_backlog × 8.6 KiB`: 35 KiB with 4,
    /// under a quarter of the ~160 KiB of heap the ESP32-C3 firmware has free, leaving room for
    /// the accepted connections (8.6 KiB each too) and the other sockets. A backlog of 16
    /// would be 138 KiB: nearly the whole heap.
    pub max_backlog: usize,
    /// A queued connection still half-open (SYN received, our SYN-ACK not acknowledged) after
    /// this is reset and freed, so that unanswered SYNs do not hold the queue.
    pub handshake_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tcp_rx: 5760,
            tcp_tx: 2920,
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
            max_backlog: 4,
            handshake_timeout: Duration::from_secs(10),
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
/// A reset connection whose RST the device never took (a transmit queue that stays full) is
/// freed this long after its close deadline anyway.
pub const RST_GRACE: Duration = Duration::from_secs(5);

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
    /// Keep-alive as set by the caller (applied once the connection is established).
    keepalive: Option<KeepAliveTimers>,
}

/// smoltcp's keep-alive settings for one connection.
#[derive(Debug, Clone, Copy)]
struct KeepAliveTimers {
    /// Silence before a probe.
    idle: smoltcp::time::Duration,
    /// smoltcp timeout while keep-alive is on (it then applies to idle time too).
    give_up: smoltcp::time::Duration,
}

/// A connection that arrived on a listener and was not accepted yet.
#[derive(Debug)]
struct Pending {
    h: SmolHandle,
    /// `Acceptable` was reported for it.
    reported: bool,
    /// When its SYN arrived (the handshake timeout counts from here).
    since: Instant,
}

#[derive(Debug)]
struct Listener {
    port: u16,
    backlog: usize,
    /// The socket listening now.
    armed: Option<SmolHandle>,
    /// Connections that arrived, oldest first.
    pending: VecDeque<Pending>,
}

#[derive(Debug)]
struct Udp {
    h: SmolHandle,
    port: u16,
    want_read: bool,
    /// `send_to` returned `WouldBlock`: the payload size that did not fit, and the bytes
    /// queued then. `Writable` waits until the queue shrank and that size fits.
    blocked: Option<(usize, usize)>,
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
    /// Reset at this time if not closed by then (linger, or the close timeout); freed
    /// [`RST_GRACE`] later whatever its state.
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

/// A TCP socket with [`Settings`]' buffers and no timeout (see [`arm_timeout`]).
fn tcp_socket(s: &Settings) -> tcp::Socket<'static> {
    tcp::Socket::new(tcp::SocketBuffer::new(vec![0u8; s.tcp_rx]), tcp::SocketBuffer::new(vec![0u8; s.tcp_tx]))
}

/// Give an established connection the smoltcp timeout it needs now.
///
/// smoltcp's timeout counts from the last segment received whether or not anything waits for
/// an acknowledgement, so left on it would drop an idle connection. It is on while
/// keep-alive is (smoltcp's keep-alive relies on it), else only while sent data is
/// unacknowledged: `tcp_timeout` is then the retransmission timeout. (smoltcp restarts the
/// count from the first transmission when data is queued on an empty send buffer.)
fn arm_timeout(settings: &Settings, keepalive: Option<KeepAliveTimers>, s: &mut tcp::Socket<'_>) {
    let want = match keepalive {
        Some(k) => Some(k.give_up),
        None if s.send_queue() > 0 => settings.tcp_timeout.map(smol_duration),
        None => None,
    };
    if s.timeout() != want {
        s.set_timeout(want);
    }
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

    /// The SNTP client's UDP port, once it has a socket.
    fn sntp_port(&self) -> Option<u16> {
        let h = self.sntp.as_ref()?.socket?;
        Some(self.sockets.get::<udp::Socket>(h).endpoint().port)
    }

    /// A UDP socket (ours or the SNTP client's) is bound to `port`.
    fn udp_port_in_use(&self, port: u16) -> bool {
        self.sntp_port() == Some(port)
            || self.socks.values().any(|s| matches!(s, Sock::Udp(u) if u.port == port))
    }

    /// Our TCP connections (open, queued on a listener, or closing) with their local and remote
    /// endpoints.
    fn tcp_tuples(&self) -> impl Iterator<Item = (IpEndpoint, Option<IpEndpoint>)> + '_ {
        let open = self.socks.values().flat_map(|s| {
            let (one, queued) = match s {
                Sock::Tcp(t) => (Some(t.h), None),
                Sock::Listener(l) => (None, Some(l.pending.iter().map(|p| p.h))),
                Sock::Udp(_) => (None, None),
            };
            one.into_iter().chain(queued.into_iter().flatten())
        });
        open.chain(self.closing.iter().map(|c| c.h)).filter_map(|h| {
            let s = self.sockets.get::<tcp::Socket>(h);
            s.local_endpoint().map(|l| (l, s.remote_endpoint()))
        })
    }

    /// Any socket of ours (or the SNTP client's) uses local `port`.
    fn port_in_use(&self, port: u16) -> bool {
        self.udp_port_in_use(port)
            || self.socks.values().any(|s| matches!(s, Sock::Listener(l) if l.port == port))
            || self.tcp_tuples().any(|(local, _)| local.port == port)
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
        let deadline = if reset {
            s.abort();
            self.now
        } else {
            s.close();
            let mut deadline = self.now + self.settings.close_timeout;
            if let Some(secs) = linger {
                deadline = deadline.min(self.now + Duration::from_secs(u64::from(secs)));
            }
            deadline
        };
        self.closing.push(Closing { h, deadline });
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
                for p in l.pending {
                    self.begin_close(p.h, true, None);
                }
            }
            Sock::Udp(u) => {
                self.sockets.remove(u.h);
            }
        }
    }

    /// Give every listener a listening socket while its queue has room; move arrived
    /// connections to the queue; drop queued half-open connections the client reset (smoltcp
    /// turns them back into listening sockets).
    ///
    /// smoltcp hands an incoming segment to the first socket in slot order that accepts it,
    /// and a listening socket accepts any SYN to its port: the listening socket must come
    /// after the queued connections, or a retransmitted SYN (our SYN-ACK was lost) opens a
    /// second half-open connection and the client is reset. A new socket takes the lowest
    /// free slot, so when it lands before a queued one, the queue and then the listening
    /// socket are moved to new slots (at most `max_backlog + 1` sockets, by value).
    fn rearm_listeners(&mut self) {
        let now = self.now;
        for sock in self.socks.values_mut() {
            let Sock::Listener(l) = sock else { continue };
            let sockets = &mut self.sockets;
            l.pending.retain(|p| {
                let back_to_listen = sockets.get::<tcp::Socket>(p.h).state() == tcp::State::Listen;
                if back_to_listen {
                    sockets.remove(p.h);
                }
                !back_to_listen
            });
            if let Some(h) = l.armed
                && self.sockets.get::<tcp::Socket>(h).state() != tcp::State::Listen
            {
                l.pending.push_back(Pending { h, reported: false, since: now });
                l.armed = None;
            }
            if l.armed.is_none() && l.pending.len() < l.backlog {
                let mut s = tcp_socket(&self.settings);
                if s.listen(l.port).is_ok() {
                    l.armed = Some(self.sockets.add(s));
                }
            }
            if let Some(armed) = l.armed
                && l.pending.iter().any(|p| p.h > armed)
            {
                let listening = self.sockets.remove(armed);
                let queued: Vec<_> = l.pending.iter().map(|p| self.sockets.remove(p.h)).collect();
                for (p, s) in l.pending.iter_mut().zip(queued) {
                    p.h = self.sockets.add(s);
                }
                l.armed = Some(self.sockets.add(listening));
            }
        }
    }

    /// Run the stack once (bounded) and derive events.
    fn run(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let ts = to_smol(self.now);
        self.iface.poll_maintenance(ts);
        // Whether the device may still hold packets when the per-run cap stops the loop.
        let mut more_ingress = self.settings.max_ingress_per_poll > 0;
        for _ in 0..self.settings.max_ingress_per_poll {
            match self.iface.poll_ingress_single(ts, &mut self.device, &mut self.sockets) {
                PollIngressSingleResult::None => {
                    more_ingress = false;
                    break;
                }
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
        // Packets left in the device: the next poll has work now.
        self.dirty = more_ingress;
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
                                if let Some(k) = t.keepalive {
                                    s.set_keep_alive(Some(k.idle));
                                }
                                self.events.push_back(NetEvent::Connected(handle));
                            } else if state == tcp::State::Closed {
                                // No timeout runs while connecting (the deadline is ours), so
                                // only a RST closes the socket here.
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
                    arm_timeout(&self.settings, t.keepalive, s);
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
                    // Connections reset before they were accepted are dropped; half-open ones
                    // past the handshake timeout are reset (and freed once the RST is out).
                    let handshake_timeout = self.settings.handshake_timeout;
                    let (sockets, closing) = (&mut self.sockets, &mut self.closing);
                    l.pending.retain(|p| {
                        let s = sockets.get_mut::<tcp::Socket>(p.h);
                        match s.state() {
                            tcp::State::Closed => {
                                if s.remote_endpoint().is_none() {
                                    sockets.remove(p.h);
                                } else {
                                    // Closed by smoltcp with a RST still to send.
                                    closing.push(Closing { h: p.h, deadline: now });
                                }
                                false
                            }
                            tcp::State::SynReceived if now >= p.since + handshake_timeout => {
                                s.abort();
                                closing.push(Closing { h: p.h, deadline: now });
                                false
                            }
                            _ => true,
                        }
                    });
                    let mut announce = false;
                    for p in l.pending.iter_mut() {
                        if !p.reported && is_connected_state(self.sockets.get::<tcp::Socket>(p.h).state()) {
                            p.reported = true;
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
                    // `can_send` only says a metadata slot is free: report room once the queue
                    // moved and the datagram that did not fit fits now. The payload ring needs
                    // the size contiguously (padding to the end wraps it), which any free
                    // space of twice the size guarantees; an empty queue always has room.
                    if let Some((size, queued)) = u.blocked {
                        let q = s.send_queue();
                        let free = s.payload_send_capacity().saturating_sub(q);
                        if q < queued && (q == 0 || (s.can_send() && free >= size.saturating_mul(2))) {
                            u.blocked = None;
                            self.events.push_back(NetEvent::Writable(handle));
                        }
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
        let Some(existing) = self.sntp.as_ref().map(|s| s.socket) else { return };
        let h = match existing {
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
                // From the same allocator as `udp_bind(0)`; `port_in_use` counts it from now on.
                let port = self.ephemeral();
                if self.port_in_use(port) || u.bind(port).is_err() {
                    if let Some(s) = &mut self.sntp {
                        s.phase = SntpPhase::Idle;
                        s.next = now + Duration::from_secs(1);
                    }
                    return;
                }
                let h = self.sockets.add(u);
                if let Some(s) = &mut self.sntp {
                    s.socket = Some(h);
                }
                h
            }
        };
        let Some(s) = &mut self.sntp else { return };
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

    /// Free closing connections that are done: closed with nothing left to send (smoltcp
    /// forgets the remote endpoint once an abort's RST went out), or in TIME-WAIT. Reset the
    /// ones past their deadline; free any socket [`RST_GRACE`] after it (a device that never
    /// transmits must not hold memory forever).
    fn collect_closing(&mut self) {
        let now = self.now;
        let sockets = &mut self.sockets;
        self.closing.retain_mut(|c| {
            let s = sockets.get_mut::<tcp::Socket>(c.h);
            let state = s.state();
            let done = match state {
                tcp::State::Closed => s.remote_endpoint().is_none(),
                tcp::State::TimeWait => true,
                _ => false,
            };
            if done || now >= c.deadline + RST_GRACE {
                sockets.remove(c.h);
                return false;
            }
            if now >= c.deadline && state != tcp::State::Closed {
                // Linger expired, or the peer never finished the handshake: reset.
                s.abort();
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
        let closing = self
            .closing
            .iter()
            .map(|c| if self.now >= c.deadline { c.deadline + RST_GRACE } else { c.deadline });
        let handshake = self.settings.handshake_timeout;
        let half_open = self.socks.values().filter_map(|s| match s {
            Sock::Listener(l) => l
                .pending
                .iter()
                .filter(|p| self.sockets.get::<tcp::Socket>(p.h).state() == tcp::State::SynReceived)
                .map(|p| p.since + handshake)
                .min(),
            _ => None,
        });
        let sntp = self.sntp.as_ref().and_then(|s| match s.phase {
            _ if self.ip.is_none() => None,
            SntpPhase::Idle => Some(s.next),
            SntpPhase::Resolving(_) => None,
            SntpPhase::Waiting(_, sent, _) => Some(sent + self.settings.sntp_timeout),
        });
        self.deadline = stack.into_iter().chain(connects).chain(closing).chain(half_open).chain(sntp).min();
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
                let old = self.sntp.take();
                if let Some(SntpPhase::Resolving(id)) = old.as_ref().map(|s| s.phase) {
                    // The old server's lookup is nobody's now: no DnsDone, no entry left.
                    self.dns_cancel(DnsQuery(id));
                }
                let socket = old.and_then(|s| s.socket);
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
        let remote_ep = IpEndpoint::new(IpAddress::Ipv4(ip), remote.port());
        let port = if local_port == 0 {
            self.ephemeral()
        } else {
            // An explicit port may be shared with other connections, not with one to the same
            // remote endpoint (the same 4-tuple).
            if self.tcp_tuples().any(|(local, r)| local.port == local_port && r == Some(remote_ep)) {
                return Err(NetError::AddrInUse);
            }
            local_port
        };
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
            keepalive: None,
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
            backlog: usize::from(backlog.max(1)).min(self.settings.max_backlog.max(1)),
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
            .position(|p| is_connected_state(sockets.get::<tcp::Socket>(p.h).state()))
            .ok_or(NetError::WouldBlock)?;
        let Some(Pending { h, .. }) = l.pending.remove(i) else { return Err(NetError::WouldBlock) };
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
            keepalive: None,
        }));
        self.rearm_listeners();
        Ok((s, remote))
    }

    fn udp_bind(&mut self, local_port: u16) -> Result<SocketHandle, NetError> {
        let port = if local_port == 0 { self.ephemeral() } else { local_port };
        if self.udp_port_in_use(port) {
            return Err(NetError::AddrInUse);
        }
        let ((rp, rb), (tp, tb)) = (self.settings.udp_rx, self.settings.udp_tx);
        let mut s = udp::Socket::new(
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; rp.max(1)], vec![0u8; rb]),
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; tp.max(1)], vec![0u8; tb]),
        );
        s.bind(port).map_err(|_| NetError::InvalidArgument)?;
        let h = self.sockets.add(s);
        Ok(self.insert(Sock::Udp(Udp { h, port, want_read: true, blocked: None })))
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
                // Data to be acknowledged: the retransmission timeout runs.
                arm_timeout(&self.settings, t.keepalive, s);
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
        if buf.is_empty() {
            // `Ok(0)` would mean end of stream.
            return Err(NetError::InvalidArgument);
        }
        let h = t.h;
        match t.phase {
            Phase::Failed(e) => {
                // Bytes that arrived before a RST stay in smoltcp's receive buffer (a RST only
                // forgets the remote endpoint): they come first, then the error.
                let s = self.sockets.get_mut::<tcp::Socket>(h);
                return match s.recv_slice(buf) {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(e),
                };
            }
            Phase::Connecting(_) => return Err(NetError::NotConnected),
            Phase::Open => {}
        }
        let s = self.sockets.get_mut::<tcp::Socket>(h);
        match s.recv_slice(buf) {
            Ok(0) => {
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
                u.blocked = Some((data.len(), s.send_queue()));
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
            SocketOption::KeepAlive(k) => {
                t.keepalive = k.map(|k| {
                    let idle = u64::from(k.idle_s.max(1));
                    let give_up = idle + u64::from(k.interval_s.max(1)) * u64::from(k.count.max(1));
                    KeepAliveTimers {
                        idle: smoltcp::time::Duration::from_secs(idle),
                        give_up: smoltcp::time::Duration::from_secs(give_up),
                    }
                });
                // While connecting, smoltcp's timeout would end the connect early (and look
                // like a refusal): keep-alive starts when the connection is established.
                if t.phase == Phase::Open {
                    s.set_keep_alive(t.keepalive.map(|k| k.idle));
                    arm_timeout(&self.settings, t.keepalive, s);
                }
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
