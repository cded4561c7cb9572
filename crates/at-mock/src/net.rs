//! [`SimNet`]: a deterministic simulated IP stack with scripted peers and seeded faults.
//!
//! The firmware side is the [`Network`] trait. The test side plays every remote host:
//!
//! * remote TCP servers ([`SimNet::add_server`]) accept the firmware's connects; each
//!   accepted connection is a [`PeerId`] the test reads and writes
//!   ([`SimNet::peer_send`], [`SimNet::peer_take`], [`SimNet::peer_close`],
//!   [`SimNet::peer_reset`]);
//! * remote TCP clients dial the firmware's listeners ([`SimNet::dial`]);
//! * remote UDP endpoints send datagrams to firmware sockets ([`SimNet::udp_send`]) and
//!   collect what the firmware sends them ([`SimNet::udp_take`]);
//! * names resolve through [`SimNet::add_host`].
//!
//! Flow control is modelled: bytes the firmware sends occupy its send window until the peer
//! takes them, so a peer that does not read makes `send` return `WouldBlock`; bytes a peer
//! sends occupy the firmware socket's receive window until `recv` takes them, so a firmware
//! that stops reading stops the peer ([`SimNet::peer_send`] returns less).
//!
//! Faults ([`Faults`]) are drawn from a seeded generator: partial writes, delivery delay,
//! refused connects, connection resets, UDP loss. The same seed and the same calls give the
//! same run. Nothing reads a clock: time is what `poll(now)` and the other calls pass.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use at_hal::net::{
    Datagram, DnsQuery, IpAddr, IpConfig, Ipv4Addr, NetError, NetEvent, Network, SntpConfig, SocketAddr,
    SocketHandle, SocketOption,
};
use at_hal::time::{Instant, UnixTime};

use crate::iface::SimInterface;
use crate::rng::SplitMix64;

/// A connection as the test's remote peer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u32);

/// Latencies of the simulated stack (DHCP and SNTP: [`SimInterface`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetTiming {
    /// From `tcp_connect` to `Connected` / `ConnectFailed`.
    pub connect: Duration,
    /// A DNS lookup.
    pub dns: Duration,
}

impl Default for NetTiming {
    fn default() -> Self {
        NetTiming { connect: Duration::from_millis(5), dns: Duration::from_millis(5) }
    }
}

/// Seeded faults. All off by default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// `send` takes a random 1..=n of what fits instead of all of it.
    pub partial_writes: bool,
    /// Extra delay before bytes a peer sends become readable.
    pub delay: Duration,
    /// Probability that a connect to a listening server is refused anyway.
    pub refuse: f64,
    /// Probability, per `send`, that the connection is reset by the peer instead.
    pub reset: f64,
    /// Probability that a datagram (either direction) is lost.
    pub udp_loss: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults { partial_writes: false, delay: Duration::ZERO, refuse: 0.0, reset: 0.0, udp_loss: 0.0 }
    }
}

/// Buffer sizes of every simulated socket (lwIP's defaults in ESP-AT: `TCP_SND_BUF` 5744,
/// `TCP_WND` 5760).
pub const SEND_WINDOW: usize = 5744;
/// See [`SEND_WINDOW`].
pub const RECV_WINDOW: usize = 5760;
/// Datagrams queued per UDP socket before more are dropped (lwIP `RECV_BUFSIZE`-like).
pub const UDP_QUEUE: usize = 16;

/// What the remote end of a connection sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// Connected.
    Open,
    /// The firmware closed its side (the peer reads what is left, then EOF).
    ClosedByFirmware,
    /// The firmware reset the connection (abort, or linger 0).
    ResetByFirmware,
    /// The peer closed its side.
    ClosedByPeer,
    /// The peer reset it.
    ResetByPeer,
}

#[derive(Debug)]
struct Conn {
    /// The firmware's socket, while open.
    fw: Option<u32>,
    local: SocketAddr,
    remote: SocketAddr,
    /// Firmware → peer: bytes the peer has not taken yet (they occupy the send window).
    to_peer: Vec<u8>,
    /// Peer → firmware: (readable from, bytes).
    to_fw: VecDeque<(Instant, Vec<u8>)>,
    /// Peer sent FIN (after its data).
    peer_fin: bool,
    state: PeerState,
}

#[derive(Debug)]
enum Sock {
    Connecting { conn: u32, ready: Instant, outcome: Result<(), NetError> },
    Tcp { conn: u32, failed: Option<NetError>, want_write: bool },
    Listener { port: u16, backlog: u8, pending: VecDeque<u32> },
    Udp { port: u16, queue: VecDeque<(Instant, SocketAddr, Vec<u8>)> },
}

#[derive(Debug)]
struct Socket {
    sock: Sock,
    options: Vec<SocketOption>,
}

/// The simulated stack. See the module docs.
pub struct SimNet {
    rng: SplitMix64,
    faults: Faults,
    timing: NetTiming,
    now: Instant,
    /// The time of the previous `poll`: bytes due after it and by the next are reported.
    polled_at: Instant,
    iface: SimInterface,
    // ICMP: hosts that answer, with their round trip; pings in flight (reply due, rtt).
    ping_hosts: BTreeMap<IpAddr, Duration>,
    pings: BTreeMap<u32, (Option<Instant>, Duration)>,
    // DNS
    hosts: BTreeMap<String, IpAddr>,
    queries: BTreeMap<u32, (Instant, Result<IpAddr, NetError>)>,
    // sockets
    next_handle: u32,
    sockets: BTreeMap<u32, Socket>,
    next_conn: u32,
    conns: BTreeMap<u32, Conn>,
    servers: BTreeMap<SocketAddr, Vec<PeerId>>,
    udp_remote: BTreeMap<SocketAddr, Vec<(SocketAddr, Vec<u8>)>>,
    next_ephemeral: u16,
    events: VecDeque<NetEvent>,
    /// Sockets ever opened (for leak checks with [`SimNet::open_sockets`]).
    pub sockets_opened: usize,
}

impl std::fmt::Debug for SimNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimNet")
            .field("ip", &self.iface.ip_config())
            .field("sockets", &self.sockets.len())
            .field("conns", &self.conns.len())
            .finish()
    }
}

impl Default for SimNet {
    fn default() -> Self {
        SimNet::new(0)
    }
}

impl SimNet {
    /// A stack whose faults draw from `seed`. Its DHCP lease is `192.168.10.20/24`; SNTP
    /// reports `2024-01-01T00:00:00Z` plus the [`Instant`] (see [`SimNet::with_wall_clock`]).
    /// The interface ([`SimNet::interface`]) has the default DHCP and SNTP latencies.
    pub fn new(seed: u64) -> Self {
        SimNet {
            rng: SplitMix64::new(seed),
            faults: Faults::default(),
            timing: NetTiming::default(),
            now: Instant::ZERO,
            polled_at: Instant::ZERO,
            iface: SimInterface::new(IpConfig {
                ip: Ipv4Addr::new(192, 168, 10, 20),
                gateway: Ipv4Addr::new(192, 168, 10, 1),
                netmask: Ipv4Addr::new(255, 255, 255, 0),
            }),
            ping_hosts: BTreeMap::new(),
            pings: BTreeMap::new(),
            hosts: BTreeMap::new(),
            queries: BTreeMap::new(),
            next_handle: 1,
            sockets: BTreeMap::new(),
            next_conn: 1,
            conns: BTreeMap::new(),
            servers: BTreeMap::new(),
            udp_remote: BTreeMap::new(),
            next_ephemeral: 50_000,
            events: VecDeque::new(),
            sockets_opened: 0,
        }
    }

    /// Change the latencies.
    pub fn with_timing(mut self, timing: NetTiming) -> Self {
        self.timing = timing;
        self
    }

    /// Turn on faults.
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Change the faults mid-test.
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// Use `clock` as the time SNTP reports (the host backend passes the OS clock).
    pub fn with_wall_clock(mut self, clock: impl Fn(Instant) -> UnixTime + Send + 'static) -> Self {
        self.iface.set_wall_clock(clock);
        self
    }

    /// The address DHCP hands out.
    pub fn with_dhcp_address(mut self, config: IpConfig) -> Self {
        self.iface.set_lease(config);
        self
    }

    /// The interface (addressing, DNS servers, SNTP): inspect or change its latencies.
    pub fn interface(&mut self) -> &mut SimInterface {
        &mut self.iface
    }

    /// The hostname last set.
    pub fn hostname(&self) -> &str {
        self.iface.hostname()
    }

    /// Firmware sockets currently open.
    pub fn open_sockets(&self) -> usize {
        self.sockets.len()
    }

    /// The options last set on a firmware socket.
    pub fn options(&self, socket: SocketHandle) -> &[SocketOption] {
        self.sockets.get(&socket.0).map_or(&[], |s| &s.options)
    }

    // ---- the test's side ----

    /// Make `name` resolve to `ip`.
    pub fn add_host(&mut self, name: &str, ip: IpAddr) {
        self.hosts.insert(name.to_ascii_lowercase(), ip);
    }

    /// `ip` answers pings after `rtt` (others never answer).
    pub fn add_ping_host(&mut self, ip: IpAddr, rtt: Duration) {
        self.ping_hosts.insert(ip, rtt);
    }

    /// A remote TCP server at `addr`: the firmware's connects to it succeed.
    pub fn add_server(&mut self, addr: SocketAddr) {
        self.servers.entry(addr).or_default();
    }

    /// Connections the server at `addr` has accepted, oldest first.
    pub fn accepted(&self, addr: SocketAddr) -> &[PeerId] {
        self.servers.get(&addr).map_or(&[], Vec::as_slice)
    }

    /// A remote client dials the firmware's listener on `port`. `Refused` if nothing listens
    /// or its backlog is full.
    pub fn dial(&mut self, from: SocketAddr, port: u16) -> Result<PeerId, NetError> {
        let ip = self.iface.ip_config().ok_or(NetError::Unreachable)?.ip;
        let listener = self.sockets.iter_mut().find_map(|(&h, s)| match &mut s.sock {
            Sock::Listener { port: p, backlog, pending } if *p == port => Some((h, *backlog, pending)),
            _ => None,
        });
        let Some((h, backlog, pending)) = listener else { return Err(NetError::Refused) };
        if pending.len() >= usize::from(backlog.max(1)) {
            return Err(NetError::Refused);
        }
        let id = self.next_conn;
        self.next_conn += 1;
        pending.push_back(id);
        self.conns.insert(
            id,
            Conn {
                fw: None,
                local: SocketAddr::new(IpAddr::V4(ip), port),
                remote: from,
                to_peer: Vec::new(),
                to_fw: VecDeque::new(),
                peer_fin: false,
                state: PeerState::Open,
            },
        );
        self.events.push_back(NetEvent::Acceptable(SocketHandle(h)));
        Ok(PeerId(id))
    }

    /// The peer sends `data`: returns how much the firmware socket's receive window took.
    pub fn peer_send(&mut self, peer: PeerId, data: &[u8]) -> usize {
        let ready = self.now + self.faults.delay;
        let Some(c) = self.conns.get_mut(&peer.0) else { return 0 };
        if c.state != PeerState::Open || c.peer_fin {
            return 0;
        }
        let queued: usize = c.to_fw.iter().map(|(_, b)| b.len()).sum();
        let n = RECV_WINDOW.saturating_sub(queued).min(data.len());
        if n > 0 {
            c.to_fw.push_back((ready, data[..n].to_vec()));
            if ready <= self.now
                && let Some(fw) = c.fw
            {
                self.events.push_back(NetEvent::Readable(SocketHandle(fw)));
            }
        }
        n
    }

    /// Take everything the firmware sent the peer so far (frees the firmware's send window).
    pub fn peer_take(&mut self, peer: PeerId) -> Vec<u8> {
        let Some(c) = self.conns.get_mut(&peer.0) else { return Vec::new() };
        let out = std::mem::take(&mut c.to_peer);
        if !out.is_empty()
            && let Some(fw) = c.fw
            && let Some(Socket { sock: Sock::Tcp { want_write, .. }, .. }) = self.sockets.get_mut(&fw)
            && std::mem::take(want_write)
        {
            self.events.push_back(NetEvent::Writable(SocketHandle(fw)));
        }
        out
    }

    /// The peer closes its side (FIN after what it sent).
    pub fn peer_close(&mut self, peer: PeerId) {
        if let Some(c) = self.conns.get_mut(&peer.0)
            && c.state == PeerState::Open
        {
            c.peer_fin = true;
            c.state = PeerState::ClosedByPeer;
            if let Some(fw) = c.fw {
                self.events.push_back(NetEvent::Readable(SocketHandle(fw)));
            }
        }
    }

    /// The peer resets the connection.
    pub fn peer_reset(&mut self, peer: PeerId) {
        self.reset_conn(peer.0);
    }

    /// Drop the simulated stack's record of a connection the test is done with (records are
    /// kept after a close so tests can inspect [`SimNet::peer_state`]; long tests forget
    /// them so the stack's own memory does not grow). A connection the firmware still holds
    /// is kept.
    pub fn forget(&mut self, peer: PeerId) {
        if self
            .conns
            .get(&peer.0)
            .is_some_and(|c| c.fw.is_none() || !self.sockets.contains_key(&c.fw.unwrap_or(0)))
        {
            self.conns.remove(&peer.0);
            for list in self.servers.values_mut() {
                list.retain(|p| *p != peer);
            }
        }
    }

    /// How the connection looks from the peer.
    pub fn peer_state(&self, peer: PeerId) -> Option<PeerState> {
        self.conns.get(&peer.0).map(|c| c.state)
    }

    /// The peer's view of the addresses: (its own, the firmware's).
    pub fn peer_addrs(&self, peer: PeerId) -> Option<(SocketAddr, SocketAddr)> {
        self.conns.get(&peer.0).map(|c| (c.remote, c.local))
    }

    /// A remote UDP endpoint `from` sends a datagram to the firmware's port `to_port`.
    /// Returns whether it was queued (false: no socket, queue full, or lost).
    pub fn udp_send(&mut self, from: SocketAddr, to_port: u16, data: &[u8]) -> bool {
        if self.faults.udp_loss > 0.0 && self.rng.chance(self.faults.udp_loss) {
            return false;
        }
        let ready = self.now + self.faults.delay;
        let target = self.sockets.iter_mut().find_map(|(&h, s)| match &mut s.sock {
            Sock::Udp { port, queue } if *port == to_port => Some((h, queue)),
            _ => None,
        });
        let Some((h, queue)) = target else { return false };
        if queue.len() >= UDP_QUEUE {
            return false;
        }
        queue.push_back((ready, from, data.to_vec()));
        if ready <= self.now {
            self.events.push_back(NetEvent::Readable(SocketHandle(h)));
        }
        true
    }

    /// Datagrams the firmware sent to `addr`: (from, payload), oldest first.
    pub fn udp_take(&mut self, addr: SocketAddr) -> Vec<(SocketAddr, Vec<u8>)> {
        self.udp_remote.remove(&addr).unwrap_or_default()
    }

    // ---- internals ----

    fn new_handle(&mut self, sock: Sock) -> SocketHandle {
        let h = self.next_handle;
        self.next_handle = self.next_handle.wrapping_add(1).max(1);
        self.sockets.insert(h, Socket { sock, options: Vec::new() });
        self.sockets_opened += 1;
        SocketHandle(h)
    }

    fn ephemeral(&mut self) -> u16 {
        let p = self.next_ephemeral;
        self.next_ephemeral = if p >= 65_000 { 50_000 } else { p + 1 };
        p
    }

    fn local_ip(&self) -> Result<Ipv4Addr, NetError> {
        self.iface.ip_config().map(|c| c.ip).ok_or(NetError::Unreachable)
    }

    fn reset_conn(&mut self, id: u32) {
        let Some(c) = self.conns.get_mut(&id) else { return };
        if matches!(c.state, PeerState::Open | PeerState::ClosedByPeer) {
            c.state = PeerState::ResetByPeer;
            // What the peer sent before the reset stays readable (lwIP keeps it queued).
            if let Some(fw) = c.fw
                && let Some(Socket { sock: Sock::Tcp { failed, .. }, .. }) = self.sockets.get_mut(&fw)
            {
                *failed = Some(NetError::Reset);
                self.events.push_back(NetEvent::Failed(SocketHandle(fw), NetError::Reset));
            }
        }
    }

    fn tcp_conn(&self, s: SocketHandle) -> Result<u32, NetError> {
        match self.sockets.get(&s.0).map(|x| &x.sock) {
            Some(Sock::Tcp { failed: Some(e), .. }) => Err(*e),
            Some(Sock::Tcp { conn, .. }) => Ok(*conn),
            Some(Sock::Connecting { .. }) => Err(NetError::NotConnected),
            _ => Err(NetError::InvalidHandle),
        }
    }

    fn linger_zero(&self, s: SocketHandle) -> bool {
        self.options(s).iter().rev().find_map(|o| match o {
            SocketOption::Linger(l) => Some(*l == Some(0)),
            _ => None,
        }) == Some(true)
    }

    fn release(&mut self, s: SocketHandle, reset: bool) {
        let Some(sock) = self.sockets.remove(&s.0) else { return };
        let conn = match sock.sock {
            Sock::Connecting { conn, .. } | Sock::Tcp { conn, .. } => Some(conn),
            Sock::Listener { pending, .. } => {
                for id in pending {
                    if let Some(c) = self.conns.get_mut(&id) {
                        c.state = PeerState::ResetByFirmware;
                    }
                }
                None
            }
            Sock::Udp { .. } => None,
        };
        if let Some(c) = conn.and_then(|id| self.conns.get_mut(&id)) {
            c.fw = None;
            if matches!(c.state, PeerState::Open | PeerState::ClosedByPeer) {
                c.state = if reset { PeerState::ResetByFirmware } else { PeerState::ClosedByFirmware };
            }
        }
    }
}

impl Network for SimNet {
    fn set_link(&mut self, up: bool, now: Instant) {
        self.now = self.now.max(now);
        self.iface.set_link(up, now);
    }

    fn ip_config(&self) -> Option<IpConfig> {
        self.iface.ip_config()
    }

    fn set_dhcp(&mut self, enabled: bool, now: Instant) {
        self.iface.set_dhcp(enabled, now);
    }

    fn set_static_ip(&mut self, config: IpConfig, now: Instant) -> Result<(), NetError> {
        self.iface.set_static_ip(config, now);
        Ok(())
    }

    fn set_hostname(&mut self, hostname: &str) -> Result<(), NetError> {
        self.iface.set_hostname(hostname);
        Ok(())
    }

    fn set_dns_servers(&mut self, servers: &[IpAddr]) -> Result<(), NetError> {
        self.iface.set_dns_servers(servers);
        Ok(())
    }

    fn configure_sntp(&mut self, config: &SntpConfig<'_>, now: Instant) -> Result<(), NetError> {
        self.iface.configure_sntp(config, now);
        Ok(())
    }

    fn ping_start(&mut self, to: IpAddr, now: Instant) -> Result<at_hal::net::PingId, NetError> {
        self.local_ip()?;
        let id = self.next_handle;
        self.next_handle = self.next_handle.wrapping_add(1).max(1);
        let rtt = self.ping_hosts.get(&to).copied();
        self.pings.insert(id, (rtt.map(|r| now + r), rtt.unwrap_or_default()));
        Ok(at_hal::net::PingId(id))
    }

    fn ping_result(&mut self, ping: at_hal::net::PingId, now: Instant) -> Result<Duration, NetError> {
        match self.pings.get(&ping.0) {
            None => Err(NetError::InvalidHandle),
            Some((Some(due), rtt)) if *due <= now => {
                let rtt = *rtt;
                self.pings.remove(&ping.0);
                Ok(rtt)
            }
            Some(_) => Err(NetError::WouldBlock),
        }
    }

    fn ping_cancel(&mut self, ping: at_hal::net::PingId) {
        self.pings.remove(&ping.0);
    }

    fn dns_start(&mut self, host: &str, now: Instant) -> Result<DnsQuery, NetError> {
        if host.is_empty() || host.len() > at_hal::net::MAX_HOST_LEN {
            return Err(NetError::InvalidArgument);
        }
        let result = match host.parse::<IpAddr>() {
            Ok(ip) => Ok(ip),
            Err(_) if self.iface.ip_config().is_none() => Err(NetError::Unreachable),
            Err(_) => self.hosts.get(&host.to_ascii_lowercase()).copied().ok_or(NetError::HostNotFound),
        };
        let id = self.next_handle;
        self.next_handle = self.next_handle.wrapping_add(1).max(1);
        let ready = if host.parse::<IpAddr>().is_ok() { now } else { now + self.timing.dns };
        self.queries.insert(id, (ready, result));
        if ready <= now {
            self.events.push_back(NetEvent::DnsDone(DnsQuery(id)));
        }
        Ok(DnsQuery(id))
    }

    fn dns_result(&mut self, query: DnsQuery) -> Result<IpAddr, NetError> {
        match self.queries.get(&query.0) {
            None => Err(NetError::InvalidHandle),
            Some((ready, _)) if *ready > self.now => Err(NetError::WouldBlock),
            Some(_) => self.queries.remove(&query.0).map_or(Err(NetError::InvalidHandle), |(_, r)| r),
        }
    }

    fn dns_cancel(&mut self, query: DnsQuery) {
        self.queries.remove(&query.0);
    }

    fn tcp_connect(
        &mut self,
        remote: SocketAddr,
        local_port: u16,
        now: Instant,
    ) -> Result<SocketHandle, NetError> {
        self.now = self.now.max(now);
        let ip = self.local_ip()?;
        if remote.port() == 0 || remote.ip().is_unspecified() {
            return Err(NetError::InvalidArgument);
        }
        let port = if local_port == 0 { self.ephemeral() } else { local_port };
        let refused = !self.servers.contains_key(&remote)
            || (self.faults.refuse > 0.0 && self.rng.chance(self.faults.refuse));
        let outcome = if refused { Err(NetError::Refused) } else { Ok(()) };
        let id = self.next_conn;
        self.next_conn += 1;
        self.conns.insert(
            id,
            Conn {
                fw: None,
                local: SocketAddr::new(IpAddr::V4(ip), port),
                remote,
                to_peer: Vec::new(),
                to_fw: VecDeque::new(),
                peer_fin: false,
                state: PeerState::Open,
            },
        );
        let h = self.new_handle(Sock::Connecting { conn: id, ready: now + self.timing.connect, outcome });
        if let Some(c) = self.conns.get_mut(&id) {
            c.fw = Some(h.0);
        }
        Ok(h)
    }

    fn tcp_listen(&mut self, port: u16, backlog: u8) -> Result<SocketHandle, NetError> {
        if port == 0 {
            return Err(NetError::InvalidArgument);
        }
        let taken =
            self.sockets.values().any(|s| matches!(s.sock, Sock::Listener { port: p, .. } if p == port));
        if taken {
            return Err(NetError::AddrInUse);
        }
        Ok(self.new_handle(Sock::Listener { port, backlog, pending: VecDeque::new() }))
    }

    fn tcp_accept(&mut self, listener: SocketHandle) -> Result<(SocketHandle, SocketAddr), NetError> {
        let Some(Socket { sock: Sock::Listener { pending, .. }, .. }) = self.sockets.get_mut(&listener.0)
        else {
            return Err(NetError::InvalidHandle);
        };
        let id = pending.pop_front().ok_or(NetError::WouldBlock)?;
        let h = self.new_handle(Sock::Tcp { conn: id, failed: None, want_write: false });
        let Some(c) = self.conns.get_mut(&id) else { return Err(NetError::Io) };
        c.fw = Some(h.0);
        let remote = c.remote;
        if !c.to_fw.is_empty() || c.peer_fin {
            self.events.push_back(NetEvent::Readable(h));
        }
        Ok((h, remote))
    }

    fn udp_bind(&mut self, local_port: u16) -> Result<SocketHandle, NetError> {
        let port = if local_port == 0 { self.ephemeral() } else { local_port };
        let taken = self.sockets.values().any(|s| matches!(s.sock, Sock::Udp { port: p, .. } if p == port));
        if taken {
            return Err(NetError::AddrInUse);
        }
        Ok(self.new_handle(Sock::Udp { port, queue: VecDeque::new() }))
    }

    fn send(&mut self, socket: SocketHandle, data: &[u8]) -> Result<usize, NetError> {
        if data.is_empty() {
            return Err(NetError::InvalidArgument);
        }
        let id = self.tcp_conn(socket)?;
        if self.faults.reset > 0.0 && self.rng.chance(self.faults.reset) {
            self.reset_conn(id);
            return Err(NetError::Reset);
        }
        let partial = self.faults.partial_writes;
        let cut = if partial { 1 + self.rng.below(data.len() as u64) as usize } else { data.len() };
        let Some(c) = self.conns.get_mut(&id) else { return Err(NetError::Io) };
        if !matches!(c.state, PeerState::Open | PeerState::ClosedByPeer) {
            return Err(NetError::NotConnected);
        }
        let room = SEND_WINDOW.saturating_sub(c.to_peer.len());
        let n = room.min(cut);
        if n == 0 {
            if let Some(Socket { sock: Sock::Tcp { want_write, .. }, .. }) = self.sockets.get_mut(&socket.0) {
                *want_write = true;
            }
            return Err(NetError::WouldBlock);
        }
        c.to_peer.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn recv(&mut self, socket: SocketHandle, buf: &mut [u8]) -> Result<usize, NetError> {
        // After a reset, what arrived before it is read first; then the error.
        let failed = match self.sockets.get(&socket.0).map(|x| &x.sock) {
            Some(Sock::Tcp { failed: Some(e), conn, .. }) => Some((*e, *conn)),
            _ => None,
        };
        let id = match failed {
            Some((_, conn)) => conn,
            None => self.tcp_conn(socket)?,
        };
        if buf.is_empty() {
            // `Ok(0)` would mean the end of the stream.
            return Err(NetError::InvalidArgument);
        }
        let now = self.now;
        let Some(c) = self.conns.get_mut(&id) else { return Err(NetError::Io) };
        let mut n = 0;
        while n < buf.len() {
            let Some((ready, chunk)) = c.to_fw.front_mut() else { break };
            if *ready > now {
                break;
            }
            let k = chunk.len().min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&chunk[..k]);
            chunk.drain(..k);
            if chunk.is_empty() {
                c.to_fw.pop_front();
            }
            n += k;
        }
        if n > 0 {
            return Ok(n);
        }
        if let Some((e, _)) = failed {
            return Err(e);
        }
        if c.peer_fin && c.to_fw.is_empty() {
            return Ok(0);
        }
        Err(NetError::WouldBlock)
    }

    fn send_to(&mut self, socket: SocketHandle, data: &[u8], to: SocketAddr) -> Result<(), NetError> {
        let ip = self.local_ip()?;
        let Some(Socket { sock: Sock::Udp { port, .. }, .. }) = self.sockets.get(&socket.0) else {
            return Err(NetError::InvalidHandle);
        };
        if data.len() > 65_507 {
            return Err(NetError::MessageTooLong);
        }
        let from = SocketAddr::new(IpAddr::V4(ip), *port);
        if self.faults.udp_loss > 0.0 && self.rng.chance(self.faults.udp_loss) {
            return Ok(());
        }
        self.udp_remote.entry(to).or_default().push((from, data.to_vec()));
        Ok(())
    }

    fn recv_from(&mut self, socket: SocketHandle, buf: &mut [u8]) -> Result<Datagram, NetError> {
        let now = self.now;
        let Some(Socket { sock: Sock::Udp { queue, .. }, .. }) = self.sockets.get_mut(&socket.0) else {
            return Err(NetError::InvalidHandle);
        };
        match queue.front() {
            Some((ready, ..)) if *ready <= now => {}
            _ => return Err(NetError::WouldBlock),
        }
        let Some((_, from, d)) = queue.pop_front() else { return Err(NetError::WouldBlock) };
        let len = d.len().min(buf.len());
        buf[..len].copy_from_slice(&d[..len]);
        Ok(Datagram { len, full_len: d.len(), from })
    }

    fn set_option(&mut self, socket: SocketHandle, option: SocketOption) -> Result<(), NetError> {
        let s = self.sockets.get_mut(&socket.0).ok_or(NetError::InvalidHandle)?;
        s.options.retain(|o| std::mem::discriminant(o) != std::mem::discriminant(&option));
        s.options.push(option);
        Ok(())
    }

    fn local_addr(&self, socket: SocketHandle) -> Result<SocketAddr, NetError> {
        let ip = IpAddr::V4(self.iface.ip_config().map_or(Ipv4Addr::UNSPECIFIED, |c| c.ip));
        match &self.sockets.get(&socket.0).ok_or(NetError::InvalidHandle)?.sock {
            Sock::Connecting { conn, .. } | Sock::Tcp { conn, .. } => {
                self.conns.get(conn).map(|c| c.local).ok_or(NetError::Io)
            }
            Sock::Listener { port, .. } | Sock::Udp { port, .. } => Ok(SocketAddr::new(ip, *port)),
        }
    }

    fn close(&mut self, socket: SocketHandle) {
        let reset = self.linger_zero(socket);
        self.release(socket, reset);
    }

    fn abort(&mut self, socket: SocketHandle) {
        self.release(socket, true);
    }

    fn poll(&mut self, now: Instant) -> Option<NetEvent> {
        self.now = self.now.max(now);
        let prev = std::mem::replace(&mut self.polled_at, now);
        let due = |r: &Instant| *r <= now && *r > prev;
        while let Some(ev) = self.iface.poll(now) {
            self.events.push_back(ev);
        }
        // Connects that completed.
        let done: Vec<(u32, u32, Result<(), NetError>)> = self
            .sockets
            .iter()
            .filter_map(|(&h, s)| match &s.sock {
                Sock::Connecting { conn, ready, outcome } if *ready <= now => Some((h, *conn, *outcome)),
                _ => None,
            })
            .collect();
        for (h, conn, outcome) in done {
            match outcome {
                Ok(()) => {
                    if let Some(s) = self.sockets.get_mut(&h) {
                        s.sock = Sock::Tcp { conn, failed: None, want_write: false };
                    }
                    let remote = self.conns.get(&conn).map(|c| c.remote);
                    if let Some(list) = remote.and_then(|r| self.servers.get_mut(&r)) {
                        list.push(PeerId(conn));
                    }
                    self.events.push_back(NetEvent::Connected(SocketHandle(h)));
                }
                Err(e) => {
                    if let Some(s) = self.sockets.get_mut(&h) {
                        s.sock = Sock::Tcp { conn, failed: Some(e), want_write: false };
                    }
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.state = PeerState::ResetByPeer;
                    }
                    self.events.push_back(NetEvent::ConnectFailed(SocketHandle(h), e));
                }
            }
        }
        // Delayed bytes and datagrams that became readable.
        for (&h, s) in &self.sockets {
            let became = match &s.sock {
                Sock::Tcp { conn, .. } => {
                    self.conns.get(conn).is_some_and(|c| c.to_fw.iter().any(|(r, _)| due(r)))
                }
                Sock::Udp { queue, .. } => queue.iter().any(|(r, ..)| due(r)),
                _ => false,
            };
            if became {
                self.events.push_back(NetEvent::Readable(SocketHandle(h)));
            }
        }
        for (&q, (r, _)) in &self.queries {
            if due(r) {
                self.events.push_back(NetEvent::DnsDone(DnsQuery(q)));
            }
        }
        self.events.pop_front()
    }

    fn next_deadline(&self) -> Option<Instant> {
        if !self.events.is_empty() {
            return Some(Instant::ZERO);
        }
        let connects = self.sockets.values().filter_map(|s| match &s.sock {
            Sock::Connecting { ready, .. } => Some(*ready),
            _ => None,
        });
        let delayed = self.sockets.values().filter_map(|s| match &s.sock {
            Sock::Tcp { conn, .. } => {
                self.conns.get(conn).and_then(|c| c.to_fw.iter().map(|(r, _)| *r).find(|r| *r > self.now))
            }
            Sock::Udp { queue, .. } => queue.iter().map(|(r, ..)| *r).find(|r| *r > self.now),
            _ => None,
        });
        let dns = self.queries.values().map(|(r, _)| *r).filter(|r| *r > self.now);
        let pings = self.pings.values().filter_map(|(r, _)| *r).filter(|r| *r > self.now);
        let iface = self.iface.next_deadline();
        iface.into_iter().chain(connects).chain(delayed).chain(dns).chain(pings).min()
    }
}
